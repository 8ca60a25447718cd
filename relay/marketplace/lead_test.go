package marketplace_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFollowerPublishesNoMatchThenTakesOver: on PostgreSQL, a relay that
// does not hold the matcher lock books a bid (its book shows the offer's
// capacity taken) but publishes no match; when the holder gives the lock
// up, the relay takes over and publishes the match the bid was owed, once.
func TestFollowerPublishesNoMatchThenTakesOver(t *testing.T) {
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// Another process (a store of its own) leads.
	holder, err := pgstore.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	hctx, release := context.WithCancel(ctx)
	defer release()
	if _, ok, err := holder.TryLead(hctx); err != nil || !ok {
		t.Fatalf("holder TryLead: ok %v, err %v", ok, err)
	}
	tm := start(t, nil, func(c *relay.Config) { c.Database = url })
	rl := connect(t, tm.URL)
	provider, buyer := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	o := offer(t, provider, "follower", 40, "dr5rs")
	if err := rl.Publish(ctx, *o); err != nil {
		t.Fatal(err)
	}
	capacity := func() uint64 {
		for _, ov := range book(t, tm, "resource=bandwidth").Offers {
			if ov.EventID == o.ID {
				return ov.Capacity
			}
		}
		return 0
	}
	waitFor(t, "the follower to book the offer", func() bool { return capacity() > 0 })
	full := capacity()
	bid := openBid(t, buyer, 1024, 80, "dr5")
	sub, err := rl.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"e": {bid.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	if err := rl.Publish(ctx, *bid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower to book the bid", func() bool { return capacity() < full })
	// A relay publishes a fill's match right after booking it; a follower
	// publishes none.
	select {
	case evt := <-sub.Events:
		t.Fatalf("a follower published match %s", evt.ID)
	case <-time.After(2 * time.Second):
	}
	matchesOf := func() int {
		got, err := rl.QuerySync(ctx, nostr.Filter{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"e": {bid.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	release()
	select {
	case <-sub.Events:
	case <-ctx.Done():
		t.Fatal("no match after the lock was given up")
	}
	if n := matchesOf(); n != 1 {
		t.Fatalf("%d matches of the bid after the takeover, want 1", n)
	}
	if tm.m.ProposalsPublished() != 1 {
		t.Fatalf("ProposalsPublished %d, want 1", tm.m.ProposalsPublished())
	}
}

// TestLeaderRebooksEventsMissedWhileNotListening: a bid stored through
// another relay while the leader's LISTEN connection was down (and could
// not reconnect) is matched once the leader listens again: it rebuilds its
// book from the store.
func TestLeaderRebooksEventsMissedWhileNotListening(t *testing.T) {
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := func(c *relay.Config) { c.Database = url }
	leader := start(t, nil, cfg)
	other := relaytest.New(t, cfg)
	rl := connect(t, other.URL)
	// Connections to the test database are refused below: administer it
	// from the cluster's postgres database.
	acfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := acfg.Database
	acfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, acfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	allow := func(yes bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %v`, pgx.Identifier{db}.Sanitize(), yes)); err != nil {
			t.Fatal(err)
		}
	}
	defer allow(true)

	o := offer(t, nostr.GeneratePrivateKey(), "missed", 40, "dr5rs")
	if err := rl.Publish(ctx, *o); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to book the offer from the other relay", func() bool {
		return len(book(t, leader, "resource=bandwidth").Offers) == 1
	})
	// The listeners lose their connections and cannot reconnect; the
	// relays' open pool connections still work.
	allow(false)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND query LIKE 'LISTEN%'`, db); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listeners to be gone", func() bool {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	bid := openBid(t, nostr.GeneratePrivateKey(), 1024, 80, "dr5")
	if err := rl.Publish(ctx, *bid); err != nil {
		t.Fatal(err)
	}
	allow(true)
	for {
		got, err := rl.QuerySync(ctx, nostr.Filter{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"e": {bid.ID}}})
		if err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			return
		}
		if len(got) > 1 {
			t.Fatalf("%d matches of the bid, want 1", len(got))
		}
		select {
		case <-ctx.Done():
			t.Fatal("the bid stored while the leader was not listening was never matched")
		case <-time.After(50 * time.Millisecond): // polling the store
		}
	}
}
