package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/storeerr"
	"github.com/sovmesh/sovmesh/relay/storetest"
)

// openShared opens n stores on one database at once, as n relay processes
// starting together would (their migrations race).
func openShared(t *testing.T, n int) []*pgstore.Store {
	t.Helper()
	url := pgtest.DB(t)
	stores := make([]*pgstore.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = pgstore.New(t.Context(), url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		t.Cleanup(stores[i].Close)
	}
	return stores
}

// TestSharedDatabase: stores on one database see each other's writes, and
// versions of one address sent to all of them at once leave exactly one
// stored: the winner by created_at, then lowest id.
func TestSharedDatabase(t *testing.T) {
	stores := openShared(t, 3)
	pk := storetest.RandomHex()
	e := storetest.Event(1, pk, 100, nostr.Tags{{"t", "shared"}}, "from 0")
	if err := stores[0].SaveEvent(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		storetest.Same(t, fmt.Sprintf("store %d", i), storetest.Query(t, s, nostr.Filter{Tags: nostr.TagMap{"t": {"shared"}}}), []*nostr.Event{e})
	}
	if err := stores[1].SaveEvent(t.Context(), e); err == nil {
		t.Fatal("the same event saved through a second store: no error, want ErrDupEvent")
	}

	for round := 0; round < 5; round++ {
		var versions []*nostr.Event
		for i := 0; i < 24; i++ {
			// four timestamps: six versions tie on each
			versions = append(versions, storetest.Event(30023, pk, 1000+int64(round*10+i%4), nostr.Tags{{"d", "addr"}}, fmt.Sprint(i)))
		}
		want := storetest.Expected(versions, nostr.Filter{}, 0)[0]
		var wg sync.WaitGroup
		errs := make(chan error, len(versions))
		for i, v := range versions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := stores[i%len(stores)].ReplaceEvent(t.Context(), v)
				if err != nil && !errors.Is(err, storeerr.ErrNewerVersion) {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		f := nostr.Filter{Kinds: []int{30023}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {"addr"}}}
		for i, s := range stores {
			storetest.Same(t, fmt.Sprintf("round %d, store %d", round, i), storetest.Query(t, s, f), []*nostr.Event{want})
		}
	}
}

func TestBadURL(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"not a URL", "postgres://user:s3cret-pw@[::1"},
		{"bad option", "postgres://user:s3cret-pw@127.0.0.1:1/db?sslmode=maybe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pgstore.New(t.Context(), tc.url)
			if !errors.Is(err, pgstore.ErrDatabaseURL) {
				t.Fatalf("got %v, want ErrDatabaseURL", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

// TestListenReconnects: when the listening connection is killed,
// ListenRemote connects again and later events from the other store arrive.
func TestListenReconnects(t *testing.T) {
	url := pgtest.DB(t)
	a, err := pgstore.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pgstore.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	listening := make(chan struct{}, 8)
	got := make(chan *nostr.Event, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ListenRemote(ctx, func(e *nostr.Event) { got <- e }, func() { listening <- struct{}{} })
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-listening:
		case <-ctx.Done():
			t.Fatalf("not listening %s", what)
		}
	}
	expect := func(e *nostr.Event) {
		t.Helper()
		select {
		case g := <-got:
			if g.ID != e.ID {
				t.Fatalf("got %s, want %s", g.ID, e.ID)
			}
		case <-ctx.Done():
			t.Fatalf("event %s not delivered", e.ID)
		}
	}
	wait("at start")
	own := storetest.Event(1, storetest.RandomHex(), 10, nil, "b's own")
	if err := b.SaveEvent(ctx, own); err != nil {
		t.Fatal(err)
	}
	e1 := storetest.Event(1, storetest.RandomHex(), 11, nil, "before")
	if err := a.SaveEvent(ctx, e1); err != nil {
		t.Fatal(err)
	}
	expect(e1) // and not b's own event, which was stored first

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%') k`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", killed, err)
	}
	wait("again after its connection was killed")
	e2 := storetest.Event(1, storetest.RandomHex(), 12, nil, "after")
	if err := a.SaveEvent(ctx, e2); err != nil {
		t.Fatal(err)
	}
	expect(e2)
}
