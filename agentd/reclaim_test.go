package agentd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// TestReclaimOnRestart (issue 12, point 2): a buyer that dies after it
// journaled a payment step and before the token reached the provider gets
// its sats back on its next start, by itself, with its budget released
// and the ledger saying so; a step the provider did redeem stays paid.
func TestReclaimOnRestart(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	grace := func(c *agentd.Config) { c.ReclaimGrace = time.Nanosecond }
	cfg := net.Config("buyer")
	grace(&cfg)
	b := net.NodeWith(t, "buyer", 100, grace)
	prov := net.Node(t, "provider", 0)
	// Step 1 is delivered and redeemed; step 2's token is journaled and
	// dies with the process (never delivered): 31 and 16 sats.
	payTwoSteps(t, b, prov)
	if n, _ := b.Budget().SpentToday(ctx); n != 47 {
		t.Fatalf("budget before the crash: %d, want 47", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2, err := agentd.Open(ctx, cfg) // the next start
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if bal, err := b2.Wallet.Balance(ctx); err != nil || bal != 100-31 {
		t.Fatalf("balance after restart %d (%v), want %d: the undelivered 16 sats come back", bal, err, 100-31)
	}
	if n, err := b2.Budget().SpentToday(ctx); err != nil || n != 31 {
		t.Fatalf("budget after restart %d (%v), want 31", n, err)
	}
	tot, err := b2.DB.Totals(ctx, time.Time{})
	if err != nil || tot.Spent != 47 || tot.Refunded != 16 || tot.Reclaimed != 16 || tot.Pending != 0 || tot.Lost != 0 {
		t.Fatalf("ledger after restart %+v (%v), want spent 47, refunded = reclaimed 16, nothing pending", tot, err)
	}
	// The session paid what the provider redeemed, not the token it never got.
	if st, err := b2.DB.GetSession(ctx, "s1"); err != nil || st.PaidMsat != 31_000 {
		t.Fatalf("session paid %d msat (%v), want 31000", st.PaidMsat, err)
	}
	// Nothing left to do: a second pass changes nothing.
	if rep, err := b2.ReclaimStale(ctx); err != nil || len(rep.Reclaimed) != 0 || rep.Pending != 0 {
		t.Fatalf("second pass: %+v %v", rep, err)
	}
}

// TestReconcileUnpaysSession: a session's payer takes back the token its
// provider did not redeem; the session's paid figure then says what the
// provider got, so a session resumed after a failed put pays for its
// units once (TestPutMovesOnWhenAProviderDies saw it pay twice).
func TestReconcileUnpaysSession(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	b := net.Node(t, "buyer", 100)
	prov := net.Node(t, "provider", 0)
	payer := payTwoSteps(t, b, prov)
	if st, _ := b.DB.GetSession(ctx, "s1"); st.PaidMsat != 47_000 {
		t.Fatalf("session paid %d msat before the reclaim, want 47000", st.PaidMsat)
	}
	back, err := payer.Reconcile(ctx)
	if err != nil || back != 16 {
		t.Fatalf("reconcile: %d sats back (%v), want 16", back, err)
	}
	if st, err := b.DB.GetSession(ctx, "s1"); err != nil || st.PaidMsat != 31_000 {
		t.Fatalf("session paid %d msat after the reclaim (%v), want 31000", st.PaidMsat, err)
	}
	// A second reconcile takes nothing more off.
	if _, err := payer.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.DB.GetSession(ctx, "s1"); st.PaidMsat != 31_000 {
		t.Fatalf("session paid %d msat after a second reconcile, want 31000", st.PaidMsat)
	}
}

// payTwoSteps opens buyer session "s1" of b with prov and pays it two
// steps: 31 sats that prov redeems, then 16 sats it never gets.
func payTwoSteps(t *testing.T, b, prov *agentd.Node) *metering.Payer {
	t.Helper()
	ctx := t.Context()
	if err := b.DB.PutSession(ctx, state.Session{ID: "s1", Role: state.RoleBuyer, Resource: nips.Storage, Counterparty: prov.Key.Pubkey}); err != nil {
		t.Fatal(err)
	}
	payer := &metering.Payer{Wallet: b.Wallet, DB: b.DB, Session: "s1", Provider: prov.Key.Pubkey, Resource: nips.Storage,
		Rate: metering.Rate{Num: 1000, Den: 1}, Step: 1}
	tok, err := payer.Pay(ctx, transport.Invoice{Need: 31})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Wallet.Receive(ctx, string(tok), cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := payer.Pay(ctx, transport.Invoice{Need: 16}); err != nil {
		t.Fatal(err)
	}
	return payer
}

// TestReclaimWaitsForGrace: a payment younger than the grace period is in
// flight, not stranded: it is left alone.
func TestReclaimWaitsForGrace(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	b := net.NodeWith(t, "buyer", 50, func(c *agentd.Config) { c.ReclaimGrace = time.Hour })
	payer := &metering.Payer{Wallet: b.Wallet, DB: b.DB, Session: "s1", Provider: "p", Resource: nips.Storage, Rate: metering.Rate{Num: 1000, Den: 1}, Step: 1}
	if _, err := payer.Pay(ctx, transport.Invoice{Need: 10}); err != nil {
		t.Fatal(err)
	}
	if rep, err := b.ReclaimStale(ctx); err != nil || len(rep.Reclaimed) != 0 {
		t.Fatalf("in-flight payment reclaimed: %+v %v", rep, err)
	}
	if tot, _ := b.DB.Totals(ctx, time.Time{}); tot.Pending != 10 {
		t.Fatalf("pending %d, want 10", tot.Pending)
	}
}

// TestProviderCrashKeepsEarnings (issue 12, point 3): a provider that dies
// after it journaled a payment step's receive, before anything else, has
// its earning once the restarted wallet finishes the swap: ledger and
// wallet agree exactly.
func TestProviderCrashKeepsEarnings(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	b := net.Node(t, "buyer", 100)
	pcfg := net.Config("provider")
	prov := net.Node(t, "provider", 0)
	tok, err := b.Wallet.Send(ctx, 32, cashu.SendOptions{IncludeFees: true})
	if err != nil {
		t.Fatal(err)
	}
	// The provider's wallet, stopped right after the receive's journal
	// write, as a kill there would.
	wc := cashu.DefaultConfig()
	wc.Mints, wc.PrivateKey = []string{net.Mint.URL()}, prov.Key.Secret
	wc.StepHook = func(step string) error {
		if step == "receive.journaled" {
			return errors.New("killed")
		}
		return nil
	}
	crashing, err := cashu.Open(ctx, prov.Wallet.Journal(), wc)
	if err != nil {
		t.Fatal(err)
	}
	g := &metering.Gate{Wallet: crashing, DB: prov.DB, Resource: nips.Storage,
		Fallback: func() (nips.Prices, uint64) { return nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1000}}, 86400 }}
	sess := transport.Session{ID: "st1", Buyer: b.Key.Pubkey}
	if _, err := g.Open(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Redeem(ctx, sess, []byte(tok.Token)); !errors.Is(err, cashu.ErrCrashed) {
		t.Fatalf("redeem: %v, want the crash", err)
	}
	if err := prov.Close(); err != nil {
		t.Fatal(err)
	}
	p2, err := agentd.Open(ctx, pcfg) // restart: Resume finishes the swap
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	bal, err := p2.Wallet.Balance(ctx)
	if err != nil || bal != 32 {
		t.Fatalf("provider balance %d (%v), want 32", bal, err)
	}
	tot, err := p2.DB.Totals(ctx, time.Time{})
	if err != nil || tot.Earned != bal || tot.Net() != bal {
		t.Fatalf("provider ledger %+v (%v) disagrees with its wallet (%d sats)", tot, err, bal)
	}
}
