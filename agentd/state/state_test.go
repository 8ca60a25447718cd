package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"database/sql"
	"github.com/sovmesh/sovmesh/migrations"
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

// TestSessionChunks: the chunks a storage session put, with their sizes; a
// later session that puts the same chunk for longer takes it over.
func TestSessionChunks(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	now := time.Now()
	puts := []struct {
		cid, session string
		size         int
		until        time.Time
	}{
		{"c1", "s1", 1 << 20, now.Add(time.Hour)},
		{"c2", "s1", 1 << 20, now.Add(time.Hour)},
		{"c3", "s1", 512, now.Add(time.Hour)},
		{"c3", "s2", 512, now.Add(2 * time.Hour)},   // s2 keeps c3 longer
		{"c1", "s3", 1 << 20, now.Add(time.Minute)}, // shorter: c1 stays s1's
	}
	for _, p := range puts {
		if err := d.KeepChunk(ctx, p.cid, "owner", p.session, p.size, p.until); err != nil {
			t.Fatal(err)
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

// TestOfflineEarnings: an earning accepted offline is unconfirmed until it
// is settled; swapped, it stays; refused by the mint, it is written off
// once, with its fee, and no longer counts in the net earnings.
func TestOfflineEarnings(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		swapped              bool
		wantLost, wantNet    uint64
		wantFees, wantByRsrc uint64
	}{
		{name: "swapped", swapped: true, wantLost: 0, wantNet: 15, wantFees: 1, wantByRsrc: 15},
		{name: "refused by the mint", swapped: false, wantLost: 10, wantNet: 5, wantFees: 0, wantByRsrc: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			d := openDB(t)
			for _, e := range []Entry{
				{Session: "s1", Kind: Earn, Resource: nips.Storage, Sats: 10, Fee: 1, OpID: 7, Offline: true},
				{Session: "s1", Kind: Earn, Resource: nips.Storage, Sats: 5, OpID: 8},
			} {
				if err := d.Record(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			tot, err := d.Totals(ctx, time.Time{})
			if err != nil || tot.Earned != 15 || tot.Unconfirmed != 10 || tot.Lost != 0 {
				t.Fatalf("before settling: %+v %v", tot, err)
			}
			if ops, err := d.OfflineOps(ctx); err != nil || len(ops) != 1 || ops[0] != 7 {
				t.Fatalf("offline ops %v %v", ops, err)
			}
			for i := range 2 { // the second time is a no-op
				lost, err := d.SettleOffline(ctx, 7, tt.swapped)
				if want := tt.wantLost * uint64(1-i); err != nil || lost != want {
					t.Fatalf("settle %d: lost %d, want %d (%v)", i, lost, want, err)
				}
			}
			if ops, _ := d.OfflineOps(ctx); len(ops) != 0 {
				t.Fatalf("offline ops after settling: %v", ops)
			}
			tot, err = d.Totals(ctx, time.Time{})
			if err != nil || tot.Unconfirmed != 0 || tot.Lost != tt.wantLost || tot.Net() != tt.wantNet ||
				tot.ReceiveFees != tt.wantFees || tot.Fees != 0 || tot.ByResource[nips.Storage] != tt.wantByRsrc {
				t.Fatalf("after settling: %+v %v", tot, err)
			}
		})
	}
}

// TestUpgradeLedger: a state database written by a binary that knew
// migrations up to 0003 (a ledger line in it) opens with the ledger rebuilt
// for the lost kind, its lines intact.
func TestUpgradeLedger(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "agentd.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load("agentd")
	if err != nil || len(ms) < 4 {
		t.Fatalf("migrations: %d %v", len(ms), err)
	}
	qs := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`}
	for _, m := range ms[:3] {
		qs = append(qs, m.SQL, fmt.Sprintf(`INSERT INTO schema_version (version, name) VALUES (%d, '%s')`, m.Version, m.Name))
	}
	qs = append(qs, `INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES ('s', 'earn', 'b', 'storage', 9, 1, 3, 1)`)
	for _, q := range qs {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open old database: %v", err)
	}
	defer d.Close()
	if err := d.Record(ctx, Entry{Session: "s", Kind: Lost, Resource: nips.Storage, Sats: 4, OpID: 3}); err != nil {
		t.Fatalf("lost line after upgrade: %v", err)
	}
	tot, err := d.Totals(ctx, time.Time{})
	if err != nil || tot.Earned != 9 || tot.Lost != 4 || tot.Net() != 5 {
		t.Fatalf("totals after upgrade: %+v %v", tot, err)
	}
}
