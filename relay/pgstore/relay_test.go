package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestRelaysOnOneDatabase: two relays configured with the same Database
// (as meshrelay --database runs them) store through PostgreSQL: an event
// published at one is served by the other, replaced there, and counted.
func TestRelaysOnOneDatabase(t *testing.T) {
	url := pgtest.DB(t)
	cfg := func(c *relay.Config) { c.Database = url }
	a, b := relaytest.New(t, cfg), relaytest.New(t, cfg)
	if _, ok := a.Relay.Store().(*pgstore.Store); !ok {
		t.Fatalf("relay store is %T, want *pgstore.Store", a.Relay.Store())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ca, err := nostr.RelayConnect(ctx, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := nostr.RelayConnect(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()

	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	sign := func(e *nostr.Event) *nostr.Event {
		t.Helper()
		if err := e.Sign(sk); err != nil {
			t.Fatal(err)
		}
		return e
	}
	note := sign(&nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"t", "pg"}}, Content: "hello"})
	if err := ca.Publish(ctx, *note); err != nil {
		t.Fatalf("publish at a: %v", err)
	}
	got, err := cb.QuerySync(ctx, nostr.Filter{Tags: nostr.TagMap{"t": {"pg"}}})
	if err != nil || len(got) != 1 || got[0].ID != note.ID {
		t.Fatalf("query at b: %v, %v; want the note published at a", got, err)
	}

	v1 := sign(&nostr.Event{Kind: 0, CreatedAt: nostr.Now() - 10, Content: `{"name":"one"}`})
	v2 := sign(&nostr.Event{Kind: 0, CreatedAt: nostr.Now(), Content: `{"name":"two"}`})
	if err := ca.Publish(ctx, *v1); err != nil {
		t.Fatal(err)
	}
	if err := cb.Publish(ctx, *v2); err != nil {
		t.Fatal(err)
	}
	if err := ca.Publish(ctx, *v1); err == nil {
		t.Fatal("an older profile published after a newer one at the other relay was accepted")
	}
	got, err = ca.QuerySync(ctx, nostr.Filter{Kinds: []int{0}, Authors: []string{pk}})
	if err != nil || len(got) != 1 || got[0].ID != v2.ID {
		t.Fatalf("profile at a: %v, %v; want the version published at b", got, err)
	}
	n, _, err := cb.Count(ctx, nostr.Filters{{Authors: []string{pk}}})
	if err != nil || n != 2 {
		t.Fatalf("COUNT at b: %d, %v; want 2", n, err)
	}
}

// TestLiveAcrossRelays: a subscriber of one relay receives, live, the events
// published at another relay on the same database (LISTEN/NOTIFY), once,
// and so do the publishing relay's own subscribers.
func TestLiveAcrossRelays(t *testing.T) {
	url := pgtest.DB(t)
	cfg := func(c *relay.Config) { c.Database = url }
	a, b := relaytest.New(t, cfg), relaytest.New(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ca, err := nostr.RelayConnect(ctx, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := nostr.RelayConnect(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	f := nostr.Filters{{Kinds: []int{1}, Tags: nostr.TagMap{"t": {"live"}}, Limit: 0}}
	subA, err := ca.Subscribe(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	subB, err := cb.Subscribe(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nostr.Subscription{subA, subB} {
		select {
		case <-s.EndOfStoredEvents:
		case <-ctx.Done():
			t.Fatal("no EOSE")
		}
	}
	sk := nostr.GeneratePrivateKey()
	var sent []string
	for i, c := range []*nostr.Relay{ca, cb, ca} {
		e := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"t", "live"}}, Content: fmt.Sprint(i)}
		if err := e.Sign(sk); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, e.ID)
	}
	for name, s := range map[string]*nostr.Subscription{"a": subA, "b": subB} {
		var got []string
		for len(got) < len(sent) {
			select {
			case e := <-s.Events:
				got = append(got, e.ID)
			case <-ctx.Done():
				t.Fatalf("subscriber of %s got %d of %d events live", name, len(got), len(sent))
			}
		}
		// Remote events arrive after the commit's notification: the order
		// across relays is not the publishing order.
		slices.Sort(got)
		want := slices.Sorted(slices.Values(sent))
		if !slices.Equal(got, want) {
			t.Fatalf("subscriber of %s got %v, want %v", name, got, want)
		}
	}
	// No duplicate follows: one more event from b ends each stream.
	last := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"t", "live"}}, Content: "last"}
	if err := last.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := cb.Publish(ctx, last); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*nostr.Subscription{"a": subA, "b": subB} {
		select {
		case e := <-s.Events:
			if e.ID != last.ID {
				t.Fatalf("subscriber of %s got %s again, want only the last event next", name, e.ID)
			}
		case <-ctx.Done():
			t.Fatalf("subscriber of %s did not get the last event", name)
		}
	}
}

// TestOnEventSeesOtherRelaysEvents: a relay's WithOnEvent functions (the
// market books what they get) are called with the events another relay on
// the same database stores, not only with its own.
func TestOnEventSeesOtherRelaysEvents(t *testing.T) {
	url := pgtest.DB(t)
	cfg := func(c *relay.Config) { c.Database = url }
	seen := make(chan string, 16)
	relaytest.New(t, cfg, relay.WithOnEvent(func(_ context.Context, evt *nostr.Event) { seen <- evt.ID }))
	b := relaytest.New(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cb, err := nostr.RelayConnect(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	e := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "stored through b"}
	if err := e.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	if err := cb.Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-seen:
		if id != e.ID {
			t.Fatalf("OnEvent got %s, want %s", id, e.ID)
		}
	case <-ctx.Done():
		t.Fatal("relay a's OnEvent never saw the event stored through relay b")
	}
}
