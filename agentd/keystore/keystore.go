// Package keystore keeps an agent's Nostr secret key on disk as a NIP-49
// ncryptsec (scrypt + XChaCha20-Poly1305), and opens it with a passphrase.
//
// Zero-touch: the first start generates a key. The passphrase comes from
// SOVMESH_PASSPHRASE when set (or an interactive prompt the caller
// supplies); when neither is available, a random passphrase is generated
// and written with mode 0600 beside the key (passphrase file). That trade-off
// protects a copied key file (or a backup of it alone) but not a copy of the
// whole directory: an operator who wants the key safe at rest sets
// SOVMESH_PASSPHRASE and deletes the passphrase file (`agentd keys
// passphrase` re-encrypts under a new one).
package keystore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip49"

	"github.com/sovmesh/sovmesh/internal/datadir"
)

// File names inside the key directory.
const (
	KeyFile        = "key.ncryptsec"
	PassphraseFile = "passphrase"
)

// DefaultLogN is the scrypt cost (2^16 iterations, 64 MiB), NIP-49's
// recommended floor.
const DefaultLogN = 16

// Errors.
var (
	ErrNoPassphrase  = errors.New("keystore: no passphrase: set SOVMESH_PASSPHRASE")
	ErrWrongPassword = errors.New("keystore: wrong passphrase or corrupt key file")
	ErrExists        = errors.New("keystore: a key already exists")
)

// Key is an opened secret key. Secret is hex; never log it.
type Key struct {
	Secret string
	Pubkey string
}

// String hides the secret.
func (k Key) String() string { return "key(" + k.Pubkey + ")" }

// Options tune Open.
type Options struct {
	// Passphrase, when not empty, opens (or encrypts a new) key.
	Passphrase string
	// Prompt asks the operator for the passphrase when Passphrase is empty
	// and no passphrase file exists (nil: no prompt).
	Prompt func() (string, error)
	// LogN is the scrypt cost for new key files (default DefaultLogN).
	LogN uint8
}

// Open loads the key in dir, creating one (zero-touch) if there is none.
// It returns whether the key was created.
func Open(dir string, o Options) (Key, bool, error) {
	// The folder and its files are private, whatever modes they had.
	if err := datadir.Private(dir); err != nil {
		return Key{}, false, fmt.Errorf("keystore: %w", err)
	}
	if err := datadir.PrivateFiles(filepath.Join(dir, KeyFile), filepath.Join(dir, PassphraseFile)); err != nil {
		return Key{}, false, fmt.Errorf("keystore: %w", err)
	}
	enc, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		k, err := create(dir, "", o)
		return k, err == nil, err
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("keystore: %w", err)
	}
	pass, err := passphrase(dir, o, false)
	if err != nil {
		return Key{}, false, err
	}
	k, err := decrypt(strings.TrimSpace(string(enc)), pass)
	return k, false, err
}

// Import stores secret (hex or nsec) as the key in dir. It refuses to
// overwrite an existing key.
func Import(dir, secret string, o Options) (Key, error) {
	if strings.TrimSpace(secret) == "" {
		return Key{}, errors.New("keystore: empty secret key")
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		return Key{}, ErrExists
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, fmt.Errorf("keystore: %w", err)
	}
	return create(dir, secret, o)
}

// Encrypt returns secret as an ncryptsec under pass (for backups).
func Encrypt(secret, pass string, logN uint8) (string, error) {
	if logN == 0 {
		logN = DefaultLogN
	}
	s, err := nip49.Encrypt(secret, pass, logN, nip49.ClientDoesNotTrackThisData)
	if err != nil {
		return "", fmt.Errorf("keystore: encrypt: %w", err)
	}
	return s, nil
}

func decrypt(enc, pass string) (Key, error) {
	sk, err := nip49.Decrypt(enc, pass)
	if err != nil {
		return Key{}, ErrWrongPassword
	}
	pub, err := nostr.GetPublicKey(sk)
	if err != nil {
		return Key{}, ErrWrongPassword
	}
	return Key{Secret: sk, Pubkey: pub}, nil
}

func create(dir, secret string, o Options) (Key, error) {
	if secret == "" {
		secret = nostr.GeneratePrivateKey()
	}
	secret, err := normalizeSecret(secret)
	if err != nil {
		return Key{}, err
	}
	pass, err := passphrase(dir, o, true)
	if err != nil {
		return Key{}, err
	}
	enc, err := Encrypt(secret, pass, o.LogN)
	if err != nil {
		return Key{}, err
	}
	if err := writeFile(filepath.Join(dir, KeyFile), []byte(enc+"\n")); err != nil {
		return Key{}, err
	}
	pub, _ := nostr.GetPublicKey(secret)
	return Key{Secret: secret, Pubkey: pub}, nil
}

// normalizeSecret accepts 64 hex characters or an nsec.
func normalizeSecret(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "nsec1") {
		return "", errors.New("keystore: give the secret as hex (nsec import: decode it first)")
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", errors.New("keystore: secret key must be 64 hex characters")
	}
	if _, err := nostr.GetPublicKey(s); err != nil || s == strings.Repeat("0", 64) {
		return "", errors.New("keystore: secret key out of range")
	}
	return strings.ToLower(s), nil
}

// passphrase finds the passphrase: explicit, then the passphrase file, then
// the prompt; for a new key with none of them, a generated one saved 0600.
func passphrase(dir string, o Options, creating bool) (string, error) {
	if o.Passphrase != "" {
		return o.Passphrase, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, PassphraseFile))
	if err == nil {
		if p := strings.TrimSpace(string(b)); p != "" {
			return p, nil
		}
	}
	if o.Prompt != nil {
		p, err := o.Prompt()
		if err != nil {
			return "", fmt.Errorf("keystore: passphrase prompt: %w", err)
		}
		if p != "" {
			return p, nil
		}
	}
	if !creating {
		return "", ErrNoPassphrase
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	p := hex.EncodeToString(r[:])
	if err := writeFile(filepath.Join(dir, PassphraseFile), []byte(p+"\n")); err != nil {
		return "", err
	}
	return p, nil
}

// writeFile writes atomically with mode 0600.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// Rekey re-encrypts the key in dir under newPass and removes the
// passphrase file (the operator now supplies the passphrase).
func Rekey(dir string, k Key, newPass string, logN uint8) error {
	if newPass == "" {
		return ErrNoPassphrase
	}
	enc, err := Encrypt(k.Secret, newPass, logN)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, KeyFile), []byte(enc+"\n")); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, PassphraseFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}
