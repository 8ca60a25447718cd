package state

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
)

// creditOp journals an op of kind in state with a credit line of units in
// its transaction, as metering.Gate's OnJournal hooks do, and returns its
// id.
func creditOp(t *testing.T, d *DB, kind, st string, units int64) int64 {
	t.Helper()
	var id int64
	err := runTx(t.Context(), d.pay, func(tx *sql.Tx) error {
		var err error
		if id, err = journal.Insert(t.Context(), tx, journal.Op{Kind: kind, State: st, Amount: 1}); err != nil {
			return err
		}
		return d.AddCreditLine(t.Context(), tx, CreditLine{Buyer: "b", Resource: nips.Bandwidth, Session: "s", Units: units, OpID: id})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCreditFollowsOps: a credit line counts as the journal op it was
// written with says, like a ledger line: a payment's units once its
// receive op is done or queued (accepted offline), never while the mint
// has not answered or once it refused; a refund's (negative) unless its
// send op failed; usage (no op) always. A crash at any step leaves the
// credit the money says.
func TestCreditFollowsOps(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	pay := creditOp(t, d, "receive", "prepared", 100)
	refund := int64(0)
	for _, step := range []struct {
		name string
		do   func()
		want uint64
	}{
		{"a payment the mint has not swapped yet", func() {}, 0},
		{"swapped", func() { setState(t, d.pay, pay, "done") }, 100},
		{"a second payment accepted offline", func() { creditOp(t, d, "receive", "queued", 50) }, 150},
		{"a payment the mint refused", func() { creditOp(t, d, "receive", "failed", 70) }, 150},
		{"a stream used 30", func() {
			if err := d.UseCredit(ctx, "b", nips.Bandwidth, "s", 30); err != nil {
				t.Fatal(err)
			}
		}, 120},
		{"a refund journaled", func() { refund = creditOp(t, d, "send", "prepared", -120) }, 0},
		{"its token handed over", func() { setState(t, d.pay, refund, "sent") }, 0},
		{"the refund failed: the credit is back", func() { setState(t, d.pay, refund, "failed") }, 120},
	} {
		step.do()
		if got, err := d.Credit(ctx, "b", nips.Bandwidth, "s"); err != nil || got != step.want {
			t.Fatalf("%s: credit %d (%v), want %d", step.name, got, err, step.want)
		}
	}
	// Closed sessions' credit is what is owed back; an open one's is not.
	if err := d.PutSession(ctx, Session{ID: "s", Role: RoleProvider, Resource: nips.Bandwidth, Counterparty: "b"}); err != nil {
		t.Fatal(err)
	}
	if c, err := d.ClosedCredit(ctx, nips.Bandwidth); err != nil || len(c) != 0 {
		t.Fatalf("open session: closed credit %+v (%v)", c, err)
	}
	if err := d.FinishSession(ctx, "s", "done", "r"); err != nil {
		t.Fatal(err)
	}
	if c, err := d.ClosedCredit(ctx, nips.Bandwidth); err != nil || len(c) != 1 || c[0] != (SessionCredit{Buyer: "b", Session: "s", Units: 120}) {
		t.Fatalf("closed session: closed credit %+v (%v)", c, err)
	}
}

// TestUpgradeMovesCredit: credit an older agentd kept in agentd.db
// (migrations up to 0013) moves to the payment journal on open, once,
// even if the first open stopped between the copy and the drop.
func TestUpgradeMovesCredit(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	oldAgentDB(t, dir, 13, `INSERT INTO credit (buyer, resource, session, units) VALUES ('b', 'storage', 's', 40), ('b', 'storage', '', 7)`)
	j, err := journal.Open(ctx, filepath.Join(dir, "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i, stage := range []string{"moved", "a second open finds nothing to move", "a move stopped before the drop is not copied twice"} {
		d, err := Open(ctx, filepath.Join(dir, "agentd.db"), j.DB())
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		for _, c := range []struct {
			session string
			want    uint64
		}{{"s", 40}, {"", 7}} {
			if got, err := d.Credit(ctx, "b", nips.Storage, c.session); err != nil || got != c.want {
				t.Fatalf("%s: credit of %q %d (%v), want %d", stage, c.session, got, err, c.want)
			}
		}
		if i == 1 {
			// As if the process had stopped after copying: the old
			// table is back.
			if _, err := d.db.ExecContext(ctx, `CREATE TABLE moved_credit (buyer TEXT, resource TEXT, session TEXT, units INTEGER);
				INSERT INTO moved_credit VALUES ('b', 'storage', 's', 40)`); err != nil {
				t.Fatal(err)
			}
		}
		d.Close()
	}
}

// creditLineCount returns how many credit lines buyer "b" has in session.
func creditLineCount(t *testing.T, d *DB, session string) int {
	t.Helper()
	var n int
	if err := d.pay.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM credit_lines WHERE buyer = 'b' AND session = ?`, session).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCompactCredit: the settled credit lines of a closed session fold
// into one line of their sum (none when it is 0), step by step as its ops
// settle, and every session's credit is exactly what it was; an open
// session's lines and lines whose op may still change are kept. On main
// credit_lines only grew: every payment, stream and refund of every
// session stayed a line, summed by RefundClosed every SettleInterval.
func TestCompactCredit(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	for _, id := range []string{"s", "open"} {
		if err := d.PutSession(ctx, Session{ID: id, Role: RoleProvider, Resource: nips.Bandwidth, Counterparty: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	lines := func(session string, kind, st string, units int64) int64 {
		var id int64
		err := runTx(ctx, d.pay, func(tx *sql.Tx) error {
			var err error
			if kind != "" {
				if id, err = journal.Insert(ctx, tx, journal.Op{Kind: kind, State: st, Amount: 1}); err != nil {
					return err
				}
			}
			return d.AddCreditLine(ctx, tx, CreditLine{Buyer: "b", Resource: nips.Bandwidth, Session: session, Units: units, OpID: id})
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Session s: two payments, one refused, usage, a refund handed over,
	// and a payment accepted offline (queued: it may yet be refused).
	lines("s", "receive", "done", 100)
	lines("s", "receive", "done", 40)
	lines("s", "receive", "failed", 70)
	lines("s", "", "", -30)
	lines("s", "send", "sent", -80)
	queued := lines("s", "receive", "queued", 50)
	for range 5 {
		lines("open", "receive", "done", 10)
	}
	for _, step := range []struct {
		name      string
		do        func()
		wantLines map[string]int
		want      map[string]uint64
	}{
		{"open session: nothing folds", func() {}, map[string]int{"s": 6, "open": 5}, map[string]uint64{"s": 80, "open": 50}},
		{"closed: the settled lines fold into one, the queued payment stays", func() {
			if err := d.FinishSession(ctx, "s", "done", "r"); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{"s": 2, "open": 5}, map[string]uint64{"s": 80, "open": 50}},
		{"again: nothing more to fold", func() {}, map[string]int{"s": 2, "open": 5}, map[string]uint64{"s": 80, "open": 50}},
		{"the queued payment settles and folds in", func() { setState(t, d.pay, queued, "done") }, map[string]int{"s": 1, "open": 5}, map[string]uint64{"s": 80, "open": 50}},
		{"its refund: the lines sum to 0 and are gone", func() { lines("s", "send", "sent", -80) }, map[string]int{"s": 0, "open": 5}, map[string]uint64{"s": 0, "open": 50}},
	} {
		step.do()
		if _, err := d.CompactCredit(ctx, nips.Bandwidth); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for session, want := range step.want {
			if got, err := d.Credit(ctx, "b", nips.Bandwidth, session); err != nil || got != want {
				t.Fatalf("%s: credit of %s %d (%v), want %d", step.name, session, got, err, want)
			}
			if got := creditLineCount(t, d, session); got != step.wantLines[session] {
				t.Fatalf("%s: %s has %d credit lines, want %d", step.name, session, got, step.wantLines[session])
			}
		}
	}
}
