package transport_test

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
	"github.com/sovmesh/sovmesh/transport/store"
)

// framedCounter is a chunk store that counts the GETs served in place
// (store.Store.GetFramed) and the ones copied out (Get).
type framedCounter struct {
	*store.Store
	framed, copied atomic.Int64
}

func (s *framedCounter) GetFramed(c chunk.CID, room int, buf []byte, send func([]byte) error) ([]byte, error) {
	s.framed.Add(1)
	return s.Store.GetFramed(c, room, buf, send)
}

func (s *framedCounter) Get(c chunk.CID, buf []byte) ([]byte, error) {
	s.copied.Add(1)
	return s.Store.Get(c, buf)
}

// TestStorageGetServedInPlace: a provider whose store serves chunks in
// place (GetFramed) answers every GET from it, with the chunk intact, at
// pause points and payments ahead alike (a step smaller than a chunk), on
// one stream reused across requests; a missing chunk is ErrNotFound and
// the stream goes on; the buyer pays for what it got, within a step and
// one ahead. On a provider that copies each chunk out of the store (Get)
// it fails.
func TestStorageGetServedInPlace(t *testing.T) {
	sizes := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"under a block", 4000},
		{"1 MiB shard", 1<<20 + chunk.Overhead},
		{"4 MiB shard", 4<<20 + chunk.Overhead},
		{"largest", store.MaxChunk},
	}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	fs := &framedCounter{Store: st}
	const step = 1 << 20
	gate := &meter.Gate{}
	prov := newHost(t)
	prov.ServeStorage(fs, gate)
	buyer := newHost(t)
	payer := &meter.Payer{Step: step}
	sc := buyer.Storage(connect(t, buyer, prov), payer)
	ctx := ctxTimeout(t, 60e9)
	owner := [32]byte(mustHex(t, buyer.NostrPubkey()))
	var got uint64
	for i, sz := range sizes {
		data := bytes.Repeat([]byte{byte(i + 1), 7, byte(i)}, sz.size/3+1)[:sz.size]
		c := chunk.Sum(data)
		if err := st.Put(c, owner, data); err != nil {
			t.Fatalf("%s: put: %v", sz.name, err)
		}
		for range 2 {
			b, err := sc.Get(ctx, c, nil)
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("%s: get: %v (%d bytes of %d)", sz.name, err, len(b), len(data))
			}
			got += uint64(len(data))
		}
		if _, err := sc.Get(ctx, chunk.Sum([]byte(sz.name)), nil); !errors.Is(err, transport.ErrNotFound) {
			t.Fatalf("%s: a missing chunk: %v", sz.name, err)
		}
	}
	if n, c := fs.framed.Load(), fs.copied.Load(); n != int64(3*len(sizes)) || c != 0 {
		t.Fatalf("%d GETs served in place and %d copied out, want %d and 0", n, c, 3*len(sizes))
	}
	if paid, _ := payer.Paid(); paid < got || paid > got+2*step {
		t.Fatalf("paid %d units for %d got", paid, got)
	}
}
