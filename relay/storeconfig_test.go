package relay_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/sqlitedb"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// The store OpenStore opens runs on the relay's clock and purges as
// configured: once the relay's time passes an event's NIP-40 expiration it
// is no longer served, at once, and within a few purge intervals of
// PurgeInterval its rows are gone from events.db, PurgeBatch at a time.
// (The clock is a day ahead of the wall clock: a store on the wall clock
// would keep serving the event, and one purging every default minute would
// not have purged it in time.)
func TestStoreRunsOnRelayClockAndPurgeSettings(t *testing.T) {
	clk := &fakeClock{t: time.Now().Add(24 * time.Hour)}
	srv := relaytest.New(t, func(c *relay.Config) {
		c.Clock, c.PurgeInterval, c.PurgeBatch = clk.now, 10*time.Millisecond, 1
	})
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	now := nostr.Timestamp(clk.now().Unix())
	var ids []string
	for i := range 3 {
		evt := signed(t, sk, 1, now, nostr.Tags{{"expiration", fmt.Sprint(now + 60)}}, fmt.Sprint("brief ", i))
		mustPublish(t, rl, evt)
		ids = append(ids, evt.ID)
	}
	db, err := sqlitedb.Open(t.Context(), filepath.Join(srv.Config.DataDir, "events.db"), "relay")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got := query(t, rl, nostr.Filter{IDs: ids}); len(got) != 3 {
		t.Fatalf("%d unexpired events served, want 3", len(got))
	}
	if n := rows(t, db); n != 3 {
		t.Fatalf("%d rows before expiry, want 3", n)
	}

	clk.add(2 * time.Minute)
	if got := query(t, rl, nostr.Filter{IDs: ids}); len(got) != 0 {
		t.Fatalf("%d events served after they expired on the relay's clock", len(got))
	}
	waitFor(t, 5*time.Second, "the purge to delete the expired rows", func() bool { return rows(t, db) == 0 })
}

func rows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
