package transport_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// TestReceiptExchange: a buyer countersigns the receipt of its session only
// when its check passes; a stranger gets none; the provider signs and
// returns what it finished.
func TestReceiptExchange(t *testing.T) {
	ctx := t.Context()
	provSK, buyerSK, otherSK := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	prov := newHost(t, transport.WithNostrSecret(provSK))
	buyer := newHost(t, transport.WithNostrSecret(buyerSK))
	other := newHost(t, transport.WithNostrSecret(otherSK))
	session := "aa" + nostr.GeneratePrivateKey()[2:]
	var published *nostr.Event
	prov.ServeReceipts(func(_ context.Context, s, b string) (nips.Receipt, error) {
		if s != session || b != buyer.NostrPubkey() {
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
	connect(t, buyer, prov)
	connect(t, other, prov)
	// A receipt claiming more than the buyer paid is not countersigned.
	_, err := buyer.RequestReceipt(ctx, prov.ID(), session, func(r nips.Receipt) error {
		if r.Paid > 4000 {
			return errors.New("overstated")
		}
		return nil
	})
	if err == nil || published != nil {
		t.Fatalf("overstated receipt countersigned: %v", err)
	}
	// Another key cannot get the buyer's receipt.
	if _, err := other.RequestReceipt(ctx, prov.ID(), session, func(nips.Receipt) error { return nil }); !errors.Is(err, transport.ErrReceiptRefused) {
		t.Fatalf("stranger: %v", err)
	}
	ev, err := buyer.RequestReceipt(ctx, prov.ID(), session, func(r nips.Receipt) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	r, err := nips.ParseReceipt(ev)
	if err != nil || !r.Countersigned() || r.Pubkey != prov.NostrPubkey() || published == nil || published.ID != ev.ID {
		t.Fatalf("%+v %v", r, err)
	}
	if err := nips.VerifyCountersig(ev, buyer.NostrPubkey(), r.Countersig); err != nil {
		t.Fatalf("countersignature: %v", err)
	}
}
