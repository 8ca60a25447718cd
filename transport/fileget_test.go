package transport_test

import (
	"bytes"
	"context"
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

// hangGate never opens a session: a provider that accepts streams and
// then answers nothing.
type hangGate struct{ release chan struct{} }

func (g hangGate) Open(ctx context.Context, _ transport.Session) (uint64, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return 0, errors.New("hang gate released")
}
func (hangGate) Redeem(context.Context, transport.Session, []byte) (uint64, error) { return 0, nil }
func (hangGate) Close(context.Context, transport.Session, transport.Usage)         {}

// TestFetchManifestPassesASilentProvider: the first provider of a file
// takes the request and never answers; the manifest comes from the next
// one long before the first's stream timeout (FetchManifest used to wait
// out each provider in turn, so a get of a file whose first providers are
// dead took a dial or stream timeout per dead provider).
func TestFetchManifestPassesASilentProvider(t *testing.T) {
	buyer := newHost(t)
	ps := newProviders(t, buyer, 2, 0)
	data := randomBytes(t, 4*chunk.MinSize)
	ref, _, err := buyer.Put(t.Context(), bytes.NewReader(data), ps.ids, transport.PutOptions{ChunkSize: chunk.MinSize})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	ps.hosts[0].ServeStorage(ps.stores[0], hangGate{release: release})
	// A fresh reader (no pooled streams); its stream timeout is far
	// longer than the deadline.
	reader := newHost(t, transport.WithTimeouts(time.Minute, time.Minute, time.Minute))
	for _, h := range ps.hosts {
		connect(t, reader, h)
	}
	ctx := ctxTimeout(t, 20*time.Second)
	man, err := reader.FetchManifest(ctx, ref, nil)
	if err != nil {
		t.Fatalf("manifest with the first provider silent: %v", err)
	}
	if man.FileSize != uint64(len(data)) {
		t.Fatalf("manifest of %d bytes, want %d", man.FileSize, len(data))
	}
}
