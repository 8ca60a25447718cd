package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/safebox"
)

// copyDir copies the files of src (one level) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// deadRelay returns a ws:// URL on which nothing listens.
func deadRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "ws://" + addr
}

func findListed(l safebox.Listing, root string) *safebox.Listed {
	for i := range l.Entries {
		if l.Entries[i].Root == root {
			return &l.Entries[i]
		}
	}
	return nil
}

// TestListFromRelaysAndCache: a second data directory holding only the
// key lists the file from the SafeBox entry on the relay and reads it; the
// first one, with no relay answering, lists its files from the local cache
// and still reads them.
func TestListFromRelaysAndCache(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	for i := range 3 {
		startProvider(t, net, "prov"+string(rune('a'+i)), storageCfg(2_000_000))
	}
	cfg := net.Config("buyer")
	bn, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bn.Close() }()
	if err := bn.Wallet.Fund(ctx, 20_000); err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, bn, Config{Replicas: 3, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2<<20+99)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "notes.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, b *Buyer) {
		t.Helper()
		var out bytes.Buffer
		if _, err := b.Get(ctx, e.Root, &out, nil); err != nil {
			t.Fatalf("get: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("file differs")
		}
	}

	t.Run("second data dir with the same key", func(t *testing.T) {
		cfg2 := net.Config("buyer-again")
		copyDir(t, filepath.Join(cfg.DataDir, "keys"), filepath.Join(cfg2.DataDir, "keys"))
		n2, err := agentd.Open(ctx, cfg2)
		if err != nil {
			t.Fatal(err)
		}
		defer n2.Close()
		if n2.Key.Pubkey != bn.Key.Pubkey || n2.Created {
			t.Fatal("not the same key")
		}
		if err := n2.Wallet.Fund(ctx, 5_000); err != nil {
			t.Fatal(err)
		}
		l, err := n2.Box().ListSources(ctx, 5*time.Second)
		if err != nil || l.RelayErr != nil {
			t.Fatalf("list: %v %v", err, l.RelayErr)
		}
		x := findListed(l, e.Root)
		if x == nil || !x.OnRelays || x.Cached || x.Name != "notes.bin" || x.Size != int64(len(data)) {
			t.Fatalf("listed %+v, want notes.bin from the relay only", x)
		}
		b2, err := New(ctx, n2, Config{})
		if err != nil {
			t.Fatal(err)
		}
		get(t, b2)
		// Listing kept it locally.
		if l, _ = n2.Box().ListSources(ctx, 5*time.Second); findListed(l, e.Root) == nil || !findListed(l, e.Root).Cached {
			t.Fatalf("not cached after listing: %+v", l)
		}
	})

	t.Run("no relay answers", func(t *testing.T) {
		bn.Close()
		down := cfg
		down.Relays = []string{deadRelay(t)}
		n, err := agentd.Open(ctx, down)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		l, err := n.Box().ListSources(lctx, 2*time.Second)
		if err != nil || l.RelayErr == nil {
			t.Fatalf("list with the relay down: %v, relay error %v", err, l.RelayErr)
		}
		if x := findListed(l, e.Root); x == nil || x.OnRelays || !x.Cached || x.Name != "notes.bin" {
			t.Fatalf("listed %+v, want notes.bin from the cache", l.Entries)
		}
		b3, err := New(ctx, n, Config{})
		if err != nil {
			t.Fatal(err)
		}
		get(t, b3)
	})
}
