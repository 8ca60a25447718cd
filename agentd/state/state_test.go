package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

func openDB(t *testing.T) *DB {
	t.Helper()
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), "agentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
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
	got, err := d.LatestOpen(ctx, RoleProvider, "buyer", nips.Storage)
	if err != nil || got.PaidMsat != 3000 || got.Delivered != 1<<20 || got.Prices[0].Msat != 5000 {
		t.Fatalf("%+v %v", got, err)
	}
	if err := d.FinishSession(ctx, "s1", "done", "rcpt"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LatestOpen(ctx, RoleProvider, "buyer", nips.Storage); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finished session still open: %v", err)
	}
	for _, e := range []Entry{
		{Session: "s1", Kind: Earn, Resource: nips.Storage, Sats: 10},
		{Session: "s1", Kind: Change, Resource: nips.Storage, Sats: 3},
		{Session: "s2", Kind: Spend, Resource: nips.Inference, Sats: 7, Fee: 1},
		{Session: "s2", Kind: Refund, Resource: nips.Inference, Sats: 2, Fee: 4},
	} {
		if err := d.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tot, err := d.Totals(ctx, time.Time{})
	if err != nil || tot.Net() != 7 || tot.NetSpent() != 5 || tot.Fees != 1 || tot.ReceiveFees != 4 || tot.ByResource[nips.Storage] != 7 {
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

func TestCreditAndAuditRounds(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	if err := d.AddCredit(ctx, "b", nips.Storage, 100); err != nil {
		t.Fatal(err)
	}
	_ = d.AddCredit(ctx, "b", nips.Storage, 50)
	_ = d.AddCredit(ctx, "b", nips.Bandwidth, 7)
	if got, _ := d.TakeCredit(ctx, "b", nips.Storage); got != 150 {
		t.Fatalf("credit %d", got)
	}
	if got, _ := d.TakeCredit(ctx, "b", nips.Storage); got != 0 {
		t.Fatalf("credit taken twice: %d", got)
	}
	if got, _ := d.TakeCredit(ctx, "b", nips.Bandwidth); got != 7 {
		t.Fatalf("bandwidth credit %d", got)
	}
	for want := range 3 {
		if r, err := d.NextAuditRound(ctx, "root"); err != nil || r != want {
			t.Fatalf("round %d, want %d: %v", r, want, err)
		}
	}
}
