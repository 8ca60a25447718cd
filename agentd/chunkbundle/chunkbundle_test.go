package chunkbundle

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/manifest"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

type keypair struct{ sk, pk string }

func newKey(t *testing.T) keypair {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return keypair{sk, pk}
}

func (k keypair) sign(e *nostr.Event) error { return e.Sign(k.sk) }

func (k keypair) owner() [32]byte {
	b, _ := hex.DecodeString(k.pk)
	return [32]byte(b)
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chunks"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func putRandom(t *testing.T, st *store.Store, owner [32]byte, size int) chunk.CID {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	c := chunk.Sum(b)
	if err := st.Put(c, owner, b); err != nil {
		t.Fatal(err)
	}
	return c
}

func count(t *testing.T, st *store.Store) int {
	t.Helper()
	n := 0
	if err := st.Each(func(chunk.CID) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// exported is provider A's store with 3 chunks of the owner (the root
// among them) and 1 of someone else, exported by A.
func exported(t *testing.T, a keypair) (dir string, root chunk.CID, cids []chunk.CID) {
	t.Helper()
	owner, other := newKey(t), newKey(t)
	st := openStore(t)
	root = putRandom(t, st, owner.owner(), 300)
	cids = []chunk.CID{root, putRandom(t, st, owner.owner(), 70000), putRandom(t, st, owner.owner(), 1)}
	putRandom(t, st, other.owner(), 500)
	dir = filepath.Join(t.TempDir(), "bundle")
	sum, err := Export(st, root, dir, a.sign)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chunks != 3 || sum.Info.Root != root.String() || sum.Info.Owner != owner.pk {
		t.Fatalf("export summary %+v, want 3 chunks of %s", sum, owner.pk)
	}
	return dir, root, cids
}

func TestExportImport(t *testing.T) {
	a := newKey(t)
	dir, _, cids := exported(t, a)
	trustA := func(pk string) bool { return pk == a.pk }
	b := openStore(t)
	sum, err := Import(b, dir, trustA)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 3 || sum.Present != 0 || sum.Signer != a.pk {
		t.Fatalf("first import %+v, want 3 stored", sum)
	}
	for _, c := range cids {
		if ok, _ := b.Has(c); !ok {
			t.Fatalf("chunk %s not imported", c)
		}
	}
	// Twice: nothing new.
	sum, err = Import(b, dir, trustA)
	if err != nil || sum.Stored != 0 || sum.Present != 3 || count(t, b) != 3 {
		t.Fatalf("second import %+v, %v; %d chunks in the store", sum, err, count(t, b))
	}
}

func TestImportRefused(t *testing.T) {
	a, mallory := newKey(t), newKey(t)
	trustA := func(pk string) bool { return pk == a.pk }
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, cids []chunk.CID)
		want   error
	}{
		{"tampered chunk", func(t *testing.T, dir string, cids []chunk.CID) {
			p := filepath.Join(dir, ChunkDir, cids[1].String())
			b, _ := os.ReadFile(p)
			b[100] ^= 1
			os.WriteFile(p, b, 0o644)
		}, manifest.ErrMismatch},
		{"extra chunk", func(t *testing.T, dir string, cids []chunk.CID) {
			b := []byte("extra")
			os.WriteFile(filepath.Join(dir, ChunkDir, chunk.Sum(b).String()), b, 0o644)
		}, manifest.ErrUnlisted},
		{"missing chunk", func(t *testing.T, dir string, cids []chunk.CID) {
			os.Remove(filepath.Join(dir, ChunkDir, cids[2].String()))
		}, manifest.ErrMissing},
		{"tampered manifest", func(t *testing.T, dir string, cids []chunk.CID) {
			p := filepath.Join(dir, "MANIFEST.json")
			var evt nostr.Event
			b, _ := os.ReadFile(p)
			json.Unmarshal(b, &evt)
			evt.Tags = evt.Tags[:len(evt.Tags)-1]
			b, _ = json.Marshal(evt)
			os.WriteFile(p, b, 0o644)
		}, manifest.ErrBadSignature},
		{"tampered bundle.json", func(t *testing.T, dir string, cids []chunk.CID) {
			os.WriteFile(filepath.Join(dir, InfoName), []byte(`{"root":"`+cids[0].String()+`","owner":"`+mallory.pk+`"}`+"\n"), 0o644)
		}, manifest.ErrMismatch},
		{"wrong signer", func(t *testing.T, dir string, cids []chunk.CID) {
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
			if _, err := manifest.Sign(dir, Label, mallory.sign, nostr.Now()); err != nil {
				t.Fatal(err)
			}
		}, ErrUntrusted},
		{"other label", func(t *testing.T, dir string, cids []chunk.CID) {
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
			if _, err := manifest.Sign(dir, "sovmesh-events", a.sign, nostr.Now()); err != nil {
				t.Fatal(err)
			}
		}, ErrNotBundle},
		{"chunk not named by its CID", func(t *testing.T, dir string, cids []chunk.CID) {
			os.Rename(filepath.Join(dir, ChunkDir, cids[1].String()), filepath.Join(dir, ChunkDir, cids[2].String()[:63]+"0"))
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
			if _, err := manifest.Sign(dir, Label, a.sign, nostr.Now()); err != nil {
				t.Fatal(err)
			}
		}, ErrRefused},
		{"root chunk missing, re-signed", func(t *testing.T, dir string, cids []chunk.CID) {
			os.Remove(filepath.Join(dir, ChunkDir, cids[0].String()))
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
			if _, err := manifest.Sign(dir, Label, a.sign, nostr.Now()); err != nil {
				t.Fatal(err)
			}
		}, ErrNotBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, cids := exported(t, a)
			tt.tamper(t, dir, cids)
			b := openStore(t)
			_, err := Import(b, dir, trustA)
			if !errors.Is(err, ErrRefused) || !errors.Is(err, tt.want) {
				t.Fatalf("import: %v, want %v and %v", err, ErrRefused, tt.want)
			}
			if n := count(t, b); n != 0 {
				t.Fatalf("%d chunks imported from a refused bundle", n)
			}
		})
	}
}

// A chunk held here for another owner refuses the whole bundle before any
// chunk is stored.
func TestImportOwnerConflict(t *testing.T) {
	a := newKey(t)
	dir, _, cids := exported(t, a)
	b := openStore(t)
	data, _ := os.ReadFile(filepath.Join(dir, ChunkDir, cids[2].String()))
	if err := b.Put(cids[2], newKey(t).owner(), data); err != nil {
		t.Fatal(err)
	}
	_, err := Import(b, dir, func(string) bool { return true })
	if !errors.Is(err, store.ErrNotOwner) || !errors.Is(err, ErrRefused) {
		t.Fatalf("import: %v, want ErrNotOwner", err)
	}
	if n := count(t, b); n != 1 {
		t.Fatalf("%d chunks in the store, want only the other owner's", n)
	}
}

func TestExportNotHere(t *testing.T) {
	st := openStore(t)
	_, err := Export(st, chunk.Sum([]byte("x")), filepath.Join(t.TempDir(), "b"), newKey(t).sign)
	if !errors.Is(err, ErrNotHere) {
		t.Fatalf("export of a chunk not held: %v", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"root":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","owner":"` + string(bytes.Repeat([]byte("01"), 32)) + `"}`))
	f.Add([]byte(`{"root":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ParseInfo(b)
		if err != nil {
			return
		}
		if !hex32(in.Root) || !hex32(in.Owner) {
			t.Fatalf("accepted %+v", in)
		}
	})
}
