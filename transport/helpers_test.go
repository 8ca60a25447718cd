package transport_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/store"
)

// newHost starts a real libp2p host on 127.0.0.1 (TCP and QUIC) and closes
// it when the test ends.
func newHost(t *testing.T, opts ...transport.Option) *transport.Host {
	t.Helper()
	base := []transport.Option{
		transport.WithListenAddrs(transport.LoopbackListenAddrs...),
		transport.WithTimeouts(5*time.Second, 10*time.Second, 5*time.Second),
	}
	h, err := transport.New(t.Context(), append(base, opts...)...)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// connect connects a to b, checking b's identity by its Nostr key.
func connect(t *testing.T, a, b *transport.Host) peer.ID {
	t.Helper()
	id, err := a.Connect(t.Context(), b.NostrPubkey(), b.Addrs())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return id
}

// newProvider starts a host serving storage from a fresh store.
func newProvider(t *testing.T, quota int64, gate transport.PaymentGate, opts ...transport.Option) (*transport.Host, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), quota)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	h := newHost(t, opts...)
	h.ServeStorage(st, gate)
	return h, st
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
