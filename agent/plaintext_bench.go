//go:build benchplain

package agent

// plaintext: this build measures what security costs; see plaintext.go.
const plaintext = true
