package nips_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

func TestPrivateBid(t *testing.T) {
	ctx := t.Context()
	buyer, err := keyer.NewPlainKeySigner(nipstest.Buyer.Secret)
	if err != nil {
		t.Fatal(err)
	}
	provider, _ := keyer.NewPlainKeySigner(nipstest.Provider.Secret)
	stranger, _ := keyer.NewPlainKeySigner(nipstest.Relay.Secret)

	bid := nipstest.StorageBid()
	gw, err := nips.WrapBid(ctx, bid, nipstest.Time, buyer, nipstest.Provider.Public)
	if err != nil {
		t.Fatal(err)
	}
	if gw.Kind != nips.KindGiftWrap || gw.PubKey == nipstest.Buyer.Public || gw.Tags.Find("p")[1] != nipstest.Provider.Public {
		t.Fatalf("wrap %v", gw)
	}
	if ok, _ := gw.CheckSignature(); !ok {
		t.Fatal("wrap not signed")
	}
	if err := nips.Validate(&gw); err != nil {
		t.Fatalf("a gift wrap is not a market kind: %v", err)
	}
	got, err := nips.UnwrapBid(ctx, &gw, provider)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pubkey != nipstest.Buyer.Public || got.Offer != bid.Offer || got.Quantity != bid.Quantity {
		t.Fatalf("unwrapped %+v", got)
	}
	if _, err := nips.UnwrapBid(ctx, &gw, stranger); err == nil {
		t.Fatal("a stranger opened the bid")
	}
	note := nostr.Event{Kind: 1}
	if _, err := nips.UnwrapBid(ctx, &note, provider); !errors.Is(err, nips.ErrWrongKind) {
		t.Fatalf("kind 1: %v", err)
	}
	bad := bid
	bad.Quantity = 0
	if _, err := nips.WrapBid(ctx, bad, nipstest.Time, buyer, nipstest.Provider.Public); err == nil {
		t.Fatal("wrapped an invalid bid")
	}
}

func TestCostAndBuckets(t *testing.T) {
	tests := []struct {
		r        nips.Resource
		p        nips.Prices
		q, d     uint64
		want     uint64
		overflow bool
	}{
		{nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: 50}}, 2048, 0, 102400, false},
		{nips.Storage, nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}}, 10, 1, 20000, false},                                          // one second is one day
		{nips.Storage, nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}}, 10, 86401, 40000, false},                                      // rounded up
		{nips.Inference, nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 1}, {Unit: nips.UnitMOutputTokens, Msat: 3}}, 1, 0, 1, false}, // rounded up
		{nips.Inference, nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 150_000}, {Unit: nips.UnitMOutputTokens, Msat: 600_000}}, 1_000_000, 0, 600_000, false},
		{nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: nips.MaxMsat}}, 2, 0, 0, true},
		{nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: 1 << 40}}, 1 << 40, 0, 0, true},
		{nips.Storage, nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}}, nips.MaxQuantity, nips.MaxDuration, 0, true},
		{nips.Inference, nips.Prices{{Unit: nips.UnitMInputTokens, Msat: nips.MaxMsat}, {Unit: nips.UnitMOutputTokens, Msat: 0}}, nips.MaxQuantity, 0, 0, true},
	}
	for i, tc := range tests {
		got, err := nips.Cost(tc.r, tc.p, tc.q, tc.d)
		if tc.overflow != errors.Is(err, nips.ErrOverflow) || (!tc.overflow && got != tc.want) {
			t.Errorf("%d: Cost = %d, %v; want %d, overflow %v", i, got, err, tc.want, tc.overflow)
		}
	}
	for _, c := range []struct {
		price  uint64
		bucket string
	}{{0, "0"}, {1, "1"}, {2, "2"}, {3, "2"}, {1024, "11"}, {2047, "11"}} {
		if got := nips.PriceBucket(c.price); got != c.bucket {
			t.Errorf("PriceBucket(%d) = %s, want %s", c.price, got, c.bucket)
		}
	}
	// Every price at or under a ceiling is in one of the ceiling's buckets.
	for ceiling := uint64(0); ceiling < 300; ceiling++ {
		bs := nips.PriceBucketsUpTo(ceiling)
		for p := uint64(0); p <= ceiling; p++ {
			found := false
			for _, b := range bs {
				found = found || b == nips.PriceBucket(p)
			}
			if !found {
				t.Fatalf("price %d under ceiling %d not in buckets %v", p, ceiling, bs)
			}
		}
	}
	f := nips.OfferQuery{Resource: nips.Storage, Ceiling: 2000, Region: "u0"}.Filter()
	e := nipstest.ExampleEvents()["offer-storage.json"]
	if !f.Matches(&e) {
		t.Fatalf("filter %v does not match the storage example", f)
	}
	f.Tags["g"] = []string{"dr"}
	if f.Matches(&e) {
		t.Fatal("region filter matched an offer elsewhere")
	}
}

func TestPresenceInterval(t *testing.T) {
	if nips.PresenceInterval(0) != nips.MinPresenceInterval || nips.PresenceInterval(1_000_000) != nips.MaxPresenceInterval {
		t.Fatal("clamps")
	}
	if a, b := nips.PresenceInterval(100), nips.PresenceInterval(400); a >= b {
		t.Fatalf("more nodes must beacon less often: %v %v", a, b)
	}
	if nips.PresenceTTL(nips.MaxPresenceInterval) > nips.MaxPresenceTTL*1e9 {
		t.Fatal("ttl beyond MaxPresenceTTL")
	}
}

// FuzzUnwrapBid: whatever a gift wrap holds, unwrapping returns a bid
// that parsed, signed as the seal's author, or an error; it never panics.
func FuzzUnwrapBid(f *testing.F) {
	ctx := context.Background()
	buyer, err := keyer.NewPlainKeySigner(nipstest.Buyer.Secret)
	if err != nil {
		f.Fatal(err)
	}
	provider, _ := keyer.NewPlainKeySigner(nipstest.Provider.Secret)
	gw, err := nips.WrapBid(ctx, nipstest.StorageBid(), nipstest.Time, buyer, nipstest.Provider.Public)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(gw)
	f.Add(b)
	f.Add([]byte(`{"kind":1059,"pubkey":"` + nipstest.Buyer.Public + `","content":"AgAAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e nostr.Event
		if json.Unmarshal(data, &e) != nil {
			return
		}
		bid, err := nips.UnwrapBid(ctx, &e, provider)
		if err != nil {
			return
		}
		if bid.Quantity == 0 || bid.Pubkey == "" {
			t.Fatalf("unwrapped a bid that is not whole: %+v", bid)
		}
	})
}
