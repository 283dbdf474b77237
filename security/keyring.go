package security

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Keyring sizes and the passphrase lock's parameters.
const (
	kekLen      = 32 // AES-256
	dekLen      = 32 // AES-256
	keyIDLen    = 8  // hex digits of sha256(key)
	saltLen     = 16
	lockKDF     = "pbkdf2-sha256"
	lockIter    = 600_000 // OWASP's 2023 advice for PBKDF2-HMAC-SHA256
	minLockIter = 100_000
	maxLockIter = 100_000_000
	lockAD      = "berth keyring v1"
)

// Keyring holds key-encryption keys (KEKs) by ID. Current is the one new
// data keys are wrapped with; the others are kept to open what they
// wrapped. A KEK is 32 random bytes; its ID is the first 8 hex digits of
// its SHA-256. A Keyring is safe for concurrent use.
//
// Its file is JSON {"current":"<id>","keys":{"<id>":"<base64 key>"}}, mode
// 0600, written atomically.
type Keyring struct {
	mu        sync.RWMutex
	current   string
	rotations int // how many rotations made current (Merge keeps the newest)
	keys      map[string][]byte
	// digestKeys are the digest keys derived from the KEKs, by ID.
	digestKeys sync.Map
}

// keyringFile is a Keyring's JSON form. encoding/json writes []byte as
// standard base64.
type keyringFile struct {
	Current string            `json:"current"`
	Keys    map[string][]byte `json:"keys"`
	// Rotations counts the rotations behind the current key, so that a
	// merge can tell the newer current key.
	Rotations int `json:"rotations,omitempty"`
}

// lockedFile is the JSON form of a keyring locked with a passphrase.
type lockedFile struct {
	KDF    string     `json:"kdf"`
	Salt   []byte     `json:"salt"`
	Params lockParams `json:"params"`
	Box    []byte     `json:"box"` // nonce || AES-256-GCM of the keyring's JSON
}

// lockParams are the parameters of the passphrase KDF.
type lockParams struct {
	Iterations int `json:"iterations"`
}

// Sealed is a Secret's values encrypted. One fresh random 32-byte data key
// (DEK) is made per call of Seal; each value is encrypted with AES-256-GCM
// under the DEK with a random 12-byte nonce and additional data context +
// "\x00" + key name, which binds a value to its Secret and key; the DEK
// itself is wrapped with a KEK by AES-256-GCM with additional data context.
type Sealed struct {
	KeyID      string            `json:"keyID"`
	WrappedKey []byte            `json:"wrappedKey"` // nonce || ciphertext of the DEK
	Values     map[string][]byte `json:"values"`     // key name → nonce || ciphertext
}

// LoadKeyring reads a keyring file. If the file is missing the error wraps
// os.ErrNotExist. A passphrase-locked file is refused: use UnmarshalLocked.
func LoadKeyring(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load keyring: %w", err)
	}
	if IsLocked(b) {
		return nil, fmt.Errorf("load keyring %s: it is locked with a passphrase", path)
	}
	k, err := UnmarshalKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("load keyring %s: %w", path, err)
	}
	return k, nil
}

// NewKeyring makes a keyring with one new random KEK, in memory.
func NewKeyring() (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	if _, err := k.Rotate(); err != nil {
		return nil, fmt.Errorf("new keyring: %w", err)
	}
	return k, nil
}

// Has reports whether the keyring holds the KEK id.
func (k *Keyring) Has(id string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.keys[id]
	return ok
}

// CreateKeyring makes a keyring with one new random KEK and writes it to
// path. It refuses to overwrite an existing file.
func CreateKeyring(path string) (*Keyring, error) {
	k, err := NewKeyring()
	if err != nil {
		return nil, fmt.Errorf("create keyring: %w", err)
	}
	b, err := k.Marshal()
	if err != nil {
		return nil, fmt.Errorf("create keyring: %w", err)
	}
	if err := writeFileAtomic(path, b, false); err != nil {
		return nil, fmt.Errorf("create keyring: %w", err)
	}
	return k, nil
}

// Save writes the keyring to path atomically (a temporary file, fsync,
// rename) with mode 0600, creating the parent directory with mode 0700 if
// needed.
func (k *Keyring) Save(path string) error {
	b, err := k.Marshal()
	if err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	if err := writeFileAtomic(path, b, true); err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	return nil
}

// CurrentID returns the ID of the current KEK.
func (k *Keyring) CurrentID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Rotate adds a new random KEK and makes it current. The old KEKs are kept
// to open what they wrapped.
func (k *Keyring) Rotate() (newID string, err error) {
	key := make([]byte, kekLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("rotate keyring: reading random bytes: %w", err)
	}
	id := keyID(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string][]byte{}
	}
	if _, dup := k.keys[id]; dup {
		// Two random keys sharing 32 bits of hash: refuse rather than lose one.
		return "", fmt.Errorf("rotate keyring: the new key's ID %s is taken; try again", id)
	}
	if k.current != "" {
		k.rotations++
	}
	k.keys[id] = key
	k.current = id
	return id, nil
}

// Marshal returns the keyring's file bytes.
func (k *Keyring) Marshal() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.current == "" || k.keys[k.current] == nil {
		return nil, errors.New("keyring: no current key")
	}
	b, err := json.Marshal(keyringFile{Current: k.current, Keys: k.keys, Rotations: k.rotations})
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return b, nil
}

// UnmarshalKeyring parses a keyring's file bytes. Every key must be 32
// bytes and listed under its own ID, and the current ID must be present.
func UnmarshalKeyring(b []byte) (*Keyring, error) {
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	for id, key := range f.Keys {
		if len(key) != kekLen {
			return nil, fmt.Errorf("keyring: key %s is %d bytes, want %d", id, len(key), kekLen)
		}
		if got := keyID(key); got != id {
			return nil, fmt.Errorf("keyring: key listed as %s has ID %s", id, got)
		}
	}
	if _, ok := f.Keys[f.Current]; !ok {
		return nil, fmt.Errorf("keyring: the current key %q is not among its keys", f.Current)
	}
	return &Keyring{current: f.Current, rotations: f.Rotations, keys: f.Keys}, nil
}

// Merge adds the keys of other that k lacks, and takes other's current key
// when k has none or other's comes from more rotations (a peer rotated
// since). Servers use it on a keyring received from a peer. A key of other
// whose ID k already holds is not added.
func (k *Keyring) Merge(other *Keyring) {
	if other == nil || other == k {
		return
	}
	other.mu.RLock()
	add := make(map[string][]byte, len(other.keys))
	for id, key := range other.keys {
		add[id] = key
	}
	otherCurrent, otherRotations := other.current, other.rotations
	other.mu.RUnlock()

	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string][]byte{}
	}
	for id, key := range add {
		if _, ok := k.keys[id]; !ok {
			k.keys[id] = append([]byte(nil), key...)
		}
	}
	if k.current == "" || otherRotations > k.rotations {
		k.current, k.rotations = otherCurrent, otherRotations
	}
}

// Seal encrypts values under a fresh data key wrapped with the current KEK.
// context names the Secret, e.g. "Secret/default/db", so that a sealed
// value copied to another Secret or key does not open.
func (k *Keyring) Seal(context string, values map[string][]byte) (*Sealed, error) {
	id, kek, err := k.currentKey()
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", context, err)
	}
	dek := make([]byte, dekLen)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("seal %s: reading random bytes: %w", context, err)
	}
	wrapped, err := gcmSeal(kek, dek, []byte(context))
	if err != nil {
		return nil, fmt.Errorf("seal %s: wrapping the data key: %w", context, err)
	}
	s := &Sealed{KeyID: id, WrappedKey: wrapped, Values: make(map[string][]byte, len(values))}
	for name, v := range values {
		box, err := gcmSeal(dek, v, valueAD(context, name))
		if err != nil {
			return nil, fmt.Errorf("seal %s: value %q: %w", context, name, err)
		}
		s.Values[name] = box
	}
	return s, nil
}

// Open decrypts the values of s, sealed with the same context.
func (k *Keyring) Open(context string, s *Sealed) (map[string][]byte, error) {
	dek, err := k.unwrap(context, s)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(s.Values))
	for name, box := range s.Values {
		v, err := gcmOpen(dek, box, valueAD(context, name))
		if err != nil {
			return nil, fmt.Errorf("open %s: value %q: %w", context, name, err)
		}
		out[name] = v
	}
	return out, nil
}

// Rewrap returns s with its data key re-wrapped under the current KEK; the
// values are left as they are. It is how a rotation reaches stored Secrets.
func (k *Keyring) Rewrap(context string, s *Sealed) (*Sealed, error) {
	dek, err := k.unwrap(context, s)
	if err != nil {
		return nil, err
	}
	id, kek, err := k.currentKey()
	if err != nil {
		return nil, fmt.Errorf("rewrap %s: %w", context, err)
	}
	wrapped, err := gcmSeal(kek, dek, []byte(context))
	if err != nil {
		return nil, fmt.Errorf("rewrap %s: %w", context, err)
	}
	values := make(map[string][]byte, len(s.Values))
	for name, box := range s.Values {
		values[name] = append([]byte(nil), box...)
	}
	return &Sealed{KeyID: id, WrappedKey: wrapped, Values: values}, nil
}

// MarshalLocked returns the keyring's file bytes encrypted with a key
// derived from passphrase (PBKDF2-HMAC-SHA256, random salt), as JSON
// {"kdf":"pbkdf2-sha256","salt":...,"params":{"iterations":N},"box":...}.
func (k *Keyring) MarshalLocked(passphrase string) ([]byte, error) {
	if passphrase == "" {
		return nil, errors.New("keyring: empty passphrase")
	}
	plain, err := k.Marshal()
	if err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("keyring: reading random bytes: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, passphrase, salt, lockIter, 32)
	if err != nil {
		return nil, fmt.Errorf("keyring: deriving the passphrase key: %w", err)
	}
	box, err := gcmSeal(key, plain, []byte(lockAD))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return json.Marshal(lockedFile{KDF: lockKDF, Salt: salt, Params: lockParams{Iterations: lockIter}, Box: box})
}

// UnmarshalLocked opens bytes made by MarshalLocked with passphrase. A
// wrong passphrase gives the error "keyring: wrong passphrase".
func UnmarshalLocked(b []byte, passphrase string) (*Keyring, error) {
	var f lockedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("locked keyring: %w", err)
	}
	if f.KDF != lockKDF {
		return nil, fmt.Errorf("locked keyring: key derivation %q is not supported (want %q)", f.KDF, lockKDF)
	}
	if n := f.Params.Iterations; n < minLockIter || n > maxLockIter {
		return nil, fmt.Errorf("locked keyring: %d iterations is outside [%d, %d]", n, minLockIter, maxLockIter)
	}
	if len(f.Salt) < 8 {
		return nil, fmt.Errorf("locked keyring: the salt is %d bytes, want at least 8", len(f.Salt))
	}
	key, err := pbkdf2.Key(sha256.New, passphrase, f.Salt, f.Params.Iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("locked keyring: deriving the passphrase key: %w", err)
	}
	plain, err := gcmOpen(key, f.Box, []byte(lockAD))
	if err != nil {
		return nil, errors.New("keyring: wrong passphrase")
	}
	return UnmarshalKeyring(plain)
}

// IsLocked reports whether b is a keyring locked with a passphrase, as
// made by MarshalLocked.
func IsLocked(b []byte) bool {
	var f struct {
		KDF string `json:"kdf"`
		Box []byte `json:"box"`
	}
	return json.Unmarshal(b, &f) == nil && f.KDF != "" && len(f.Box) > 0
}

// Digest is a keyed digest of a Secret's values under the current KEK
// (HMAC-SHA256 with a key derived from it, over context and the values in
// key order), so that a writer can tell an unchanged Secret from its
// stored digest without opening it. It returns the KEK's ID with it.
func (k *Keyring) Digest(context string, values map[string][]byte) (keyID, digest string, err error) {
	id, kek, err := k.currentKey()
	if err != nil {
		return "", "", err
	}
	var macKey []byte
	if v, ok := k.digestKeys.Load(id); ok {
		macKey = v.([]byte)
	} else {
		if macKey, err = hkdf.Key(sha256.New, kek, nil, "berth secret digest v1", 32); err != nil {
			return "", "", err
		}
		k.digestKeys.Store(id, macKey)
	}
	m := hmac.New(sha256.New, macKey)
	writeField := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	writeField([]byte(context))
	for _, name := range slices.Sorted(maps.Keys(values)) {
		writeField([]byte(name))
		writeField(values[name])
	}
	return id, base64.RawStdEncoding.EncodeToString(m.Sum(nil)[:16]), nil
}

// currentKey returns the current KEK and its ID.
func (k *Keyring) currentKey() (string, []byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[k.current]
	if !ok {
		return "", nil, errors.New("keyring has no current key")
	}
	return k.current, key, nil
}

// unwrap returns the data key of s.
func (k *Keyring) unwrap(context string, s *Sealed) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("open %s: nothing sealed", context)
	}
	k.mu.RLock()
	kek, ok := k.keys[s.KeyID]
	k.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("keyring has no key %s: %s was sealed with a key this keyring does not hold", s.KeyID, context)
	}
	dek, err := gcmOpen(kek, s.WrappedKey, []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open %s: data key under key %s: %w", context, s.KeyID, err)
	}
	return dek, nil
}

// keyID returns the ID of a KEK: the first 8 hex digits of its SHA-256.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])[:keyIDLen]
}

// valueAD is the additional data of a sealed value.
func valueAD(context, name string) []byte {
	return []byte(context + "\x00" + name)
}

// newGCM returns AES-GCM with the given key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// gcmSeal encrypts plain with a random nonce and returns nonce || ciphertext.
func gcmSeal(key, plain, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

// errTampered is the error of an authentication failure.
var errTampered = errors.New("tampered or wrong context")

// gcmOpen decrypts nonce || ciphertext made by gcmSeal.
func gcmOpen(key, box, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(box) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", errTampered, len(box))
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, box[:n], box[n:], ad)
	if err != nil {
		return nil, errTampered
	}
	return plain, nil
}

// writeFileAtomic writes b to path with mode 0600 through a temporary file
// in the same directory, fsynced and then renamed (or, when overwrite is
// false, hard-linked so that an existing file is never replaced). The
// parent directory is created with mode 0700 if missing.
// WriteFile writes a secret file atomically: mode 0600, its folder made
// with 0700, a temporary file synced and renamed over path, the folder
// synced; a crash leaves the old content or the new.
func WriteFile(path string, b []byte) error { return writeFileAtomic(path, b, true) }

func writeFileAtomic(path string, b []byte, overwrite bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s already exists", path)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if overwrite {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = linkNew(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// linkNew puts the file tmp at path unless path exists, then removes tmp.
// Where hard links are not supported it falls back to a check and a rename.
func linkNew(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		_ = os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s already exists", path)
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%s already exists", path)
	}
	return os.Rename(tmp, path)
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
