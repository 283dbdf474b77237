package security

import (
	"regexp"
	"strings"
	"testing"
)

const testFingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestJoinTokenRoundTrip(t *testing.T) {
	tok, err := NewJoinToken(testFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !regexp.MustCompile(`^BTHTKN-1-[0-9a-f]{64}-[a-z2-7]{6}\.[a-z2-7]{26}$`).MatchString(s) {
		t.Fatalf("join token %q does not have the documented form", s)
	}
	got, err := ParseJoinToken(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Errorf("ParseJoinToken = %+v, want %+v", got, tok)
	}
	again, err := NewJoinToken(testFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret == tok.Secret {
		t.Error("two join tokens have the same secret")
	}
	if _, err := NewJoinToken("abc"); err == nil {
		t.Error("NewJoinToken accepted a bad fingerprint")
	}
}

func TestParseJoinTokenErrors(t *testing.T) {
	const secret = "abcdefghijklmnopqrstuvwxyz"
	cases := []struct {
		name, token, want string
	}{
		{"wrong prefix", "SWMTKN-1-" + testFingerprint + "-abcdef." + secret, "want BTHTKN-1-<ca fingerprint>-<id>.<secret>"},
		{"ACL token", "bthacl-abcdef." + secret, "want BTHTKN-1-"},
		{"short fingerprint", "BTHTKN-1-0123abc-abcdef." + secret, "the CA fingerprint is not 64 hex digits"},
		{"non-hex fingerprint", "BTHTKN-1-" + strings.Repeat("g", 64) + "-abcdef." + secret, "not 64 hex digits"},
		{"missing secret", "BTHTKN-1-" + testFingerprint + "-abcdef", "missing the secret"},
		{"empty secret", "BTHTKN-1-" + testFingerprint + "-abcdef.", "missing the secret"},
		{"short id", "BTHTKN-1-" + testFingerprint + "-abc." + secret, "the id is not 6 characters"},
		{"bad secret", "BTHTKN-1-" + testFingerprint + "-abcdef.ABCDEFGHIJKLMNOPQRSTUVWXY1", "the secret is not 26 characters"},
		{"no separator", "BTHTKN-1-" + testFingerprint, "want BTHTKN-1-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseJoinToken(c.token)
			if err == nil {
				t.Fatalf("ParseJoinToken(%q) succeeded", c.token)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "ABCDEFGHIJ") {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestACLTokenRoundTrip(t *testing.T) {
	tok, err := NewACLToken()
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !regexp.MustCompile(`^bthacl-[a-z2-7]{6}\.[a-z2-7]{26}$`).MatchString(s) {
		t.Fatalf("ACL token %q does not have the documented form", s)
	}
	got, err := ParseACLToken(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Errorf("ParseACLToken = %+v, want %+v", got, tok)
	}
	for _, bad := range []string{"", "bthacl-", "bthacl-abcdef", "acl-abcdef." + tok.Secret, "bthacl-abcdef.short", s + "x"} {
		if _, err := ParseACLToken(bad); err == nil {
			t.Errorf("ParseACLToken(%q) succeeded", bad)
		}
	}
}

func TestSecretMatches(t *testing.T) {
	tok, err := NewACLToken()
	if err != nil {
		t.Fatal(err)
	}
	h := HashSecret(tok.Secret)
	if len(h) != 64 || strings.Contains(h, tok.Secret) {
		t.Fatalf("HashSecret = %q", h)
	}
	if !SecretMatches(tok.Secret, h) {
		t.Error("SecretMatches is false for the right secret")
	}
	if SecretMatches(tok.Secret+"x", h) {
		t.Error("SecretMatches is true for a wrong secret")
	}
	if SecretMatches(tok.Secret, h[:63]) || SecretMatches(tok.Secret, "") {
		t.Error("SecretMatches is true for a malformed hash")
	}
}
