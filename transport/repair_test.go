package transport_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestRepairRebuildsLostSlot: the shards of a lost provider slot are
// rebuilt from the others onto a new provider, with the manifest; a Ref
// naming the new provider in that slot then reads the file with another
// original provider gone, and its storage proofs hold. More lost slots than
// parity, or a file without parity, are refused.
func TestRepairRebuildsLostSlot(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 4, 0)
	// Not a whole number of stripes: the last one has virtual data shards.
	data := randomBytes(t, 7*chunk.MinSize+123)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids[:3], transport.PutOptions{ChunkSize: chunk.MinSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("more lost than parity", func(t *testing.T) {
		_, err := buyer.Repair(t.Context(), ref, man, map[int]peer.ID{0: ps.ids[3], 1: ps.ids[3]}, transport.GetOptions{})
		if !errors.Is(err, transport.ErrUnrecoverable) {
			t.Fatalf("repair of two slots with one parity: %v", err)
		}
	})
	t.Run("no parity", func(t *testing.T) {
		r1, m1, err := buyer.Put(t.Context(), bytes.NewReader(data[:1000]), ps.ids[:1], transport.PutOptions{ChunkSize: chunk.MinSize})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := buyer.Repair(t.Context(), r1, m1, map[int]peer.ID{0: ps.ids[3]}, transport.GetOptions{}); !errors.Is(err, transport.ErrNoParity) {
			t.Fatalf("repair without parity: %v", err)
		}
	})
	t.Run("one slot", func(t *testing.T) {
		ps.hosts[1].Close()
		st, err := buyer.Repair(t.Context(), ref, man, map[int]peer.ID{1: ps.ids[3]}, transport.GetOptions{})
		if err != nil {
			t.Fatalf("repair: %v", err)
		}
		want := 0
		for s := range man.Stripes {
			for j, c := range man.Stripes[s] {
				if man.ProviderOf(s, j) == 1 && !c.IsZero() {
					want++
				}
			}
		}
		if st.Shards[ps.ids[3]] != want+1 {
			t.Fatalf("%d chunks stored on the new provider, want %d shards and the manifest", st.Shards[ps.ids[3]], want)
		}
		fixed := ref
		fixed.Providers = []peer.ID{ps.ids[0], ps.ids[3], ps.ids[2]}
		res, err := buyer.Audit(t.Context(), fixed, nil, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("audit after repair: %v", r.Err)
			}
		}
		ps.hosts[0].Close()
		var out bytes.Buffer
		if err := buyer.Get(t.Context(), fixed, &out, transport.GetOptions{}); err != nil {
			t.Fatalf("get after repair with another provider gone: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("file differs")
		}
	})
}
