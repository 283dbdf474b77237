//go:build !benchplain

package agent

// plaintext turns mutual TLS, ACL checks and the encryption of Secrets
// off. It is true only in the build that measures what they cost
// (-tags benchplain, `make bench`), never in a build anyone runs.
const plaintext = false
