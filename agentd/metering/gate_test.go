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

const buyerKey = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"

// gateNet is a provider's bandwidth gate (real wallet, state database and
// dev mint) and a funded buyer wallet to pay it with.
type gateNet struct {
	gate  *metering.Gate
	prov  *agentd.Node
	buyer *agentd.Node
	n     int
}

func startGate(t *testing.T) *gateNet {
	t.Helper()
	net0 := agentdtest.Start(t)
	prov := net0.Node(t, "prov", 0)
	return &gateNet{
		gate:  &metering.Gate{Wallet: prov.Wallet, DB: prov.DB, Resource: nips.Bandwidth, Log: agentdtest.Logger()},
		prov:  prov,
		buyer: net0.Node(t, "buyer", 200),
	}
}

// session records an open provider bandwidth session of the buyer at
// msatPerMiB.
func (g *gateNet) session(t *testing.T, id string, msatPerMiB uint64) {
	t.Helper()
	if err := g.prov.DB.PutSession(t.Context(), state.Session{ID: id, Role: state.RoleProvider, Resource: nips.Bandwidth,
		Counterparty: buyerKey, Prices: nips.Prices{{Unit: nips.UnitMiB, Msat: msatPerMiB}}, Quantity: 100, AmountMsat: 100 * msatPerMiB}); err != nil {
		t.Fatal(err)
	}
}

// stream opens a gate stream naming market session market.
func (g *gateNet) stream(t *testing.T, market string) (transport.Session, uint64) {
	t.Helper()
	g.n++
	s := transport.Session{ID: market + "-" + string(rune('a'+g.n)), Protocol: transport.BandwidthProtocol, Buyer: buyerKey, Market: market}
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
		credit, err := g.prov.DB.Credit(ctx, buyerKey, nips.Bandwidth, c.id)
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
// after it is cut (neither its usage nor its unused credit is booked, so
// the session's record stays what the receipt says), and the sealed
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
		_, err := g.gate.Open(ctx, transport.Session{ID: "probe", Buyer: buyerKey, Market: "s"})
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
	credit, err := g.prov.DB.Credit(ctx, buyerKey, nips.Bandwidth, "s")
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 1<<20 || st.PaidMsat != 8000 || credit != 3<<20 {
		t.Fatalf("session booked %d units used, %d msat paid, %d credit; want the early stream's 1 MiB, 8000, 3 MiB", st.Delivered, st.PaidMsat, credit)
	}
	g.gate.Unseal("s")
	if _, c := g.stream(t, "s"); c != 3<<20 {
		t.Fatalf("after Unseal a stream got %d units, want the 3 MiB kept", c)
	}
}
