// Package deptest holds the test that keeps the direction of imports of
// DESIGN.md: each package may import only the packages of ours listed for
// it, so nothing below reaches up into agent or cmd.
package deptest
