package metering_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// TestKilledStreamLosesAtMostAStep: a bandwidth stream through real
// libp2p hosts, paid step by step with real Cashu tokens, carries 8 steps
// and stays open; what the provider's database holds then is what a
// SIGKILL would leave (every write is committed before the stream goes
// on). The session's credit there is what was paid less the usage booked
// at the pause points: never less than what the buyer really has left,
// and more by at most what the stream carried since its last payment (a
// step and a half: a step paid ahead, asked with half a step left). On
// main the usage was written only at Close: the credit left was every
// unit paid, the 8 steps carried lost.
func TestKilledStreamLosesAtMostAStep(t *testing.T) {
	const step = 1 << 20 // a sat at 1 sat/MiB
	const carried = 8 * step
	ctx := t.Context()
	g := startGate(t)
	sess := strings.Repeat("5e", 32)
	g.session(t, sess, 1000)
	if err := g.prov.StartHost(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.buyer.StartHost(ctx); err != nil {
		t.Fatal(err)
	}
	g.prov.Host.ServeBandwidth(transport.BandwidthConfig{Gate: g.gate, AllowPrivateTargets: true})

	// The target sends carried bytes, then holds the connection open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, carried)); err != nil {
			return
		}
		<-ctx.Done()
	}()

	rate, err := metering.RateFor(nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: 1000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	payer := &metering.Payer{Wallet: g.buyer.Wallet, DB: g.buyer.DB, Session: sess, Market: sess, Provider: g.prov.Key.Pubkey,
		Resource: nips.Bandwidth, Rate: rate, Step: step}
	pid, err := g.buyer.Host.Connect(ctx, g.prov.Host.NostrPubkey(), g.prov.Host.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := g.buyer.Host.DialBandwidth(ctx, pid, ln.Addr().String(), payer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, carried)); err != nil {
		t.Fatalf("read what the target sent: %v", err)
	}

	// The stream is open: read what a kill would leave.
	tot, err := g.prov.DB.Totals(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	paid := tot.Earned * step // units: 1 sat per MiB
	credit, err := g.prov.DB.Credit(ctx, g.bk, nips.Bandwidth, sess)
	if err != nil {
		t.Fatal(err)
	}
	if paid < carried {
		t.Fatalf("paid %d units for %d carried", paid, carried)
	}
	left := paid - carried
	if credit < left || credit-left > 3*step/2 {
		t.Fatalf("with the stream open the provider's database holds %d units of credit: %d paid, %d carried; "+
			"want between %d and %d (a step and a half not booked)", credit, paid, carried, left, left+3*step/2)
	}
}
