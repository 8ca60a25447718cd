package state

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

func openDB(t *testing.T) *DB {
	t.Helper()
	d, _ := openWithJournal(t, t.TempDir())
	return d
}

func TestSessionsAndLedger(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	s := Session{ID: "s1", Role: RoleProvider, Resource: nips.Storage, Counterparty: "buyer",
		Prices: nips.Prices{{Unit: nips.UnitGiBDay, Msat: 5000}}, Quantity: 1, Duration: 86400, AmountMsat: 5000}
	if err := d.PutSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := d.AddUsage(ctx, "s1", 3000, 1<<20); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetSession(ctx, "s1")
	if err != nil || got.PaidMsat != 3000 || got.Delivered != 1<<20 || got.Prices[0].Msat != 5000 || got.State != "open" {
		t.Fatalf("%+v %v", got, err)
	}
	if err := d.FinishSession(ctx, "s1", "done", "rcpt"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetSession(ctx, "s1"); err != nil || got.State != "done" || got.ReceiptID != "rcpt" {
		t.Fatalf("finished session: %+v %v", got, err)
	}
	if _, err := d.GetSession(ctx, "s9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	j := d.pay
	for _, l := range []line{
		{Entry{Session: "s1", Kind: Earn, Resource: nips.Storage}, op{"receive", "done", 10, 10, 0}},
		{Entry{Session: "s1", Kind: Change, Resource: nips.Storage}, op{"send", "sent", 3, 0, 0}},
		{Entry{Session: "s2", Kind: Spend, Resource: nips.Inference}, op{"send", "done", 7, 0, 1}},
		{Entry{Session: "s2", Kind: Refund, Resource: nips.Inference}, op{"receive", "done", 2, 6, 0}},
		// Not counted: a failed send, a receive the mint has not answered.
		{Entry{Session: "s2", Kind: Spend, Resource: nips.Inference}, op{"send", "failed", 50, 0, 1}},
		{Entry{Session: "s1", Kind: Earn, Resource: nips.Storage}, op{"receive", "prepared", 40, 40, 0}},
	} {
		record(t, d, j, l)
	}
	tot, err := d.Totals(ctx, time.Time{})
	if err != nil || tot.Net() != 7 || tot.NetSpent() != 5 || tot.Fees != 1 || tot.ReceiveFees != 4 || tot.ByResource[nips.Storage] != 7 || tot.Pending != 3 {
		t.Fatalf("%+v %v", tot, err)
	}
	if err := d.Observe(ctx, "p", 100*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	_ = d.Observe(ctx, "p", 20*time.Millisecond, false)
	ps, _ := d.Providers(ctx)
	if p := ps["p"]; p.LatencyMs != 80 || p.OK != 1 || p.Failed != 1 {
		t.Fatalf("%+v", p)
	}
}

func TestBudget(t *testing.T) {
	ctx := t.Context()
	b := &Budget{DB: openDB(t), PerDay: 100, PerCounterparty: 60}
	c1, err := b.Reserve(ctx, "a", 50)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "a", 20); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("per counterparty: %v", err)
	}
	c2, err := b.Reserve(ctx, "b", 50)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "c", 1); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("per day: %v", err)
	}
	_ = c1(ctx, true)
	_ = c2(ctx, false) // released
	if _, err := b.Reserve(ctx, "c", 40); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if _, err := b.Reserve(Exempt(ctx), "c", 1000); err != nil {
		t.Fatalf("exempt payment refused: %v", err)
	}
	if n, _ := b.SpentToday(ctx); n != 90 {
		t.Fatalf("spent %d", n)
	}
}

// addCredit keeps units for buyer in session with no journal op.
func addCredit(t *testing.T, d *DB, buyer string, r nips.Resource, session string, units int64) {
	t.Helper()
	if err := d.useCredit(t.Context(), CreditLine{Buyer: buyer, Resource: r, Session: session, Units: units}); err != nil {
		t.Fatal(err)
	}
}

func TestCreditAndAuditRounds(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	addCredit(t, d, "b", nips.Storage, "s1", 100)
	addCredit(t, d, "b", nips.Storage, "s1", 50)
	addCredit(t, d, "b", nips.Storage, "s2", 20)
	addCredit(t, d, "b", nips.Bandwidth, "s1", 7)
	if got, _ := d.Credit(ctx, "b", nips.Storage, "s1"); got != 150 {
		t.Fatalf("credit %d, want 150", got)
	}
	if err := d.UseCredit(ctx, "b", nips.Storage, "s1", 40); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, session string
		r             nips.Resource
		want          uint64
	}{
		{"session s1 less what was used", "s1", nips.Storage, 110},
		{"another session keeps its own", "s2", nips.Storage, 20},
		{"walk-in has none", "", nips.Storage, 0},
		{"bandwidth apart", "s1", nips.Bandwidth, 7},
	} {
		if got, err := d.Credit(ctx, "b", c.r, c.session); err != nil || got != c.want {
			t.Fatalf("%s: credit %d (%v), want %d", c.name, got, err, c.want)
		}
	}
	for want := range 3 {
		if r, err := d.NextAuditRound(ctx, "root"); err != nil || r != want {
			t.Fatalf("round %d, want %d: %v", r, want, err)
		}
	}
}

// TestSessionChunks: the chunks a storage session put, with their sizes; a
// later session that puts the same chunk for longer takes it over.
func TestSessionChunks(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	now := time.Now()
	for id, dur := range map[string]uint64{"s1": 3600, "s2": 7200, "s3": 60} {
		if err := d.PutSession(ctx, Session{ID: id, Role: RoleProvider, Resource: nips.Storage, Duration: dur}); err != nil {
			t.Fatal(err)
		}
	}
	puts := []KeptChunk{
		{CID: "c1", Owner: "owner", Session: "s1", Size: 1 << 20},
		{CID: "c2", Owner: "owner", Session: "s1", Size: 1 << 20},
		{CID: "c3", Owner: "owner", Session: "s1", Size: 512},
		{CID: "c3", Owner: "owner", Session: "s2", Size: 512},     // s2 keeps c3 longer
		{CID: "c1", Owner: "owner", Session: "s3", Size: 1 << 20}, // shorter: c1 stays s1's
		{CID: "c4", Owner: "owner", Session: "nosuch", Size: 10},  // refused alone
		{CID: "c5", Owner: "owner", Size: 10},                     // no session: a day
	}
	// At once (group-committed) and one at a time, the same outcome.
	for _, together := range []bool{true, false} {
		if !together {
			d = openDB(t)
			for id, dur := range map[string]uint64{"s1": 3600, "s2": 7200, "s3": 60} {
				if err := d.PutSession(ctx, Session{ID: id, Role: RoleProvider, Resource: nips.Storage, Duration: dur}); err != nil {
					t.Fatal(err)
				}
			}
		}
		errs := make([]error, len(puts))
		var wg sync.WaitGroup
		for i, p := range puts {
			if together {
				wg.Go(func() { errs[i] = d.KeepChunk(ctx, p, now) })
			} else {
				errs[i] = d.KeepChunk(ctx, p, now)
			}
		}
		wg.Wait()
		for i, err := range errs {
			if want := puts[i].Session == "nosuch"; want != errors.Is(err, ErrNotFound) {
				t.Fatalf("chunk %d: err %v", i, err)
			}
		}
		if exp, err := d.ExpiredChunks(ctx, now.Add(25*time.Hour), 10); err != nil || len(exp) != 4 {
			t.Fatalf("expired in 25h: %v, %v; want c1, c2, c3, c5", exp, err)
		}
		if exp, err := d.ExpiredChunks(ctx, now.Add(90*time.Minute), 10); err != nil || len(exp) != 2 {
			t.Fatalf("expired in 90m: %v, %v; want c1, c2", exp, err)
		}
	}
	tests := []struct {
		session string
		limit   int
		cids    []string
		count   int
		bytes   uint64
	}{
		{"s1", 10, []string{"c1", "c2"}, 2, 2 << 20},
		{"s1", 1, []string{"c1"}, 2, 2 << 20},
		{"s2", 10, []string{"c3"}, 1, 512},
		{"s3", 10, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s limit %d", tc.session, tc.limit), func(t *testing.T) {
			cids, count, bytes, err := d.SessionChunks(ctx, tc.session, tc.limit)
			if err != nil || !slices.Equal(cids, tc.cids) || count != tc.count || bytes != tc.bytes {
				t.Fatalf("got %v %d %d %v, want %v %d %d", cids, count, bytes, err, tc.cids, tc.count, tc.bytes)
			}
		})
	}
}
