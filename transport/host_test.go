package transport_test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

func TestConnectChecksProviderKey(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	a := newHost(t)
	b := newHost(t, transport.WithNostrSecret(sk))
	if b.NostrPubkey() != pk {
		t.Fatalf("host pubkey %s, want %s", b.NostrPubkey(), pk)
	}
	if _, err := a.Connect(t.Context(), pk, b.Addrs()); err != nil {
		t.Fatalf("connect with right key: %v", err)
	}
	// A host answering at c's addresses with c's key is not the offer's author b.
	c := newHost(t)
	fresh := newHost(t)
	if _, err := fresh.Connect(ctxTimeout(t, 3e9), pk, c.Addrs()); err == nil {
		t.Fatal("connect to an impostor succeeded")
	}
}

func TestAllowPeerRefusesInbound(t *testing.T) {
	friend := newHost(t)
	stranger := newHost(t)
	p, _ := newProvider(t, 0, nil, transport.WithAllowPeer(func(id peer.ID) bool { return id == friend.ID() }))
	var c chunk.CID
	if _, err := friend.Connect(t.Context(), p.NostrPubkey(), p.Addrs()); err != nil {
		t.Fatalf("friend: %v", err)
	}
	if _, err := friend.Storage(p.ID(), nil).Has(t.Context(), c); err != nil {
		t.Fatalf("friend has: %v", err)
	}
	// The stranger's handshake may complete on its side, but the provider
	// drops the connection, so no stream gets through.
	_, _ = stranger.Connect(ctxTimeout(t, 3e9), p.NostrPubkey(), p.Addrs())
	if _, err := stranger.Storage(p.ID(), nil).Has(ctxTimeout(t, 3e9), c); err == nil {
		t.Fatal("stranger was served")
	}
}

func TestListensOnTCPAndQUIC(t *testing.T) {
	h := newHost(t)
	var tcp, quic bool
	for _, a := range h.Addrs() {
		ma.ForEach(a, func(c ma.Component) bool {
			switch c.Protocol().Code {
			case ma.P_TCP:
				tcp = true
			case ma.P_QUIC_V1:
				quic = true
			}
			return true
		})
	}
	if !tcp || !quic {
		t.Fatalf("addrs %v: tcp %v quic %v", h.Addrs(), tcp, quic)
	}
	// Connect over QUIC only.
	var quicAddrs []ma.Multiaddr
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quicAddrs = append(quicAddrs, a)
		}
	}
	b := newHost(t)
	if _, err := b.Connect(t.Context(), h.NostrPubkey(), quicAddrs); err != nil {
		t.Fatalf("quic connect: %v", err)
	}
}
