package state

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// TestReserveHoldsCapacityAcrossRestarts: a provider confirms at most one
// live session per open bid and never more than its offer's capacity, and
// both still hold after reopening the database; a confirmation that lapsed
// unpaid frees its capacity, a paid one keeps it, and Unreserve frees it.
func TestReserveHoldsCapacityAcrossRestarts(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	d, _ := openWithJournal(t, dir)
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	res := func(session, bid string, qty uint64, lapse time.Time) Reservation {
		return Reservation{Session: Session{ID: session, Role: RoleProvider, Resource: nips.Storage, Counterparty: "buyer",
			Offer: "38460:pk:agentd-storage", Quantity: qty, Duration: 86400}, Bid: bid, Capacity: 3, Lapse: lapse}
	}
	before := now.Add(-time.Minute) // nothing made now has lapsed
	if _, err := d.Reserve(ctx, res("s1", "bid1", 2, before)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, _ = openWithJournal(t, dir) // a restart
	d.now = func() time.Time { return now }
	for _, tc := range []struct {
		name string
		r    Reservation
		want error
	}{
		{"same bid, another session", res("s2", "bid1", 1, before), ErrBidTaken},
		{"over capacity", res("s3", "bid2", 2, before), ErrOverCapacity},
		{"fits", res("s4", "bid3", 1, before), nil},
		{"full", res("s5", "bid4", 1, before), ErrOverCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := d.Reserve(ctx, tc.r); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// s1 is paid, s4 is not: once both are older than the lapse, s4 no
	// longer holds capacity and s1 does.
	if err := d.AddUsage(ctx, "s1", 1000, 0); err != nil {
		t.Fatal(err)
	}
	lapsed := now.Add(time.Minute)
	if _, err := d.Reserve(ctx, res("s6", "bid5", 2, lapsed)); !errors.Is(err, ErrOverCapacity) {
		t.Fatalf("paid session released: %v", err)
	}
	if _, err := d.Reserve(ctx, res("s6", "bid5", 1, lapsed)); err != nil {
		t.Fatalf("lapsed session still held: %v", err)
	}
	if err := d.Unreserve(ctx, "s6"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetSession(ctx, "s6"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unreserved session kept: %v", err)
	}
	if err := d.Unreserve(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetSession(ctx, "s1"); err != nil {
		t.Fatalf("a paid session was unreserved: %v", err)
	}
}

// TestDeclineReleasesAtOnce: the buyer's decline of an unpaid confirmation
// frees its capacity and its bid at once, well inside the payment window,
// and ends the session; a decline naming another buyer, bid or match, or a
// paid session, releases nothing. A confirmation unpaid past the payment
// window lapses when the capacity is next asked for.
func TestDeclineReleasesAtOnce(t *testing.T) {
	ctx := t.Context()
	d, _ := openWithJournal(t, t.TempDir())
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	window := now.Add(-2 * time.Minute) // nothing made now is past it
	confirm := func(t *testing.T, session, bid string, lapse time.Time) error {
		t.Helper()
		s := Session{ID: session, Role: RoleProvider, Resource: nips.Storage, Counterparty: "buyer",
			Offer: "38460:pk:agentd-storage", Quantity: 1, Duration: 86400}
		if _, err := d.Reserve(ctx, Reservation{Session: s, Bid: bid, Capacity: 1, Lapse: lapse}); err != nil {
			return err
		}
		s.MatchID = "match-" + session
		return d.PutSession(ctx, s)
	}
	if err := confirm(t, "s1", "bid1", window); err != nil {
		t.Fatal(err)
	}
	if err := confirm(t, "s2", "bid2", window); !errors.Is(err, ErrOverCapacity) {
		t.Fatalf("full offer: %v", err)
	}
	for _, tc := range []struct{ name, buyer, bid, match string }{
		{"another buyer", "mallory", "bid1", "match-s1"},
		{"another bid", "buyer", "bid2", "match-s1"},
		{"another match", "buyer", "bid1", "match-s2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Decline(ctx, "s1", tc.buyer, tc.bid, tc.match); !errors.Is(err, ErrNotDeclinable) {
				t.Fatalf("got %v, want ErrNotDeclinable", err)
			}
		})
	}
	if err := d.Decline(ctx, "s1", "buyer", "bid1", "match-s1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.GetSession(ctx, "s1"); s.State != "failed" {
		t.Fatalf("declined session is %q", s.State)
	}
	if err := confirm(t, "s2", "bid2", window); err != nil {
		t.Fatalf("capacity not released by the decline: %v", err)
	}
	if err := d.Decline(ctx, "s1", "buyer", "bid1", "match-s1"); !errors.Is(err, ErrNotDeclinable) {
		t.Fatalf("second decline: %v", err)
	}
	// A paid confirmation is never released by a decline.
	if err := d.AddUsage(ctx, "s2", 1000, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Decline(ctx, "s2", "buyer", "bid2", "match-s2"); !errors.Is(err, ErrNotDeclinable) {
		t.Fatalf("paid session declined: %v", err)
	}
	// Unpaid past the window: s3 lapses when s4 asks for the capacity.
	if err := d.SubPaid(ctx, "s2", 1000); err != nil {
		t.Fatal(err)
	}
	if err := d.Decline(ctx, "s2", "buyer", "bid2", "match-s2"); err != nil {
		t.Fatal(err)
	}
	if err := confirm(t, "s3", "bid3", window); err != nil {
		t.Fatal(err)
	}
	if err := confirm(t, "s4", "bid4", now.Add(time.Second)); err != nil {
		t.Fatalf("unpaid confirmation past its window still held: %v", err)
	}
	if s, _ := d.GetSession(ctx, "s3"); s.State != "failed" {
		t.Fatalf("unpaid session past its window is %q, want failed", s.State)
	}
}

// TestLapseNamesWhatToRelease: Lapse ends the unpaid confirmations older
// than its cutoff, paid ones and newer ones stay, and it returns each with
// its match, bid and buyer (what a release names), once; Reserve returns
// those it lapsed the same way.
func TestLapseNamesWhatToRelease(t *testing.T) {
	ctx := t.Context()
	d, _ := openWithJournal(t, t.TempDir())
	now := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return now }
	confirm := func(session, bid string) {
		t.Helper()
		s := Session{ID: session, Role: RoleProvider, Resource: nips.Storage, Counterparty: "buyer-" + session,
			Offer: "38460:pk:agentd-storage", Quantity: 1, Duration: 86400}
		if _, err := d.Reserve(ctx, Reservation{Session: s, Bid: bid, Capacity: 10, Lapse: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		s.MatchID = "match-" + session
		if err := d.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	confirm("old", "bid1")
	confirm("paid", "bid2")
	if err := d.AddUsage(ctx, "paid", 1000, 0); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	confirm("new", "bid3")
	cutoff := now.Add(-time.Second) // "old" and "paid" are older
	got, err := d.Lapse(ctx, cutoff)
	want := []Lapsed{{Session: "old", Match: "match-old", Bid: "bid1", Buyer: "buyer-old"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Lapse = %v (%v), want %v", got, err, want)
	}
	if got, err := d.Lapse(ctx, cutoff); err != nil || len(got) != 0 {
		t.Fatalf("second Lapse = %v (%v), want nothing", got, err)
	}
	for id, state := range map[string]string{"old": "failed", "paid": "open", "new": "open"} {
		if s, _ := d.GetSession(ctx, id); s.State != state {
			t.Errorf("session %s is %q, want %q", id, s.State, state)
		}
	}
	now = now.Add(time.Minute)
	s := Session{ID: "next", Role: RoleProvider, Resource: nips.Storage, Counterparty: "b", Offer: "38460:pk:agentd-storage", Quantity: 1}
	got, err = d.Reserve(ctx, Reservation{Session: s, Bid: "bid4", Capacity: 10, Lapse: now.Add(-time.Second)})
	want = []Lapsed{{Session: "new", Match: "match-new", Bid: "bid3", Buyer: "buyer-new"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Reserve lapsed %v (%v), want %v", got, err, want)
	}
}
