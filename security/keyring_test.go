package security

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newTestKeyring makes a keyring in a temporary directory.
func newTestKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := CreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const ctxDB = "Secret/default/db"

func testValues() map[string][]byte {
	return map[string][]byte{"user": []byte("admin"), "password": []byte("hunter2"), "empty": {}}
}

// equalValues reports whether two value maps hold the same keys and bytes.
func equalValues(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestSealOpen(t *testing.T) {
	k := newTestKeyring(t)
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != k.CurrentID() {
		t.Errorf("KeyID = %s, want current %s", s.KeyID, k.CurrentID())
	}
	if bytes.Contains(s.Values["password"], []byte("hunter2")) {
		t.Error("sealed value holds the plaintext")
	}
	got, err := k.Open(ctxDB, s)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValues(got, testValues()) {
		t.Errorf("Open = %q, want %q", got, testValues())
	}
	s2, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(s.WrappedKey, s2.WrappedKey) || bytes.Equal(s.Values["user"], s2.Values["user"]) {
		t.Error("two Seals produced the same ciphertext")
	}
}

func TestOpenWrongContext(t *testing.T) {
	k := newTestKeyring(t)
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Open("Secret/default/other", s)
	if err == nil || !strings.Contains(err.Error(), "tampered or wrong context") {
		t.Errorf("Open with another context: err = %v", err)
	}

	// A value moved to another key name of the same Secret does not open.
	moved := *s
	moved.Values = map[string][]byte{"user": s.Values["password"]}
	if _, err := k.Open(ctxDB, &moved); err == nil || !strings.Contains(err.Error(), "tampered or wrong context") {
		t.Errorf("Open of a value moved to another key: err = %v", err)
	}
}

func TestOpenTampered(t *testing.T) {
	k := newTestKeyring(t)
	for _, where := range []string{"value", "wrapped key"} {
		s, err := k.Seal(ctxDB, testValues())
		if err != nil {
			t.Fatal(err)
		}
		if where == "value" {
			s.Values["password"][len(s.Values["password"])-1] ^= 0x80
		} else {
			s.WrappedKey[15] ^= 0x01
		}
		if _, err := k.Open(ctxDB, s); err == nil || !strings.Contains(err.Error(), "tampered or wrong context") {
			t.Errorf("Open with a flipped byte in the %s: err = %v", where, err)
		}
	}
	s, _ := k.Seal(ctxDB, testValues())
	s.Values["user"] = s.Values["user"][:5]
	if _, err := k.Open(ctxDB, s); err == nil {
		t.Error("Open of a truncated value succeeded")
	}
	if _, err := k.Open(ctxDB, nil); err == nil {
		t.Error("Open(nil) succeeded")
	}
}

func TestOpenUnknownKey(t *testing.T) {
	k := newTestKeyring(t)
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	other := newTestKeyring(t)
	_, err = other.Open(ctxDB, s)
	if err == nil || !strings.Contains(err.Error(), "keyring has no key "+s.KeyID) {
		t.Errorf("Open with a keyring lacking the key: err = %v", err)
	}
	other.Merge(k)
	if other.CurrentID() == k.CurrentID() {
		t.Error("Merge changed the current key")
	}
	if _, err := other.Open(ctxDB, s); err != nil {
		t.Errorf("Open after Merge: %v", err)
	}
}

func TestRotateRewrap(t *testing.T) {
	k := newTestKeyring(t)
	oldID := k.CurrentID()
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	newID, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || k.CurrentID() != newID {
		t.Fatalf("Rotate: new %s, old %s, current %s", newID, oldID, k.CurrentID())
	}
	if got, err := k.Open(ctxDB, s); err != nil || !equalValues(got, testValues()) {
		t.Fatalf("Open of a value sealed before Rotate: %q, %v", got, err)
	}
	r, err := k.Rewrap(ctxDB, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyID != newID {
		t.Errorf("Rewrap KeyID = %s, want %s", r.KeyID, newID)
	}
	if !bytes.Equal(r.Values["password"], s.Values["password"]) {
		t.Error("Rewrap changed a value's ciphertext")
	}
	if got, err := k.Open(ctxDB, r); err != nil || !equalValues(got, testValues()) {
		t.Fatalf("Open after Rewrap: %q, %v", got, err)
	}
	if _, err := k.Rewrap("Secret/default/other", s); err == nil {
		t.Error("Rewrap with another context succeeded")
	}
}

func TestKeyringFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "keyring.json")

	if _, err := LoadKeyring(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadKeyring of a missing file: err = %v, want os.ErrNotExist", err)
	}
	k, err := CreateKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.CurrentID() != k.CurrentID() {
		t.Errorf("loaded current = %s, want %s", loaded.CurrentID(), k.CurrentID())
	}
	if got, err := loaded.Open(ctxDB, s); err != nil || !equalValues(got, testValues()) {
		t.Errorf("loaded keyring opens %q, %v", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after Save = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Save, want 1 (no temporary files left)", len(entries))
	}

	if _, err := CreateKeyring(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateKeyring over an existing file: err = %v", err)
	}
	again, err := LoadKeyring(path)
	if err != nil || again.CurrentID() != k.CurrentID() {
		t.Errorf("the refused CreateKeyring changed the file: %v", err)
	}
}

func TestUnmarshalKeyringErrors(t *testing.T) {
	for _, b := range []string{
		``, `{}`, `{"current":"x","keys":{}}`,
		`{"current":"00000000","keys":{"00000000":"AAAA"}}`,
		`{"current":"00000000","keys":{"00000000":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`,
	} {
		if _, err := UnmarshalKeyring([]byte(b)); err == nil {
			t.Errorf("UnmarshalKeyring(%q) succeeded", b)
		}
	}
	k := newTestKeyring(t)
	b, err := k.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalKeyring(b); err != nil {
		t.Errorf("UnmarshalKeyring of Marshal: %v", err)
	}
}

func TestLockedKeyring(t *testing.T) {
	k := newTestKeyring(t)
	s, err := k.Seal(ctxDB, testValues())
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.MarshalLocked("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !IsLocked(b) {
		t.Error("IsLocked is false for a locked keyring")
	}
	plain, _ := k.Marshal()
	if IsLocked(plain) {
		t.Error("IsLocked is true for a plain keyring")
	}
	if bytes.Contains(b, []byte(k.CurrentID())) {
		t.Error("the locked keyring shows its key IDs")
	}
	got, err := UnmarshalLocked(b, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := got.Open(ctxDB, s); err != nil || !equalValues(v, testValues()) {
		t.Errorf("unlocked keyring opens %q, %v", v, err)
	}
	if _, err := UnmarshalLocked(b, "wrong horse"); err == nil || err.Error() != "keyring: wrong passphrase" {
		t.Errorf("wrong passphrase: err = %v", err)
	}
	if _, err := k.MarshalLocked(""); err == nil {
		t.Error("MarshalLocked with an empty passphrase succeeded")
	}

	path := filepath.Join(t.TempDir(), "locked.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(path); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("LoadKeyring of a locked file: err = %v", err)
	}
}

func TestKeyringConcurrent(t *testing.T) {
	k := newTestKeyring(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if i == 0 && j%5 == 0 {
					if _, err := k.Rotate(); err != nil {
						t.Error(err)
					}
				}
				s, err := k.Seal(ctxDB, testValues())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Open(ctxDB, s); err != nil {
					t.Error(err)
				}
				if _, err := k.Marshal(); err != nil {
					t.Error(err)
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestDigest(t *testing.T) {
	k, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	v := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	id, d1, err := k.Digest("Secret/ns/x", v)
	if err != nil || id != k.CurrentID() {
		t.Fatalf("digest: %v %q", err, id)
	}
	if _, d2, _ := k.Digest("Secret/ns/x", map[string][]byte{"b": []byte("2"), "a": []byte("1")}); d2 != d1 {
		t.Error("the digest depends on map order")
	}
	for name, other := range map[string]map[string][]byte{
		"value":    {"a": []byte("1"), "b": []byte("3")},
		"key":      {"a": []byte("1"), "c": []byte("2")},
		"boundary": {"a": []byte("12"), "b": []byte("")},
	} {
		if _, d, _ := k.Digest("Secret/ns/x", other); d == d1 {
			t.Errorf("%s: another Secret has the same digest", name)
		}
	}
	if _, d, _ := k.Digest("Secret/ns/y", v); d == d1 {
		t.Error("another context has the same digest")
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, d, _ := k.Digest("Secret/ns/x", v); d == d1 {
		t.Error("another key has the same digest")
	}
}

// A server that merges a peer's keyring after the peer rotated takes the
// newer current key; one merging an older keyring keeps its own.
func TestMergeTakesTheNewerCurrent(t *testing.T) {
	a, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	b, err := UnmarshalKeyring(mustMarshal(t, a))
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	b.Merge(a)
	if b.CurrentID() != id {
		t.Fatalf("after merging a rotated keyring the current key is %s, want %s", b.CurrentID(), id)
	}
	old, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	b.Merge(old)
	if b.CurrentID() != id {
		t.Errorf("merging an unrotated keyring changed the current key to %s", b.CurrentID())
	}
	c, err := UnmarshalKeyring(mustMarshal(t, b))
	if err != nil || c.CurrentID() != id {
		t.Fatalf("round trip: %v %s", err, c.CurrentID())
	}
	c.Merge(old)
	if c.CurrentID() != id {
		t.Error("the rotation count did not survive the file")
	}
}

func mustMarshal(t *testing.T, k *Keyring) []byte {
	t.Helper()
	b, err := k.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
