package transport_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

type providerSet struct {
	hosts  []*transport.Host
	stores []*store.Store
	dirs   []string
	ids    []peer.ID
}

func newProviders(t *testing.T, buyer *transport.Host, n int, quota int64) *providerSet {
	t.Helper()
	ps := &providerSet{}
	for range n {
		dir := t.TempDir()
		st, err := store.Open(dir, quota)
		if err != nil {
			t.Fatal(err)
		}
		h := newHost(t)
		h.ServeStorage(st, nil)
		ps.hosts = append(ps.hosts, h)
		ps.stores = append(ps.stores, st)
		ps.dirs = append(ps.dirs, dir)
		ps.ids = append(ps.ids, connect(t, buyer, h))
	}
	return ps
}

func TestPutGetRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		providers int
		size      int
		opt       transport.PutOptions
	}{
		{"one provider, exact chunks", 1, 4 * chunk.MinSize, transport.PutOptions{ChunkSize: chunk.MinSize}},
		{"one provider, padded last chunk", 1, 3*chunk.MinSize + 17, transport.PutOptions{ChunkSize: chunk.MinSize}},
		{"empty file", 1, 0, transport.PutOptions{ChunkSize: chunk.MinSize}},
		{"3+2 over 5, partial stripe", 5, 7*chunk.MinSize + 5, transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 3, ParityShards: 2}},
		{"2+1 over 4 providers", 4, 20*chunk.MinSize + 1, transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 2, ParityShards: 1}},
		{"default code, 3 providers, 1 MiB chunks", 3, 3<<20 + 12345, transport.PutOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buyer := newHost(t)
			ps := newProviders(t, buyer, tc.providers, 0)
			data := randomBytes(t, tc.size)
			ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, tc.opt)
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			if man.FileSize != uint64(tc.size) {
				t.Fatalf("manifest size %d", man.FileSize)
			}
			// Providers hold ciphertext only: no 64-byte window of the
			// plaintext appears in any stored file.
			if tc.size >= 64 {
				assertNoPlaintext(t, ps.dirs, data[tc.size/2:tc.size/2+64])
			}
			var out bytes.Buffer
			if err := buyer.Get(t.Context(), ref, &out, transport.GetOptions{}); err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("got %d bytes, want %d (equal prefix: %v)", out.Len(), len(data), bytes.HasPrefix(data, out.Bytes()))
			}
			// Another host with the Ref reads the file too (the key is all it takes).
			reader := newHost(t)
			for _, h := range ps.hosts {
				connect(t, reader, h)
			}
			out.Reset()
			if err := reader.Get(t.Context(), ref, &out, transport.GetOptions{}); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("get by reader: %v", err)
			}
		})
	}
}

func assertNoPlaintext(t *testing.T, dirs []string, needle []byte) {
	t.Helper()
	for _, d := range dirs {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, needle) {
				t.Fatalf("plaintext found in %s", p)
			}
			return nil
		})
	}
}

// combinations returns every k-element subset of {0, ..., n-1}, in
// lexicographic order.
func combinations(n, k int) [][]int {
	if k == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for first := 0; first <= n-k; first++ {
		for _, rest := range combinations(n-first-1, k-1) {
			c := []int{first}
			for _, r := range rest {
				c = append(c, first+1+r)
			}
			out = append(out, c)
		}
	}
	return out
}

// TestFileSurvivesLosingParityProviders: a file stored 3+2 over 5
// providers reads back intact whichever 2 providers are lost (all 10
// combinations) and fails with ErrUnrecoverable whichever 3 are (all 10).
// Each combination is read by a fresh host that can reach only the
// surviving providers; a last case stops 2 providers for good, then a
// third.
func TestFileSurvivesLosingParityProviders(t *testing.T) {
	const k, m = 3, 2
	buyer := newHost(t)
	ps := newProviders(t, buyer, k+m, 0)
	// 8 chunks, the last one partial: stripes of 3, 3 and 2 data chunks.
	data := randomBytes(t, 7*chunk.MinSize+100)
	opt := transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: k, ParityShards: m}
	ref, _, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, lost := range append(combinations(k+m, m), combinations(k+m, m+1)...) {
		t.Run(fmt.Sprintf("lose %v", lost), func(t *testing.T) {
			reader := newHost(t)
			for i, h := range ps.hosts {
				if !slices.Contains(lost, i) {
					connect(t, reader, h)
				}
			}
			var out bytes.Buffer
			err := reader.Get(ctxTimeout(t, 30*time.Second), ref, &out, transport.GetOptions{})
			if len(lost) > m {
				if !errors.Is(err, transport.ErrUnrecoverable) || !strings.Contains(err.Error(), "of 3 shards") {
					t.Fatalf("get with %d of %d providers lost: %v, want ErrUnrecoverable naming the shards found", len(lost), k+m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("data differs after reconstruction")
			}
		})
	}
	t.Run("providers stopped", func(t *testing.T) {
		for _, i := range []int{1, 3} {
			if err := ps.hosts[i].Close(); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		if err := buyer.Get(ctxTimeout(t, 60*time.Second), ref, &out, transport.GetOptions{}); err != nil {
			t.Fatalf("get with 2 providers gone: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("data differs after reconstruction")
		}
		// A third loss is beyond the code.
		if err := ps.hosts[0].Close(); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		err = buyer.Get(ctxTimeout(t, 60*time.Second), ref, &out, transport.GetOptions{})
		if !errors.Is(err, transport.ErrUnrecoverable) {
			t.Fatalf("get with 3 of 5 gone: %v", err)
		}
	})
}

func TestCombinations(t *testing.T) {
	tests := []struct {
		n, k int
		want int
	}{{5, 2, 10}, {5, 3, 10}, {4, 0, 1}, {3, 3, 1}, {6, 2, 15}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d choose %d", tc.n, tc.k), func(t *testing.T) {
			got := combinations(tc.n, tc.k)
			seen := map[string]bool{}
			for _, c := range got {
				if len(c) != tc.k || !slices.IsSorted(c) || (len(c) > 0 && (c[0] < 0 || c[len(c)-1] >= tc.n)) {
					t.Fatalf("bad combination %v", c)
				}
				if len(slices.Compact(slices.Clone(c))) != len(c) {
					t.Fatalf("repeated element in %v", c)
				}
				seen[fmt.Sprint(c)] = true
			}
			if len(got) != tc.want || len(seen) != tc.want {
				t.Fatalf("%d combinations (%d distinct), want %d", len(got), len(seen), tc.want)
			}
		})
	}
}

func TestGetRebuildsTamperedShard(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 3, 0)
	data := randomBytes(t, 6*chunk.MinSize)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 2, ParityShards: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte in a stored data shard on disk: the provider serves bad
	// ciphertext, the CID check catches it, parity rebuilds it.
	c := man.Stripes[1][0]
	flipStored(t, ps.dirs[man.ProviderOf(1, 0)], c)
	var out bytes.Buffer
	if err := buyer.Get(t.Context(), ref, &out, transport.GetOptions{}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("data differs")
	}
}

// TestGetTamperedShards: data shards are authenticated by GCM (not hashed)
// on Get; one that fails is rebuilt from parity (the shards already opened
// in place are re-sealed for the rebuild), and parity is checked against
// its CID, so bad parity cannot produce a wrong rebuild.
func TestGetTamperedShards(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []int // shards of stripe 1 to corrupt
		wantErr error
	}{
		{"first data shard", []int{0}, nil},
		{"second data shard", []int{1}, nil},
		{"parity only", []int{2}, nil},
		{"data and parity", []int{0, 2}, transport.ErrUnrecoverable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buyer := newHost(t)
			ps := newProviders(t, buyer, 3, 0)
			data := randomBytes(t, 6*chunk.MinSize-7)
			ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids,
				transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 2, ParityShards: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range tc.tamper {
				flipStored(t, ps.dirs[man.ProviderOf(1, j)], man.Stripes[1][j])
			}
			var out bytes.Buffer
			err = buyer.Get(t.Context(), ref, &out, transport.GetOptions{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("data differs")
			}
		})
	}
}

func TestGetSingleProviderTamperFails(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 1, 0)
	data := randomBytes(t, 3*chunk.MinSize)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{ChunkSize: chunk.MinSize})
	if err != nil {
		t.Fatal(err)
	}
	flipStored(t, ps.dirs[0], man.Stripes[2][0])
	var out bytes.Buffer
	err = buyer.Get(t.Context(), ref, &out, transport.GetOptions{})
	if !errors.Is(err, transport.ErrCIDMismatch) {
		t.Fatalf("err %v, want ErrCIDMismatch", err)
	}
	if out.Len() > 2*chunk.MinSize {
		t.Fatalf("wrote %d bytes past the bad chunk", out.Len())
	}
	// A wrong key fails GCM authentication of the manifest.
	bad := ref
	bad.Key[0] ^= 1
	if err := buyer.Get(t.Context(), bad, &out, transport.GetOptions{}); !errors.Is(err, chunk.ErrAuth) {
		t.Fatalf("wrong key: %v", err)
	}
}

func flipStored(t *testing.T, dir string, c chunk.CID) {
	t.Helper()
	p := filepath.Join(dir, c.String()[:2], c.String()+".chunk")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditAndDelete(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 3, 0)
	data := randomBytes(t, 12*chunk.MinSize)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{ChunkSize: chunk.MinSize, AuditShards: 2, AuditRounds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Audits) != 6 {
		t.Fatalf("%d audits, want 2 per provider", len(man.Audits))
	}
	res, err := buyer.Audit(t.Context(), ref, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("honest provider failed audit: %v", r.Err)
		}
	}
	// A provider that lost (or altered) an audited shard fails.
	a := man.Audits[0]
	victim := man.ProviderOf(int(a.Stripe), int(a.Shard))
	flipStored(t, ps.dirs[victim], man.Stripes[a.Stripe][a.Shard])
	res, err = buyer.Audit(t.Context(), ref, man, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, transport.ErrAuditFailed) {
		t.Fatalf("audit of altered shard: %v", res[0].Err)
	}
	if _, err := buyer.Audit(t.Context(), ref, man, 3, nil); err == nil {
		t.Fatal("audit round past the precomputed ones accepted")
	}
	if err := buyer.DeleteFile(t.Context(), ref, man, nil); err != nil {
		t.Fatalf("delete file: %v", err)
	}
	for i, st := range ps.stores {
		if st.Used() != 0 {
			t.Fatalf("provider %d still holds %d bytes", i, st.Used())
		}
	}
}

// TestPutRingSizedToStreams: a Put keeps as many stripe buffers as its
// upload streams can have in flight (plus the encoders' and the reader's),
// not a flat 64 MiB: fresh memory costs a page fault per page touched, and
// a small ring stays in cache. A one-stripe file on one provider allocates
// well under 64 MiB; before, the whole 64 MiB ring was allocated up front.
func TestPutRingSizedToStreams(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 1, 0)
	data := randomBytes(t, 1<<20)
	// Two encoders, as on the 2-core machines CI runs on, whatever this
	// machine has.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// 8 streams + 8 queued + 2 encoders + 2 read ahead = 20 MiB of ring at
	// most, and the transfer's own buffers (frames, yamux) for 1 MiB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Fatalf("put of 1 MiB allocated %d MiB, want under 32", got>>20)
	}
}
