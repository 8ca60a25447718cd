package metering_test

import (
	"context"
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

// gateNet is a provider's bandwidth gate (real wallet, state database and
// dev mint) and a funded buyer wallet to pay it with.
type gateNet struct {
	net   *agentdtest.Net
	gate  *metering.Gate
	prov  *agentd.Node
	buyer *agentd.Node
	bk    string // the buyer's key (a refund is locked to it)
	n     int
}

func startGate(t *testing.T) *gateNet {
	t.Helper()
	net0 := agentdtest.Start(t)
	prov := net0.Node(t, "prov", 0)
	buyer := net0.Node(t, "buyer", 200)
	return &gateNet{
		net:   net0,
		gate:  &metering.Gate{Wallet: prov.Wallet, DB: prov.DB, Resource: nips.Bandwidth, Log: agentdtest.Logger()},
		prov:  prov,
		buyer: buyer,
		bk:    buyer.Key.Pubkey,
	}
}

// session records an open provider bandwidth session of the buyer at
// msatPerMiB.
func (g *gateNet) session(t *testing.T, id string, msatPerMiB uint64) {
	t.Helper()
	if err := g.prov.DB.PutSession(t.Context(), state.Session{ID: id, Role: state.RoleProvider, Resource: nips.Bandwidth,
		Counterparty: g.bk, Prices: nips.Prices{{Unit: nips.UnitMiB, Msat: msatPerMiB}}, Quantity: 100, AmountMsat: 100 * msatPerMiB}); err != nil {
		t.Fatal(err)
	}
}

// stream opens a gate stream naming market session market.
func (g *gateNet) stream(t *testing.T, market string) (transport.Session, uint64) {
	t.Helper()
	g.n++
	s := transport.Session{ID: market + "-" + string(rune('a'+g.n)), Protocol: transport.BandwidthProtocol, Buyer: g.bk, Market: market}
	c, err := g.gate.Open(t.Context(), s)
	if err != nil {
		t.Fatalf("open a stream of %s: %v", market, err)
	}
	return s, c
}

// pay redeems a token of sats on stream s and returns the units it bought.
func (g *gateNet) pay(t *testing.T, s transport.Session, sats uint64) uint64 {
	t.Helper()
	sent, err := g.buyer.Wallet.Send(t.Context(), sats, cashu.SendOptions{IncludeFees: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := g.gate.Redeem(t.Context(), s, []byte(sent.Token))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGateCreditPerSession: units paid for in one session and not used
// are granted only to the next stream of that session, never to a stream
// of another session of the same buyer, here one whose MiB costs four
// times as much (on main the credit went to the buyer's next stream
// whatever session it named, bytes bought cheap spent dear).
func TestGateCreditPerSession(t *testing.T) {
	ctx := t.Context()
	g := startGate(t)
	g.session(t, "cheap", 1000)
	g.session(t, "dear", 4000)

	s, c := g.stream(t, "cheap")
	if c != 0 {
		t.Fatalf("first stream granted %d units", c)
	}
	bought := g.pay(t, s, 10)
	if bought != 10<<20 {
		t.Fatalf("10 sats at 1 sat/MiB bought %d bytes", bought)
	}
	g.gate.Close(ctx, s, transport.Usage{Units: 4 << 20})
	left := bought - 4<<20

	var open []transport.Session
	for _, c := range []struct {
		name, session string
		want          uint64
	}{
		{"another session of the buyer starts from its own credit", "dear", 0},
		{"a walk-in starts from the walk-in credit", "", 0},
		{"the paying session gets its unused credit back", "cheap", left},
		{"and only once", "cheap", 0},
	} {
		if c.session == "" {
			g.gate.Fallback = func() (nips.Prices, uint64) { return nips.Prices{{Unit: nips.UnitMiB, Msat: 1000}}, 0 }
		}
		s, got := g.stream(t, c.session)
		if got != c.want {
			t.Errorf("%s: stream of %q granted %d units, want %d", c.name, c.session, got, c.want)
		}
		open = append(open, s)
	}
	// Closed unused, each stream's credit is kept for its own session.
	for _, s := range open {
		g.gate.Close(ctx, s, transport.Usage{})
	}
	// What each session's record says: paid in cheap, used in cheap.
	for _, c := range []struct {
		id         string
		paid, used uint64
		heldCredit uint64
	}{
		{"cheap", 10_000, 4 << 20, left},
		{"dear", 0, 0, 0},
	} {
		st, err := g.prov.DB.GetSession(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		credit, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if st.PaidMsat != c.paid || st.Delivered != c.used || credit != c.heldCredit {
			t.Errorf("session %s: paid %d msat, used %d, credit %d; want %d, %d, %d", c.id, st.PaidMsat, st.Delivered, credit, c.paid, c.used, c.heldCredit)
		}
	}
}

// TestGateSeal: while a session's receipt is built and signed its streams
// are drained; one that closes within the wait is booked, one still open
// after it is cut (its usage is not booked to the session, so the
// session's record stays what the receipt says, but is taken out of the
// buyer's credit, as it was served), and the sealed
// session takes no new stream until Unseal.
func TestGateSeal(t *testing.T) {
	ctx := t.Context()
	g := startGate(t)
	g.session(t, "s", 1000)

	early, _ := g.stream(t, "s")
	late, _ := g.stream(t, "s")
	g.pay(t, early, 4)
	g.pay(t, late, 4)

	done := make(chan bool, 1)
	go func() { done <- g.gate.Seal(context.WithoutCancel(ctx), "s", time.Second) }()
	// Sealed: no new stream (poll: Seal runs in its goroutine).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := g.gate.Open(ctx, transport.Session{ID: "probe", Buyer: g.bk, Market: "s"})
		if errors.Is(err, metering.ErrSealed) && errors.Is(err, transport.ErrSessionRefused) {
			break
		}
		if err == nil {
			g.gate.Close(ctx, transport.Session{ID: "probe"}, transport.Usage{})
		}
		if time.Now().After(deadline) {
			t.Fatalf("open on a sealing session: %v, want ErrSealed", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	g.gate.Close(ctx, early, transport.Usage{Units: 1 << 20}) // within the wait: booked
	if <-done {
		t.Fatal("Seal reported no stream cut with one still open")
	}
	g.gate.Close(ctx, late, transport.Usage{Units: 2 << 20}) // cut: not booked
	st, err := g.prov.DB.GetSession(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	credit, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, "s")
	if err != nil {
		t.Fatal(err)
	}
	// The cut stream's 2 MiB were served: they leave the credit (8 MiB
	// paid, 1 + 2 used) but not the session's record.
	if st.Delivered != 1<<20 || st.PaidMsat != 8000 || credit != 5<<20 {
		t.Fatalf("session booked %d units used, %d msat paid, %d credit; want the early stream's 1 MiB, 8000, 5 MiB", st.Delivered, st.PaidMsat, credit)
	}
	g.gate.Unseal("s")
	if _, c := g.stream(t, "s"); c != 5<<20 {
		t.Fatalf("after Unseal a stream got %d units, want the 5 MiB kept", c)
	}
}

// TestGateCreditSurvivesRestart: the units a payment buys are journaled
// with the payment, so a provider stopped after redeeming it, before the
// paying stream closed (a SIGKILL leaves only what SQLite committed), still
// owes them when it starts again: the session's next stream is granted
// them. On main the credit was written only when the stream closed, and
// the restarted provider granted nothing (the buyer's paid-ahead sats were
// lost).
func TestGateCreditSurvivesRestart(t *testing.T) {
	for _, c := range []struct {
		name string
		used uint64 // units the paying stream used and closed with; 0: never closed
		want uint64
	}{
		{"killed after the redemption, the stream never closed", 0, 10 << 20},
		{"the stream closed having used 4 MiB", 4 << 20, 6 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			g := startGate(t)
			g.session(t, "s", 1000)
			s, _ := g.stream(t, "s")
			if got := g.pay(t, s, 10); got != 10<<20 {
				t.Fatalf("10 sats bought %d bytes", got)
			}
			if c.used > 0 {
				g.gate.Close(ctx, s, transport.Usage{Units: c.used})
			}
			// Restart: the node and its databases are closed and opened
			// again; the gate's memory (the open stream) is gone.
			if err := g.prov.Close(); err != nil {
				t.Fatal(err)
			}
			prov := g.net.Node(t, "prov", 0)
			g.prov = prov
			g.gate = &metering.Gate{Wallet: prov.Wallet, DB: prov.DB, Resource: nips.Bandwidth, Log: agentdtest.Logger()}
			if _, got := g.stream(t, "s"); got != c.want {
				t.Fatalf("after a restart the session's stream was granted %d units, want %d", got, c.want)
			}
			// Sats conserved: what was earned is what the credit and the
			// usage stand for (1 sat per MiB).
			tot, err := prov.DB.Totals(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if tot.Earned != 10 || (c.want+c.used)>>20 != tot.Earned {
				t.Fatalf("earned %d sats; credit %d + used %d units", tot.Earned, c.want, c.used)
			}
		})
	}
}

// TestGateUsageBookedAtEachStep: the usage a stream reports at each pause
// point (transport.UsageJournal) is taken out of the credit with the next
// payment's receive, so a provider killed while the stream is open (its
// Close never runs) loses at most what the stream used since its last
// payment step; Close books only the rest. On main the usage was written
// only at Close: after the kill the session's next stream was granted
// every unit the killed stream had used.
func TestGateUsageBookedAtEachStep(t *testing.T) {
	const steps, step = 4, 2 << 20 // 2 sats at 1 sat/MiB
	for _, c := range []struct {
		name   string
		closed bool
	}{
		{"killed with the stream open", false},
		{"the stream closed", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			g := startGate(t)
			g.session(t, "s", 1000)
			s, _ := g.stream(t, "s")
			j, ok := any(g.gate).(transport.UsageJournal)
			if !ok {
				t.Fatal("the gate takes no usage at pause points")
			}
			// Each step's credit is used up to a pause point, where the
			// transport tells the usage and the next step is paid.
			var used uint64
			for i := range steps {
				j.Progress(ctx, s, transport.Usage{Units: used})
				if got := g.pay(t, s, 2); got != step {
					t.Fatalf("step %d bought %d units", i, got)
				}
				used += step - 1000 // a pause point comes before the credit is all used
			}
			if c.closed {
				g.gate.Close(ctx, s, transport.Usage{Units: used})
			}
			// Restart: the gate's memory (the open stream) is gone.
			if err := g.prov.Close(); err != nil {
				t.Fatal(err)
			}
			prov := g.net.Node(t, "prov", 0)
			g.prov = prov
			g.gate = &metering.Gate{Wallet: prov.Wallet, DB: prov.DB, Resource: nips.Bandwidth, Log: agentdtest.Logger()}
			_, got := g.stream(t, "s")
			paid := uint64(steps * step)
			if c.closed && got != paid-used {
				t.Fatalf("after the stream closed its session was granted %d units, want %d", got, paid-used)
			}
			// Killed: the credit left is what was paid less the usage
			// booked at the last pause point, one step's usage more
			// than what was really left.
			if !c.closed && got > paid-used+step {
				t.Fatalf("after a kill the session's stream was granted %d units: %d paid, %d used (more than a step, %d, not booked)",
					got, paid, used, got-(paid-used))
			}
		})
	}
}

// TestGateUsageBookedThenGivenBack: a stream whose usage went down after
// a pause point booked it (a storage request reserved, then not served)
// gets back at Close what was booked beyond its final usage.
func TestGateUsageBookedThenGivenBack(t *testing.T) {
	ctx := t.Context()
	g := startGate(t)
	g.session(t, "s", 1000)
	s, _ := g.stream(t, "s")
	if got := g.pay(t, s, 4); got != 4<<20 {
		t.Fatalf("4 sats bought %d units", got)
	}
	g.gate.Progress(ctx, s, transport.Usage{Units: 3 << 20})
	if got := g.pay(t, s, 4); got != 4<<20 {
		t.Fatalf("4 sats bought %d units", got)
	}
	if c, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, "s"); err != nil || c != 5<<20 {
		t.Fatalf("credit %d after 3 MiB booked of 8 paid (%v)", c, err)
	}
	g.gate.Close(ctx, s, transport.Usage{Units: 2 << 20})
	if c, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, "s"); err != nil || c != 6<<20 {
		t.Fatalf("credit %d after the stream closed having used 2 MiB of 8 paid (%v)", c, err)
	}
}

// TestGateRefundClosed: once a session is closed (its receipt signed) the
// credit it paid ahead and did not use goes back to its buyer, once, as a
// token of what it is worth at the session's rate; a stream cut by the
// seal keeps its grant until it closes, and what it leaves is refunded by
// the next pass. Sats are conserved: earned less change is what was used.
func TestGateRefundClosed(t *testing.T) {
	ctx := t.Context()
	g := startGate(t)
	g.session(t, "s", 1000)
	g.session(t, "other", 1000) // open: its credit stays
	a, _ := g.stream(t, "s")
	cut, _ := g.stream(t, "s")
	o, _ := g.stream(t, "other")
	g.pay(t, a, 10)
	g.pay(t, cut, 5)
	g.pay(t, o, 3)
	g.gate.Close(ctx, a, transport.Usage{Units: 4 << 20})
	g.gate.Close(ctx, o, transport.Usage{Units: 1 << 20})
	if err := g.prov.DB.FinishSession(ctx, "s", "done", "receipt"); err != nil {
		t.Fatal(err)
	}
	balance0, err := g.buyer.Wallet.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var refunded uint64
	for _, c := range []struct {
		name  string
		close uint64 // units the cut stream used, closed before the pass (0: still open)
		want  uint64 // sats refunded
	}{
		{"the closed stream's 6 MiB, not the open stream's grant", 0, 6},
		{"nothing twice", 0, 0},
		{"the cut stream's 3 MiB left once it closes", 2 << 20, 3},
	} {
		if c.close > 0 {
			g.gate.Close(ctx, cut, transport.Usage{Units: c.close})
		}
		refunds, err := g.gate.RefundClosed(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var sats uint64
		for _, r := range refunds {
			if r.Session != "s" || r.Buyer != g.bk {
				t.Fatalf("%s: refund of session %s to %s", c.name, r.Session, r.Buyer)
			}
			if _, err := g.buyer.Wallet.Receive(ctx, r.Token, cashu.ReceiveOptions{}); err != nil {
				t.Fatalf("%s: redeem the refund: %v", c.name, err)
			}
			sats += r.Sats
		}
		if sats != c.want {
			t.Fatalf("%s: refunded %d sats, want %d", c.name, sats, c.want)
		}
		refunded += sats
	}
	for _, c := range []struct {
		session string
		want    uint64
	}{{"s", 0}, {"other", 2 << 20}} {
		if got, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, c.session); err != nil || got != c.want {
			t.Fatalf("credit of %s: %d (%v), want %d", c.session, got, err, c.want)
		}
	}
	tot, err := g.prov.DB.Totals(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// 18 sats earned; 9 refunded; 4 + 2 + 1 MiB used and 2 MiB of credit
	// held in the open session, at 1 sat per MiB.
	if tot.Earned != 18 || tot.Change != refunded || tot.Net() != 4+2+1+2 {
		t.Fatalf("earned %d, change %d (refunded %d), net %d; want 18, 9, 9", tot.Earned, tot.Change, refunded, tot.Net())
	}
	balance, err := g.buyer.Wallet.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if balance != balance0+refunded {
		t.Fatalf("buyer's balance %d, want %d + %d refunded", balance, balance0, refunded)
	}
}

// TestGateRefundLockedToBuyer: a closed session's refund is a token only
// its buyer can redeem (NUT-11 P2PK, the session's buyer key) until the
// gate's RefundLock lapses, and only then can the provider take back one
// the buyer never collected; the change note that carries it is owed
// (state.DB.OwedChangeNotes) from the refund's own transaction. On main
// the refund token was a bearer token: anyone who saw it could redeem it,
// and the provider took back one the buyer had not collected within its
// --reclaim-grace.
func TestGateRefundLockedToBuyer(t *testing.T) {
	for _, c := range []struct {
		name    string
		lock    time.Duration
		collect bool // the buyer redeems it
	}{
		{"only the buyer redeems it", 0, true},
		{"never collected: back to the provider once the lock lapses", 2 * time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			g := startGate(t)
			g.gate.RefundLock = c.lock
			other := g.net.Node(t, "other", 0)
			g.session(t, "s", 1000)
			s, _ := g.stream(t, "s")
			g.pay(t, s, 10)
			g.gate.Close(ctx, s, transport.Usage{Units: 4 << 20})
			if err := g.prov.DB.FinishSession(ctx, "s", "done", "receipt"); err != nil {
				t.Fatal(err)
			}
			provBalance, err := g.prov.Wallet.Balance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			refunds, err := g.gate.RefundClosed(ctx)
			if err != nil || len(refunds) != 1 || refunds[0].Sats != 6 {
				t.Fatalf("refunds %+v (%v), want one of 6 sats", refunds, err)
			}
			r := refunds[0]
			owed, err := g.prov.DB.OwedChangeNotes(ctx, 10)
			if want := (state.ChangeNote{OpID: r.OpID, Buyer: g.bk, Session: "s", Resource: nips.Bandwidth, Sats: 6}); err != nil || len(owed) != 1 || owed[0] != want {
				t.Fatalf("owed change notes %+v (%v), want %+v", owed, err, want)
			}
			if _, err := other.Wallet.Receive(ctx, r.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrLockedToOther) {
				t.Fatalf("another key redeemed the refund: %v", err)
			}
			if _, err := g.prov.Wallet.Reclaim(ctx, r.OpID); !errors.Is(err, cashu.ErrStillLocked) {
				t.Fatalf("the provider took the refund back while locked: %v", err)
			}
			if c.collect {
				rcv, err := g.buyer.Wallet.Receive(ctx, r.Token, cashu.ReceiveOptions{})
				if err != nil || rcv.Amount != 6 {
					t.Fatalf("the buyer redeemed %d sats (%v), want 6", rcv.Amount, err)
				}
				// The provider learns it was redeemed: no note is owed.
				if _, err := g.prov.Wallet.ReclaimStale(ctx, time.Now().Add(time.Second), nil, nil); err != nil {
					t.Fatal(err)
				}
				if owed, err := g.prov.DB.OwedChangeNotes(ctx, 10); err != nil || len(owed) != 0 {
					t.Fatalf("owed change notes after the buyer redeemed: %+v (%v)", owed, err)
				}
				return
			}
			// Past the lock the provider's key spends it (poll: the mint's
			// clock decides).
			deadline := time.Now().Add(15 * time.Second)
			for {
				rc, err := g.prov.Wallet.Reclaim(ctx, r.OpID)
				if err == nil {
					if rc.Amount != 6 {
						t.Fatalf("reclaimed %d sats, want 6", rc.Amount)
					}
					break
				}
				if !errors.Is(err, cashu.ErrStillLocked) || time.Now().After(deadline) {
					t.Fatalf("reclaim past the lock: %v", err)
				}
				select {
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				case <-time.After(100 * time.Millisecond):
				}
			}
			if bal, err := g.prov.Wallet.Balance(ctx); err != nil || bal != provBalance {
				t.Fatalf("provider's balance %d (%v) after taking back the refund, want %d", bal, err, provBalance)
			}
		})
	}
}
