package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

func TestZeroTouch(t *testing.T) {
	dir := t.TempDir()
	k, created, err := Open(dir, Options{LogN: 4})
	if err != nil || !created {
		t.Fatalf("open: %v created=%v", err, created)
	}
	enc, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if !strings.HasPrefix(string(enc), "ncryptsec1") || strings.Contains(string(enc), k.Secret) {
		t.Fatal("key file is not an ncryptsec")
	}
	for _, f := range []string{KeyFile, PassphraseFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st.Mode())
		}
	}
	k2, created, err := Open(dir, Options{})
	if err != nil || created || k2 != k {
		t.Fatalf("reopen: %v %v", err, created)
	}
	if pub, _ := nostr.GetPublicKey(k.Secret); pub != k.Pubkey {
		t.Fatal("pubkey mismatch")
	}
	if strings.Contains(k.String(), k.Secret) {
		t.Fatal("String leaks the secret")
	}
}

func TestPassphraseFromOperator(t *testing.T) {
	dir := t.TempDir()
	k, _, err := Open(dir, Options{Passphrase: "correct horse", LogN: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, PassphraseFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a passphrase file was written although the operator gave one")
	}
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	if _, _, err := Open(dir, Options{Passphrase: "wrong"}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	got, _, err := Open(dir, Options{Prompt: func() (string, error) { return "correct horse", nil }})
	if err != nil || got != k {
		t.Fatalf("prompt: %v", err)
	}
}

func TestRekeyAndImport(t *testing.T) {
	dir := t.TempDir()
	k, _, err := Open(dir, Options{LogN: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := Rekey(dir, k, "new pass", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, PassphraseFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("passphrase file kept after rekey")
	}
	if got, _, err := Open(dir, Options{Passphrase: "new pass"}); err != nil || got != k {
		t.Fatalf("open after rekey: %v", err)
	}
	if _, err := Import(dir, k.Secret, Options{LogN: 4}); !errors.Is(err, ErrExists) {
		t.Fatalf("import over a key: %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 64), "nsec1xyz"} {
		if _, err := Import(t.TempDir(), bad, Options{LogN: 4}); err == nil {
			t.Fatalf("import %q accepted", bad)
		}
	}
	imp, err := Import(t.TempDir(), k.Secret, Options{Passphrase: "p", LogN: 4})
	if err != nil || imp != k {
		t.Fatalf("import: %v", err)
	}
}
