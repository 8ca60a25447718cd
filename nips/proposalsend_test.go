package nips_test

import (
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestProposalsEnd: an end of proposals round trips and Validate checks
// it; a malformed one is refused with the tag at fault.
func TestProposalsEnd(t *testing.T) {
	relayKey := nipstest.Relay
	bid := nipstest.Sign(nipstest.OpenBid().ToEvent(nipstest.Time), nipstest.Buyer)
	good := nips.ProposalsEnd{Bid: bid.ID, Buyer: nipstest.Buyer.Public, Proposals: 3, Expiration: nipstest.Time + 60}
	ev := nipstest.Sign(good.ToEvent(nipstest.Time), relayKey)
	got, err := nips.ParseProposalsEnd(&ev)
	if err != nil || got.Bid != good.Bid || got.Buyer != good.Buyer || got.Proposals != 3 || got.Expiration != good.Expiration || got.Pubkey != relayKey.Public {
		t.Fatalf("round trip: %+v (%v)", got, err)
	}
	if err := nips.Validate(&ev); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*nostr.Event)
		tag  string
	}{
		{"no bid", func(e *nostr.Event) { e.Tags = e.Tags[1:] }, "e bid"},
		{"no count", func(e *nostr.Event) { e.Tags[2] = nostr.Tag{"x", "1"} }, "proposals"},
		{"count not a number", func(e *nostr.Event) { e.Tags[2] = nostr.Tag{"proposals", "many"} }, "proposals"},
		{"expires too late", func(e *nostr.Event) { e.Tags[3] = nostr.Tag{"expiration", "99999999999"} }, "expiration"},
		{"another marker", func(e *nostr.Event) { e.Tags[0][3] = "proposal" }, "e"},
	} {
		e := good.ToEvent(nipstest.Time)
		c.edit(&e)
		e = nipstest.Sign(e, relayKey)
		var pe *nips.ParseError
		if _, err := nips.ParseProposalsEnd(&e); !errors.As(err, &pe) || pe.Tag != c.tag {
			t.Errorf("%s: %v, want a parse error on %s", c.name, err, c.tag)
		}
	}
	// Signed by the buyer itself it is not a relay's.
	self := nipstest.Sign(good.ToEvent(nipstest.Time), nipstest.Buyer)
	if _, err := nips.ParseProposalsEnd(&self); err == nil {
		t.Error("an end of proposals signed by the bid's buyer parsed")
	}
}
