package security

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Token formats and sizes.
const (
	joinTokenPrefix = "BTHTKN-1-"
	aclTokenPrefix  = "bthacl-"
	tokenIDLen      = 6  // 30 bits: identifies a token, not secret
	tokenSecretLen  = 26 // 130 bits of crypto/rand
	fingerprintLen  = 64 // hex SHA-256
	// tokenAlphabet is lowercase RFC 4648 base32: a-z and 2-7.
	tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

// JoinToken is what a node presents to join a cluster. Its string form is
// "BTHTKN-1-<ca fingerprint, 64 hex>-<id>.<secret>", like Docker Swarm's
// SWMTKN-1: id is 6 and secret 26 lowercase base32 characters (a-z, 2-7).
// The fingerprint lets the joiner authenticate the cluster (PinnedConfig);
// the secret authenticates the joiner.
type JoinToken struct {
	CAFingerprint string
	ID            string
	Secret        string
}

// NewJoinToken makes a join token with a random id and secret for the CA
// with the given fingerprint.
func NewJoinToken(caFingerprint string) (JoinToken, error) {
	fp := strings.ToLower(caFingerprint)
	if !isFingerprint(fp) {
		return JoinToken{}, errors.New("new join token: the CA fingerprint is not 64 hex digits")
	}
	id, secret, err := newIDSecret()
	if err != nil {
		return JoinToken{}, fmt.Errorf("new join token: %w", err)
	}
	return JoinToken{CAFingerprint: fp, ID: id, Secret: secret}, nil
}

// String returns the token's text form.
func (t JoinToken) String() string {
	return joinTokenPrefix + t.CAFingerprint + "-" + t.ID + "." + t.Secret
}

// ParseJoinToken parses a join token's text form. Surrounding white space
// is ignored and the fingerprint may be in either case. Errors never echo
// the secret.
func ParseJoinToken(s string) (JoinToken, error) {
	const want = "join token: want BTHTKN-1-<ca fingerprint>-<id>.<secret>"
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), joinTokenPrefix)
	if !ok {
		return JoinToken{}, errors.New(want)
	}
	fp, idSecret, ok := strings.Cut(rest, "-")
	if !ok {
		return JoinToken{}, errors.New(want)
	}
	fp = strings.ToLower(fp)
	if !isFingerprint(fp) {
		return JoinToken{}, errors.New("join token: the CA fingerprint is not 64 hex digits")
	}
	id, secret, err := parseIDSecret(idSecret)
	if err != nil {
		return JoinToken{}, fmt.Errorf("join token: %w", err)
	}
	return JoinToken{CAFingerprint: fp, ID: id, Secret: secret}, nil
}

// ACLToken is an API credential. Its string form is "bthacl-<id>.<secret>",
// with id and secret as in JoinToken.
type ACLToken struct {
	ID     string
	Secret string
}

// NewACLToken makes an ACL token with a random id and secret.
func NewACLToken() (ACLToken, error) {
	id, secret, err := newIDSecret()
	if err != nil {
		return ACLToken{}, fmt.Errorf("new ACL token: %w", err)
	}
	return ACLToken{ID: id, Secret: secret}, nil
}

// String returns the token's text form.
func (t ACLToken) String() string {
	return aclTokenPrefix + t.ID + "." + t.Secret
}

// ParseACLToken parses an ACL token's text form. Surrounding white space is
// ignored. Errors never echo the secret.
func ParseACLToken(s string) (ACLToken, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), aclTokenPrefix)
	if !ok {
		return ACLToken{}, errors.New("ACL token: want bthacl-<id>.<secret>")
	}
	id, secret, err := parseIDSecret(rest)
	if err != nil {
		return ACLToken{}, fmt.Errorf("ACL token: %w", err)
	}
	return ACLToken{ID: id, Secret: secret}, nil
}

// HashSecret returns the lowercase hex SHA-256 of secret: what the cluster
// stores, never the secret itself.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches reports whether secret hashes to the stored hash, comparing
// in constant time.
func SecretMatches(secret, hash string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(hash))) == 1
}

// newIDSecret returns a random token id and secret.
func newIDSecret() (id, secret string, err error) {
	if id, err = randomToken(tokenIDLen); err != nil {
		return "", "", err
	}
	if secret, err = randomToken(tokenSecretLen); err != nil {
		return "", "", err
	}
	return id, secret, nil
}

// randomToken returns n random characters of tokenAlphabet.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	for i := range b {
		b[i] = tokenAlphabet[b[i]%32] // 32 divides 256: uniform
	}
	return string(b), nil
}

// parseIDSecret splits and checks "<id>.<secret>". Its errors never echo
// the secret.
func parseIDSecret(s string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(s, ".")
	if !ok || secret == "" {
		return "", "", errors.New(`missing the secret after "<id>."`)
	}
	if len(id) != tokenIDLen || !isTokenText(id) {
		return "", "", fmt.Errorf("the id is not %d characters of a-z and 2-7", tokenIDLen)
	}
	if len(secret) != tokenSecretLen || !isTokenText(secret) {
		return "", "", fmt.Errorf("the secret is not %d characters of a-z and 2-7", tokenSecretLen)
	}
	return id, secret, nil
}

// isTokenText reports whether s holds only tokenAlphabet characters.
func isTokenText(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(tokenAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// isFingerprint reports whether s is 64 lowercase hex digits.
func isFingerprint(s string) bool {
	if len(s) != fingerprintLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
