package transport_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestGetEarlyErrorReturns: a stripe that cannot be rebuilt near the start
// of a file longer than the read-ahead window ends Get at once with the
// error; the stripe fetcher must not be left waiting for buffers the writer
// will never hand back (Get used to wait for it before cancelling it).
func TestGetEarlyErrorReturns(t *testing.T) {
	tests := []struct {
		name   string
		window int
		bad    int // stripe whose only shard is damaged
	}{
		{"window 2, first stripe", 2, 0},
		{"window 2, second stripe", 2, 1},
		{"window 1, first stripe", 1, 0},
	}
	buyer := newHost(t)
	ps := newProviders(t, buyer, 1, 0)
	data := randomBytes(t, 12*chunk.MinSize)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{ChunkSize: chunk.MinSize})
	if err != nil {
		t.Fatal(err)
	}
	damaged := map[int]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !damaged[tc.bad] {
				flipStored(t, ps.dirs[0], man.Stripes[tc.bad][0])
				damaged[tc.bad] = true
			}
			done := make(chan error, 1)
			go func() {
				done <- buyer.Get(t.Context(), ref, io.Discard, transport.GetOptions{Window: tc.window, Streams: 1})
			}()
			// A bound for a hang, not a speed assertion: Get needs well
			// under a second here.
			select {
			case err := <-done:
				if !errors.Is(err, transport.ErrUnrecoverable) && !errors.Is(err, transport.ErrCIDMismatch) {
					t.Fatalf("get: %v, want the damaged stripe's error", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("get did not return after an unrecoverable stripe")
			}
		})
	}
}
