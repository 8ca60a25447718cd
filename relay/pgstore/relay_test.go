package pgstore_test

import (
	"context"
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
