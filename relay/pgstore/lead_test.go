package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/relay/pgstore"
)

// TestOneLeaderAtATime: of two stores on one database, only one holds the
// matcher lock; when it gives the lead up, or its store closes (the
// process's session ends), the other takes it.
func TestOneLeaderAtATime(t *testing.T) {
	url := pgtest.DB(t)
	ctx := t.Context()
	a, err := pgstore.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	actx, release := context.WithCancel(ctx)
	leadA, ok, err := a.TryLead(actx)
	if err != nil || !ok {
		t.Fatalf("first TryLead: ok %v, err %v; want the lead", ok, err)
	}
	if _, ok, err := b.TryLead(ctx); err != nil || ok {
		t.Fatalf("second store's TryLead while the first leads: ok %v, err %v; want no lead", ok, err)
	}
	release()
	<-leadA.Done()
	// The lock is released as the lead's context ends; the next try may
	// run before the server has processed the closed session.
	leadB := tryUntil(t, b)
	if _, ok, err := a.TryLead(ctx); err != nil || ok {
		t.Fatalf("TryLead while the other store leads: ok %v, err %v; want no lead", ok, err)
	}
	// Closing the leading store ends its lead and frees the lock.
	b.Close()
	select {
	case <-leadB.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the lead outlived its store")
	}
	tryUntil(t, a)
	a.Close()
}

// tryUntil calls TryLead until it leads, for at most ten seconds.
func tryUntil(t *testing.T, s *pgstore.Store) context.Context {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lead, ok, err := s.TryLead(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return lead
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was not freed")
		}
		time.Sleep(20 * time.Millisecond) // polling the server's lock table, as the relay does
	}
}

// TestMarketKeyIsClaimedOnce: the first key recorded signs the market; the
// same key is accepted again, another is refused naming both.
func TestMarketKeyIsClaimedOnce(t *testing.T) {
	s := open(t)
	defer s.Close()
	const k1, k2 = "aa00000000000000000000000000000000000000000000000000000000000001", "bb00000000000000000000000000000000000000000000000000000000000002"
	for _, tc := range []struct {
		name string
		key  string
		want error
	}{
		{"first claims", k1, nil},
		{"same key again", k1, nil},
		{"another key", k2, pgstore.ErrOtherMarketKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ClaimMarketKey(t.Context(), tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ClaimMarketKey: %v, want %v", err, tc.want)
			}
		})
	}
}
