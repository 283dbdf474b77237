package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SealedAnnotation marks a stored Secret whose values are encrypted: it
// holds "KEYID:WRAPPED-DATA-KEY:DIGEST" (base64; the digest is keyed by the
// key-encryption key, so an unchanged Secret is told without opening it);
// the values in data are each nonce and ciphertext. Only servers holding
// the keyring can open them.
const SealedAnnotation = "berth.dev/sealed"

// RedactedAnnotation marks a Secret shown without its values.
const RedactedAnnotation = "berth.dev/redacted"

// keyring is a server's key-encryption keys, kept in a file outside the
// data dir (--keyring-file) and shared among the servers over mutual TLS.
type keyring struct {
	a    *Agent
	path string

	mu      sync.Mutex
	kr      *security.Keyring // nil until loaded, fetched or made
	fetched time.Time         // the last fetch from peers
}

// keyringPath is where a server's keyring lives: --keyring-file, else a
// file beside the data dir (never in it, so a copy of the data dir does
// not hold the key).
func keyringPath(cfg *Config) string {
	if cfg.KeyringFile != "" {
		return cfg.KeyringFile
	}
	return filepath.Clean(cfg.DataDir) + ".keyring"
}

// load reads the keyring file if there is one.
func (k *keyring) load() error {
	b, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: keyring: %w", err)
	}
	var kr *security.Keyring
	if security.IsLocked(b) {
		if k.a.cfg.Unlock == "" {
			return fmt.Errorf("agent: keyring %s is locked: start with --unlock (or BERTH_UNLOCK) and its passphrase", k.path)
		}
		kr, err = security.UnmarshalLocked(b, k.a.cfg.Unlock)
	} else {
		kr, err = security.UnmarshalKeyring(b)
	}
	if err != nil {
		return fmt.Errorf("agent: keyring %s: %w", k.path, err)
	}
	k.mu.Lock()
	k.kr = kr
	k.mu.Unlock()
	return nil
}

// save writes the keyring file (locked with the passphrase when given).
func (k *keyring) save(kr *security.Keyring) error {
	var b []byte
	var err error
	if k.a.cfg.Unlock != "" {
		b, err = kr.MarshalLocked(k.a.cfg.Unlock)
	} else {
		b, err = kr.Marshal()
	}
	if err != nil {
		return err
	}
	return security.WriteFile(k.path, b)
}

// get returns the keyring, fetching it from the other servers when this
// one has none or lacks the key id (""; any).
func (k *keyring) get(ctx context.Context, id string) (*security.Keyring, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kr != nil && (id == "" || k.kr.Has(id)) {
		return k.kr, nil
	}
	if time.Since(k.fetched) < time.Second {
		return nil, status.Error(codes.Unavailable, "keyring: the key is not on this server yet; try again")
	}
	k.fetched = time.Now()
	if err := k.mergeLocked(k.fetch(ctx)); err != nil {
		return nil, err
	}
	if k.kr == nil || id != "" && !k.kr.Has(id) {
		return nil, status.Errorf(codes.Unavailable, "keyring: no server has key %q", id)
	}
	return k.kr, nil
}

// fetch asks every other server for its keyring, all at once (2 s each
// at most).
func (k *keyring) fetch(ctx context.Context) []*security.Keyring {
	a := k.a
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []*security.Keyring
	)
	for _, s := range a.fsm.View().Servers() {
		if s.ID == a.cfg.Name || s.APIAddr == "" {
			continue
		}
		wg.Go(func() {
			conn, err := a.conns.get(s.APIAddr)
			if err != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			resp, err := pb.NewSecurityClient(conn).Keyring(cctx, &pb.KeyringRequest{})
			if err != nil {
				a.log.Debug("keyring fetch", "server", s.ID, "err", err)
				return
			}
			if kr, err := security.UnmarshalKeyring(resp.Keyring); err == nil {
				mu.Lock()
				got = append(got, kr)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// mergeLocked merges keyrings fetched from the other servers into this
// one's, and saves it.
func (k *keyring) mergeLocked(got []*security.Keyring) error {
	if len(got) == 0 {
		return nil
	}
	for _, kr := range got {
		if k.kr == nil {
			k.kr = kr
		} else {
			k.kr.Merge(kr)
		}
	}
	return k.save(k.kr)
}

// ensure gives a new leader a keyring: its own merged with the other
// servers', or a new one when the cluster has none.
func (k *keyring) ensure(ctx context.Context) error {
	// The others' keys first (asked without holding the keyring): a
	// rotation this server has not seen makes their current key the one to
	// seal with.
	got := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.mergeLocked(got); err != nil {
		return err
	}
	if k.kr != nil {
		return nil
	}
	if k.hasSealed() {
		return errors.New("keyring: Secrets are sealed but no server has a keyring yet")
	}
	kr, err := security.NewKeyring()
	if err != nil {
		return err
	}
	if err := k.save(kr); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	k.kr = kr
	k.a.log.Info("created the keyring of Secrets", "file", k.path, "key", kr.CurrentID())
	return nil
}

// hasSealed reports whether any stored Secret is sealed.
func (k *keyring) hasSealed() bool {
	recs, err := k.a.fsm.View().List("Secret", "", api.Selector{})
	if err != nil {
		return false
	}
	for _, r := range recs {
		if _, ok := r.Meta.Annotations[SealedAnnotation]; ok {
			return true
		}
	}
	return false
}

// secretContext binds sealed values to their Secret.
func secretContext(s *api.Secret) string {
	return "Secret/" + s.Metadata.Namespace + "/" + s.Metadata.Name
}

// seal encrypts a Secret's values before it is written (on the leader).
// An unchanged Secret keeps its stored ciphertext, so applying the same
// manifest again changes nothing.
func (a *Agent) seal(ctx context.Context, s *api.Secret) error {
	if plaintext {
		return nil
	}
	delete(s.Metadata.Annotations, SealedAnnotation)
	if _, ok := s.Metadata.Annotations[RedactedAnnotation]; ok {
		return status.Errorf(codes.InvalidArgument, "secret %s/%s: its values were hidden when it was read (%s); write it with its values", s.Metadata.Namespace, s.Metadata.Name, RedactedAnnotation)
	}
	kr, err := a.keys.get(ctx, "")
	if err != nil {
		return err
	}
	id, digest, err := kr.Digest(secretContext(s), s.Data)
	if err != nil {
		return err
	}
	if r, err := a.fsm.View().Get("Secret", s.Metadata.Namespace, s.Metadata.Name); err == nil {
		if old := r.Meta.Annotations[SealedAnnotation]; strings.HasPrefix(old, id+":") && strings.HasSuffix(old, ":"+digest) {
			var prev api.Secret
			if err := json.Unmarshal(r.Object, &prev); err == nil {
				s.Data = prev.Data
				setAnnotation(&s.Metadata, SealedAnnotation, old)
				return nil
			}
		}
	}
	sealed, err := kr.Seal(secretContext(s), s.Data)
	if err != nil {
		return err
	}
	if sealed.KeyID != id { // the keyring rotated meanwhile
		if _, digest, err = kr.Digest(secretContext(s), s.Data); err != nil {
			return err
		}
	}
	setAnnotation(&s.Metadata, SealedAnnotation, sealing(sealed, digest))
	s.Data = sealed.Values
	return nil
}

// sealing is the SealedAnnotation of a sealed Secret whose values have
// the keyed digest given.
func sealing(s *security.Sealed, digest string) string {
	return s.KeyID + ":" + base64.StdEncoding.EncodeToString(s.WrappedKey) + ":" + digest
}

func setAnnotation(m *api.ObjectMeta, k, v string) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
}

// sealedOf reads a stored Secret's sealing; ok false for one in clear.
func sealedOf(s *api.Secret) (*security.Sealed, bool, error) {
	v, ok := s.Metadata.Annotations[SealedAnnotation]
	if !ok {
		return nil, false, nil
	}
	id, rest, ok := strings.Cut(v, ":")
	wrapped, _, _ := strings.Cut(rest, ":")
	key, err := base64.StdEncoding.DecodeString(wrapped)
	if !ok || err != nil {
		return nil, true, fmt.Errorf("secret %s/%s: malformed %s annotation", s.Metadata.Namespace, s.Metadata.Name, SealedAnnotation)
	}
	return &security.Sealed{KeyID: id, WrappedKey: key, Values: s.Data}, true, nil
}

// openSecret returns a stored Secret's values in clear.
func (a *Agent) openSecret(ctx context.Context, s *api.Secret) (map[string][]byte, error) {
	sealed, ok, err := sealedOf(s)
	if err != nil || !ok {
		return s.Data, err
	}
	kr, err := a.keys.get(ctx, sealed.KeyID)
	if err != nil {
		return nil, err
	}
	return kr.Open(secretContext(s), sealed)
}

// present turns a stored object into what the caller may see: a Secret's
// values in clear for admins and agents, without values for the others.
//
// plain, when not nil, is the Secret's values as the caller wrote them (a
// write's result): nothing needs opening.
func (a *Agent) present(ctx context.Context, kind string, raw []byte, plain map[string][]byte) ([]byte, error) {
	if kind != "Secret" || !bytes.Contains(raw, []byte(SealedAnnotation)) {
		return raw, nil
	}
	admin := callerOf(ctx) != nil && callerOf(ctx).admin()
	s := new(api.Secret)
	if admin && plain != nil {
		// All but the values, which the writer gave: no need to decode them.
		var rest struct {
			Metadata  api.ObjectMeta `json:"metadata"`
			Type      string         `json:"type"`
			Immutable *bool          `json:"immutable"`
		}
		if err := json.Unmarshal(raw, &rest); err != nil {
			return nil, toStatus(err)
		}
		s.TypeMeta = api.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		s.Metadata, s.Type, s.Immutable, s.Data = rest.Metadata, rest.Type, rest.Immutable, plain
	} else if err := json.Unmarshal(raw, s); err != nil {
		return nil, toStatus(err)
	}
	if admin {
		var err error
		if plain == nil {
			if s.Data, err = a.openSecret(ctx, s); err != nil {
				return nil, toStatus(err)
			}
		}
	} else {
		for k := range s.Data {
			s.Data[k] = []byte{} // the keys show, the values do not
		}
		setAnnotation(&s.Metadata, RedactedAnnotation, "values hidden: reading them needs an admin token")
	}
	delete(s.Metadata.Annotations, SealedAnnotation)
	return api.Encode(s)
}

// rewrapSecrets wraps every sealed Secret's data key with the current key
// (after a rotation), in one command; the values stay as they are.
func (a *Agent) rewrapSecrets(ctx context.Context, kr *security.Keyring) (int, error) {
	recs, err := a.fsm.View().List("Secret", "", api.Selector{})
	if err != nil {
		return 0, err
	}
	cmd := &fsm.Command{Type: fsm.CmdWrite, Time: a.now()}
	for _, r := range recs {
		s := new(api.Secret)
		if err := json.Unmarshal(r.Object, s); err != nil {
			return 0, err
		}
		sealed, ok, err := sealedOf(s)
		if err != nil || !ok || sealed.KeyID == kr.CurrentID() {
			continue
		}
		values, err := kr.Open(secretContext(s), sealed)
		if err != nil {
			return 0, fmt.Errorf("secret %s/%s: %w", s.Metadata.Namespace, s.Metadata.Name, err)
		}
		if sealed, err = kr.Rewrap(secretContext(s), sealed); err != nil {
			return 0, fmt.Errorf("secret %s/%s: %w", s.Metadata.Namespace, s.Metadata.Name, err)
		}
		_, digest, err := kr.Digest(secretContext(s), values)
		if err != nil {
			return 0, err
		}
		setAnnotation(&s.Metadata, SealedAnnotation, sealing(sealed, digest))
		s.Metadata.ResourceVersion = ""
		op, err := fsm.ObjectOp(fsm.VerbUpdate, s)
		if err != nil {
			return 0, err
		}
		op.ResourceVersion = r.Revision
		cmd.Ops = append(cmd.Ops, op)
	}
	if len(cmd.Ops) == 0 {
		return 0, nil
	}
	if _, err := a.node.Apply(ctx, cmd); err != nil {
		return 0, err
	}
	return len(cmd.Ops), nil
}
