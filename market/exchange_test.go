package market

import (
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestExchangeApply feeds signed events, as a relay does: an offer, an open
// bid that fills, the relay's signed match, a deletion, and malformed input.
func TestExchangeApply(t *testing.T) {
	x, err := NewExchange(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(int64(nipstest.Time)+10, 0)
	ev := nipstest.ExampleEvents()
	offer := ev["offer-bandwidth.json"]
	if f, err := x.Apply(&offer, now); err != nil || len(f) != 0 {
		t.Fatalf("offer: %v %v", f, err)
	}
	// The example open bid wants dr5 or dr7 and trust 20: no trust yet, so it rests.
	bid := ev["bid-open.json"]
	if f, err := x.Apply(&bid, now); err != nil || len(f) != 0 {
		t.Fatalf("bid without trust: %v %v", f, err)
	}
	v, _ := x.View(nips.Bandwidth, ViewQuery{Now: now})
	if len(v.Offers) != 1 || len(v.Bids) != 1 {
		t.Fatalf("view %+v", v)
	}
	// Trust arrives; a replay of the bid is ignored, the re-published offer fills it.
	x.SetTrust(func(pk string) int {
		if pk == nipstest.Provider.Public {
			return 50
		}
		return 0
	})
	if f, err := x.Apply(&bid, now); err != nil || len(f) != 0 {
		t.Fatalf("replayed bid: %v %v", f, err)
	}
	o2, _ := nips.ParseOffer(&offer)
	again := nipstest.Sign(o2.ToEvent(offer.CreatedAt+1), nipstest.Provider)
	fills, err := x.Apply(&again, now)
	if err != nil || len(fills) != 1 {
		t.Fatalf("re-published offer: %v %v", fills, err)
	}
	f := fills[0]
	if f.Quantity != 2048 || f.Amount != 2048*50 || f.Buyer != nipstest.Buyer.Public || f.Provider != nipstest.Provider.Public {
		t.Fatalf("fill %+v", f)
	}
	m := nipstest.Sign(f.Proposal().ToEvent(nostr.Timestamp(now.Unix())), nipstest.Relay)
	pm, err := nips.ParseProposal(&m)
	if err != nil || pm.Bid != bid.ID || pm.Amount != f.Amount || pm.PaymentRequest != "" {
		t.Fatalf("relay proposal: %+v %v", pm, err)
	}
	// The provider deletes its offer.
	del := nipstest.Sign(nostr.Event{Kind: 5, CreatedAt: offer.CreatedAt + 2, Tags: nostr.Tags{{"a", o2.Address()}}}, nipstest.Provider)
	if _, err := x.Apply(&del, now); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.View(nips.Bandwidth, ViewQuery{Now: now}); len(v.Offers) != 0 {
		t.Fatalf("deleted offer still shown: %+v", v.Offers)
	}
	// Malformed market events return the parse error; other kinds nothing.
	bad := nipstest.Malformed()[0].Event
	if _, err := x.Apply(&bad, now); err == nil {
		t.Fatal("malformed offer applied")
	}
	note := nostr.Event{Kind: 1}
	if f, err := x.Apply(&note, now); f != nil || err != nil {
		t.Fatal("kind 1 applied")
	}
	targeted := ev["bid-offer.json"]
	if f, err := x.Apply(&targeted, now); f != nil || err != nil {
		t.Fatalf("targeted bid: %v %v", f, err)
	}
	if _, err := x.View("cpu", ViewQuery{}); err == nil {
		t.Fatal("unknown resource view")
	}
}

// TestExchangeConcurrent hammers the exchange from several goroutines (run
// with -race): total filled never exceeds total offered capacity.
func TestExchangeConcurrent(t *testing.T) {
	x, err := NewExchange(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 4, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var filled uint64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				name := string(rune('a'+w)) + string(rune('A'+i%26)) + string(rune('0'+i/26))
				o := mkOffer(name, func(o *nips.Offer) { o.Capacity, o.MaxQuantity = 30, 30 })
				b := mkBid(name)
				f1, _ := x.AddOffer(o, t0)
				f2, _ := x.AddBid(b, t0)
				x.Expire(t0)
				_, _ = x.View(nips.Bandwidth, ViewQuery{Now: t0})
				mu.Lock()
				for _, f := range append(f1, f2...) {
					filled += f.Quantity
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if offered := uint64(workers * per * 30); filled != offered {
		// Every bid (100) exceeds every offer (30), so all capacity is sold.
		t.Fatalf("filled %d of %d", filled, offered)
	}
}

// TestExchangeResetRebooks: after Reset the books are empty, and replaying
// the same events fills again what they filled before (a relay taking over
// matching rebuilds its book this way and publishes the fills nobody did).
func TestExchangeResetRebooks(t *testing.T) {
	x, err := NewExchange(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	x.SetTrust(func(string) int { return 50 })
	now := time.Unix(int64(nipstest.Time)+10, 0)
	ev := nipstest.ExampleEvents()
	offer, bid := ev["offer-bandwidth.json"], ev["bid-open.json"]
	replay := func() int {
		n := 0
		for _, e := range []*nostr.Event{&offer, &bid} {
			f, err := x.Apply(e, now)
			if err != nil {
				t.Fatal(err)
			}
			n += len(f)
		}
		return n
	}
	if n := replay(); n != 1 {
		t.Fatalf("first booking: %d fills, want 1", n)
	}
	if n := replay(); n != 0 {
		t.Fatalf("same events again without Reset: %d fills, want 0", n)
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.View(nips.Bandwidth, ViewQuery{Now: now}); len(v.Offers)+len(v.Bids) != 0 {
		t.Fatalf("after Reset the book holds %+v", v)
	}
	if n := replay(); n != 1 {
		t.Fatalf("replay after Reset: %d fills, want the same 1", n)
	}
}

// SetTrust replaces the function that ranks providers for min_trust (for
// example after recomputing Scores).
func (x *Exchange) SetTrust(f TrustFunc) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cfg.Trust = f
	for _, b := range x.books {
		b.cfg.Trust = f
	}
}
