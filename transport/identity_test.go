package transport_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/transport"
)

func TestNostrIdentityRoundTrip(t *testing.T) {
	for i := range 32 { // both y parities occur among 32 random keys
		sk := nostr.GeneratePrivateKey()
		pk, err := nostr.GetPublicKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := transport.IdentityFromNostrSecret(sk)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		want, err := transport.PeerIDFromNostrPubkey(pk)
		if err != nil {
			t.Fatal(err)
		}
		if id != want {
			t.Fatalf("key %d: peer ID %s, want %s", i, id, want)
		}
		back, err := transport.NostrPubkeyFromPeerID(id)
		if err != nil || back != pk {
			t.Fatalf("key %d: pubkey %s (%v), want %s", i, back, err, pk)
		}
	}
}

func TestIdentityBadInput(t *testing.T) {
	_, edPub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	edID, _ := peer.IDFromPublicKey(edPub)
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"short secret", func() error { _, err := transport.IdentityFromNostrSecret("abcd"); return err }, transport.ErrBadSecret},
		{"zero secret", func() error {
			_, err := transport.IdentityFromNostrSecret(hex.EncodeToString(make([]byte, 32)))
			return err
		}, transport.ErrBadSecret},
		{"not hex", func() error { _, err := transport.PeerIDFromNostrPubkey("zz"); return err }, transport.ErrNotNostrKey},
		{"x not on curve", func() error {
			_, err := transport.PeerIDFromNostrPubkey("0000000000000000000000000000000000000000000000000000000000000005")
			return err
		}, transport.ErrNotNostrKey},
		{"ed25519 peer", func() error { _, err := transport.NostrPubkeyFromPeerID(edID); return err }, transport.ErrNotNostrKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSecretNeverInError(t *testing.T) {
	secret := "ff" + nostr.GeneratePrivateKey()[2:] + "00"
	_, err := transport.IdentityFromNostrSecret(secret)
	if err == nil {
		t.Fatal("want error")
	}
	if len(err.Error()) > 60 {
		t.Fatalf("error too verbose: %q", err)
	}
}
