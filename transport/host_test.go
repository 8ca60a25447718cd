package transport_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
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

// A peer whose libp2p key is not a Nostr (secp256k1) key is refused at the
// handshake: a host with a valid ed25519 identity gets no stream through,
// while a sovmesh host at the same moment is served.
func TestRefusesPeerWithoutNostrKey(t *testing.T) {
	p, _ := newProvider(t, 0, nil)
	friend := newHost(t)
	var c chunk.CID
	if _, err := friend.Connect(t.Context(), p.NostrPubkey(), p.Addrs()); err != nil {
		t.Fatalf("sovmesh peer: %v", err)
	}
	if _, err := friend.Storage(p.ID(), nil).Has(t.Context(), c); err != nil {
		t.Fatalf("sovmesh peer has: %v", err)
	}

	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Close() })
	// The stranger's handshake may complete on its side, but the provider
	// drops the connection at once; without the check it would stay open.
	_ = stranger.Connect(ctxTimeout(t, 3e9), peer.AddrInfo{ID: p.ID(), Addrs: p.Addrs()})
	for deadline := time.Now().Add(5 * time.Second); stranger.Network().Connectedness(p.ID()) == network.Connected; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a peer without a Nostr key stayed connected")
		}
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
