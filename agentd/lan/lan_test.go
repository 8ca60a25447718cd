package lan_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/lan"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/transport"
)

func host(t *testing.T, k nipstest.Key) *transport.Host {
	t.Helper()
	h, err := transport.New(t.Context(), transport.WithNostrSecret(k.Secret), transport.WithListenAddrs(transport.LoopbackListenAddrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func exchange(t *testing.T, k nipstest.Key) (*lan.Exchange, *transport.Host) {
	t.Helper()
	h := host(t, k)
	e := lan.New(k.Public, nil)
	h.ServeLAN(e)
	e.Attach(h)
	return e, h
}

func connect(t *testing.T, a, b *transport.Host) {
	t.Helper()
	if _, err := a.Connect(t.Context(), b.NostrPubkey(), b.Addrs()); err != nil {
		t.Fatal(err)
	}
}

// liar answers every query with events it did not sign.
type liar struct{ evs []*nostr.Event }

func (l liar) LANEvent(context.Context, string, *nostr.Event) error { return nil }
func (l liar) LANQuery(context.Context, string, nostr.Filter) []*nostr.Event {
	return l.evs
}

func signed(t *testing.T, ev nostr.Event, k nipstest.Key) *nostr.Event {
	t.Helper()
	s := nipstest.Sign(ev, k)
	return &s
}

// TestExchange: a buyer finds a provider's offer on the LAN, its bid
// reaches the provider's subscription, and what peers send is checked: a
// peer's answer holding events it did not sign, or forged ones, is
// dropped; a pushed event not addressed to us is refused.
func TestExchange(t *testing.T) {
	now := time.Now()
	prov, ph := exchange(t, nipstest.Provider)
	buy, bh := exchange(t, nipstest.Buyer)
	other := nipstest.NewKey("other")
	lh := host(t, other)

	o := nipstest.StorageOffer()
	o.Expiration = nostr.Timestamp(now.Add(time.Hour).Unix())
	offer := signed(t, o.ToEvent(nostr.Timestamp(now.Unix())), nipstest.Provider)
	prov.Publish(t.Context(), *offer)
	forged := *offer
	forged.PubKey = other.Public
	forged.Content = "forged"
	lh.ServeLAN(liar{evs: []*nostr.Event{offer, &forged}})
	connect(t, bh, ph)
	connect(t, bh, lh)

	got := buy.Query(t.Context(), nostr.Filter{Kinds: []int{nips.KindOffer}}, false)
	if len(got) != 1 || got[0].ID != offer.ID {
		t.Fatalf("offers found on the LAN: %v, want only the provider's own", got)
	}

	// A bid pushed to the provider reaches its subscription.
	b := nipstest.StorageBid()
	b.Expiration = nostr.Timestamp(now.Add(10 * time.Minute).Unix())
	bid := signed(t, b.ToEvent(nostr.Timestamp(now.Unix())), nipstest.Buyer)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	bids := make(chan *nostr.Event, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		prov.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindBid}}}, func(ev *nostr.Event) {
			select {
			case bids <- ev:
			default:
			}
		})
	}()
	if !buy.Publish(t.Context(), *bid) {
		t.Fatal("the bid reached no LAN peer")
	}
	select {
	case ev := <-bids:
		if ev.ID != bid.ID {
			t.Fatalf("provider got %s, want the bid %s", ev.ID, bid.ID)
		}
	case <-ctx.Done():
		t.Fatal("the bid did not reach the provider's subscription")
	}
	cancel()
	<-done

	// Pushed events are checked as a relay would.
	ob := nipstest.OpenBid()
	ob.Expiration = nostr.Timestamp(now.Add(10 * time.Minute).Unix())
	notOurs := signed(t, ob.ToEvent(nostr.Timestamp(now.Unix())), nipstest.Buyer)
	for _, tc := range []struct {
		name   string
		ev     *nostr.Event
		prefix string
	}{
		{"forged", &forged, "invalid:"},
		{"not addressed to us", notOurs, "blocked:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := prov.LANEvent(t.Context(), nipstest.Buyer.Public, tc.ev); err == nil || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Fatalf("err %v, want %q", err, tc.prefix)
			}
		})
	}
}
