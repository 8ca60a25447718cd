package receipts

import (
	"context"
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

func newHost(t *testing.T, sk string) *transport.Host {
	t.Helper()
	h, err := transport.New(t.Context(), transport.WithNostrSecret(sk), transport.WithListenAddrs(transport.LoopbackListenAddrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestCountersignExchange(t *testing.T) {
	ctx := t.Context()
	provSK, buyerSK, otherSK := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	provPub, _ := nostr.GetPublicKey(provSK)
	buyerPub, _ := nostr.GetPublicKey(buyerSK)
	prov, buyer, other := newHost(t, provSK), newHost(t, buyerSK), newHost(t, otherSK)
	session := "aa" + nostr.GeneratePrivateKey()[2:]
	var published *nostr.Event
	Serve(ctx, prov.LibP2P(), provPub, func(_ context.Context, s, b string) (nips.Receipt, error) {
		if s != session || b != buyerPub {
			return nips.Receipt{}, errors.New("no such session with you")
		}
		return nips.Receipt{Session: s, Match: nostr.GeneratePrivateKey(), Buyer: b, Resource: nips.Storage, Delivered: 1, Paid: 5000,
			Payment: nips.Payment{Method: nips.PayCashu, Mint: "http://127.0.0.1:1", Unit: "sat"}}, nil
	}, func(_ context.Context, ev *nostr.Event, r nips.Receipt) error {
		if err := ev.Sign(provSK); err != nil {
			return err
		}
		published = ev
		return nil
	})
	for _, h := range []*transport.Host{buyer, other} {
		if _, err := h.Connect(ctx, provPub, prov.Addrs()); err != nil {
			t.Fatal(err)
		}
	}
	// A receipt claiming more than the buyer paid is not countersigned.
	_, err := Request(ctx, buyer.LibP2P(), prov.ID(), session, buyerSK, func(r nips.Receipt) error {
		if r.Paid > 4000 {
			return errors.New("overstated")
		}
		return nil
	})
	if err == nil || published != nil {
		t.Fatalf("overstated receipt countersigned: %v", err)
	}
	// Another key cannot get the buyer's receipt.
	if _, err := Request(ctx, other.LibP2P(), prov.ID(), session, otherSK, func(nips.Receipt) error { return nil }); !errors.Is(err, ErrRefused) {
		t.Fatalf("stranger: %v", err)
	}
	ev, err := Request(ctx, buyer.LibP2P(), prov.ID(), session, buyerSK, func(r nips.Receipt) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	r, err := nips.ParseReceipt(ev)
	if err != nil || !r.Countersigned() || r.Pubkey != provPub || published == nil || published.ID != ev.ID {
		t.Fatalf("%+v %v", r, err)
	}
}
