package sqlitestore

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/sqlitedb"
	"github.com/sovmesh/sovmesh/migrations"
	"github.com/sovmesh/sovmesh/relay/storetest"
)

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := New(path, append([]Option{WithLogger(quietLog())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

// TestStore runs the shared suite.
//
// eventstore's slicestore is not run through it: it caps every query at
// MaxLimit (500) even when the filter has no limit, orders equal timestamps
// by id descending, serves NIP-40-expired events, returns nil from
// ReplaceEvent for an outdated version, and does not lock in SaveEvent, so it
// fails the NoLimit, OrderAndTies, Expiration and Replaceable parts and is
// racy under SaveAll's concurrent writers.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestStoreSmallBatches runs the suite with one write per transaction and
// with a linger time, so both group-commit paths are covered.
func TestStoreSmallBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for name, o := range map[string]Option{"one per commit": WithBatch(1, 0), "linger 1ms": WithBatch(64, time.Millisecond)} {
		// distinct names: a repeated subtest name gets a "#01" suffix, and
		// internal/sqlitedb puts the path into a file: URI unescaped.
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) eventstore.Store {
				s, _ := openTemp(t, o)
				return s
			})
		})
	}
}

func TestDurableAcrossReopen(t *testing.T) {
	s, path := openTemp(t)
	var evs []*nostr.Event
	for i := 0; i < 50; i++ {
		evs = append(evs, storetest.Event(1, storetest.RandomHex(), int64(100+i), nostr.Tags{{"t", "keep"}}, strconv.Itoa(i)))
	}
	storetest.SaveAll(t, s, evs)
	gone := evs[7]
	if err := s.DeleteEvent(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.SaveEvent(context.Background(), evs[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("save after close: %v, want ErrClosed", err)
	}
	if _, err := s.QueryEvents(context.Background(), nostr.Filter{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after close: %v, want ErrClosed", err)
	}

	s2, err := New(path, WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	want := append(append([]*nostr.Event{}, evs[:7]...), evs[8:]...)
	storetest.SortEvents(want)
	storetest.Same(t, "after reopen", storetest.Query(t, s2, nostr.Filter{Tags: nostr.TagMap{"t": {"keep"}}}), want)
}

// TestCloseFlushesQueuedWrites closes while writers are queued: every write
// that returned nil is stored after reopening.
func TestCloseFlushesQueuedWrites(t *testing.T) {
	s, path := openTemp(t, WithBatch(4, 0))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		saved []*nostr.Event
	)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				e := storetest.Event(1, storetest.RandomHex(), int64(i), nil, "")
				err := s.SaveEvent(context.Background(), e)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				saved = append(saved, e)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	s.Close()
	wg.Wait()
	s2, err := New(path, WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ids := make([]string, len(saved))
	for i, e := range saved {
		ids[i] = e.ID
	}
	got := storetest.Query(t, s2, nostr.Filter{IDs: ids})
	if len(got) != len(saved) {
		t.Fatalf("%d events stored after reopen, %d saves returned nil", len(got), len(saved))
	}
	t.Logf("%d saves committed before close", len(saved))
}

func TestConcurrentWriters(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	const writers, each = 32, 25
	pk := storetest.RandomHex()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := storetest.Event(1, storetest.RandomHex(), int64(w*1000+i), nostr.Tags{{"t", "w" + strconv.Itoa(w)}}, "")
				if err := s.SaveEvent(t.Context(), e); err != nil {
					errs <- err
				}
				// every writer also races on one replaceable key
				r := storetest.Event(0, pk, int64(w*each+i), nil, "")
				if err := s.ReplaceEvent(t.Context(), r); err != nil && !errors.Is(err, ErrNewerVersion) {
					errs <- err
				}
				// and queries while writing
				if _, err := s.CountEvents(t.Context(), nostr.Filter{Kinds: []int{1}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := s.CountEvents(t.Context(), nostr.Filter{Kinds: []int{1}})
	if err != nil || n != writers*each {
		t.Fatalf("count %d, %v; want %d", n, err, writers*each)
	}
	got := storetest.Query(t, s, nostr.Filter{Kinds: []int{0}, Authors: []string{pk}})
	if len(got) != 1 || got[0].CreatedAt != writers*each-1 {
		t.Fatalf("replaceable: %d versions stored, want only the newest (%d)", len(got), writers*each-1)
	}
}

func TestPurgeRemovesExpired(t *testing.T) {
	var (
		mu  sync.Mutex
		now = time.Unix(1_800_000_000, 0)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := openTemp(t, WithClock(clock), WithPurgeInterval(10*time.Millisecond), WithPurgeBatch(7))
	defer s.Close()
	var evs []*nostr.Event
	for i := 0; i < 30; i++ {
		exp := strconv.FormatInt(now.Unix()+int64(1+i%3), 10) // expires in 1, 2 or 3 s
		evs = append(evs, storetest.Event(1, storetest.RandomHex(), 1, nostr.Tags{{"expiration", exp}, {"t", "x"}}, ""))
	}
	keep := storetest.Event(1, storetest.RandomHex(), 1, nostr.Tags{{"t", "x"}}, "")
	storetest.SaveAll(t, s, append(evs, keep))
	if n := rowCount(t, s, "events"); n != 31 {
		t.Fatalf("%d rows before expiry, want 31", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Second) // two thirds expire
	mu.Unlock()
	if got := storetest.Query(t, s, nostr.Filter{}); len(got) != 11 {
		t.Fatalf("query after expiry: %d events, want 11", len(got))
	}
	byKind, err := s.CountByKind(t.Context())
	if err != nil || byKind[1] != 11 {
		t.Fatalf("CountByKind %v, %v; want kind 1: 11", byKind, err)
	}
	waitFor(t, "purge", func() bool { return rowCount(t, s, "events") == 11 })
	if n := rowCount(t, s, "tags"); n != 11 {
		t.Fatalf("%d tag rows left, want 11", n)
	}
	n, err := s.PurgeExpired(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("second purge: %d, %v", n, err)
	}
}

func rowCount(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not done after 5 s", what)
}

func TestMigrationApplied(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	v, err := migrations.Version(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load("relay")
	if err != nil {
		t.Fatal(err)
	}
	if v != ms[len(ms)-1].Version {
		t.Fatalf("schema version %d, want %d", v, ms[len(ms)-1].Version)
	}
	for _, idx := range []string{"events_id", "events_kind", "events_pubkey_kind", "events_addr", "events_expires", "tags_seq", "tags_kind5"} {
		var n int
		if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?`, idx).Scan(&n); err != nil || n != 1 {
			t.Fatalf("index %s: %d, %v", idx, n, err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sqlitedb.Open(t.Context(), path, "relay")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_version (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := New(path, WithLogger(quietLog()))
	if err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if !errors.Is(err, migrations.ErrDatabaseNewer) {
		t.Fatalf("error %v does not wrap migrations.ErrDatabaseNewer", err)
	}
}

func TestInvalidEvents(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	good := storetest.Event(1, storetest.RandomHex(), 1, nil, "")
	tests := []struct {
		name string
		edit func(e *nostr.Event)
	}{
		{"short id", func(e *nostr.Event) { e.ID = e.ID[:62] }},
		{"uppercase id", func(e *nostr.Event) { e.ID = "A" + e.ID[1:] }},
		{"non-hex pubkey", func(e *nostr.Event) { e.PubKey = "g" + e.PubKey[1:] }},
		{"empty pubkey", func(e *nostr.Event) { e.PubKey = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := *good
			tc.edit(&e)
			for op, f := range map[string]func(context.Context, *nostr.Event) error{"save": s.SaveEvent, "replace": s.ReplaceEvent} {
				if err := f(t.Context(), &e); !errors.Is(err, ErrInvalidEvent) {
					t.Fatalf("%s: %v, want ErrInvalidEvent", op, err)
				}
			}
		})
	}
	if err := s.ReplaceEvent(t.Context(), good); !errors.Is(err, ErrNotReplaceable) {
		t.Fatalf("replace kind 1: %v, want ErrNotReplaceable", err)
	}
	if n := rowCount(t, s, "events"); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

func TestUnsupportedFilter(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	f := nostr.Filter{Tags: nostr.TagMap{"alt": {"x"}}}
	if _, err := s.QueryEvents(t.Context(), f); !errors.Is(err, ErrUnsupportedFilter) {
		t.Fatalf("query: %v, want ErrUnsupportedFilter", err)
	}
	if _, err := s.CountEvents(t.Context(), f); !errors.Is(err, ErrUnsupportedFilter) {
		t.Fatalf("count: %v, want ErrUnsupportedFilter", err)
	}
	// khatru asks for "#e" keys when checking NIP-09 deletions; with
	// Filter.Matches semantics those match tags named "#e", so they are
	// multi-letter names too.
	if _, err := s.QueryEvents(t.Context(), nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"#e": {storetest.RandomHex()}}}); !errors.Is(err, ErrUnsupportedFilter) {
		t.Fatalf("#e key: %v, want ErrUnsupportedFilter", err)
	}
}

// TestQueryPlans checks that the hot queries use the intended index and do
// not sort.
func TestQueryPlans(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	id, pk := storetest.RandomHex(), storetest.RandomHex()
	tests := []struct {
		name string
		f    nostr.Filter
		uses string
		sort bool
	}{
		{"by id", nostr.Filter{IDs: []string{id}}, "events_id", false},
		{"author kind limit", nostr.Filter{Authors: []string{pk}, Kinds: []int{1}, Limit: 20}, "events_pubkey_kind", false},
		{"author", nostr.Filter{Authors: []string{pk}, Limit: 20}, "events_pubkey", false},
		{"tag limit", nostr.Filter{Tags: nostr.TagMap{"t": {"x"}}, Limit: 50}, "PRIMARY KEY", false},
		{"kind limit", nostr.Filter{Kinds: []int{1}, Limit: 500}, "events_kind", false},
		{"recent", nostr.Filter{Limit: 100}, "events_created", false},
		{"nip09 e", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {id}}}, "tags_kind5", false},
		{"nip09 a", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"a": {"30023:" + pk + ":x"}}, Since: nowPtr()}, "tags_kind5", false},
		{"nip09 address target", nostr.Filter{Kinds: []int{30023}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {"x"}}, Until: nowPtr()}, "events_pubkey_kind", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compile(tc.f, 0, selectRows)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, s, p)
			if !contains(plan, tc.uses) {
				t.Fatalf("plan does not use %s:\n%s", tc.uses, plan)
			}
			if sorts := contains(plan, "TEMP B-TREE"); sorts != tc.sort {
				t.Fatalf("sort %v, want %v:\n%s", sorts, tc.sort, plan)
			}
		})
	}
}

// explain returns SQLite's query plan for p, one line per step.
func explain(t *testing.T, s *Store, p plan) string {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+p.sql, p.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var a, b, c int
		var d string
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		plan += d + "\n"
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func nowPtr() *nostr.Timestamp { n := nostr.Now(); return &n }
