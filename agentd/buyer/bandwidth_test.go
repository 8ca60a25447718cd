package buyer

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/state"
)

func TestSOCKSOverBandwidth(t *testing.T) {
	ctx := t.Context()
	net0 := agentdtest.Start(t)
	echo := startEcho(t)
	pcfg := provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}}
	p := startProvider(t, net0, "bw", pcfg)
	bn := net0.Node(t, "buyer", 1000)
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, err := b.ServeSOCKS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ea := echo.Addr().(*net.TCPAddr)
	c.Write([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, byte(ea.Port >> 8), byte(ea.Port)})
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[3] != 0 {
		t.Fatalf("socks reply %v %v", rep, err)
	}
	payload := make([]byte, 3<<20)
	rand.Read(payload)
	go c.Write(payload)
	got := make([]byte, len(payload))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("bytes differ through the proxy")
	}
	c.Close()
	b.Close(ctx)
	// The provider may still be recording the last step it redeemed, and
	// refunds the closed session's unused credit in a change note, which
	// the buyer collects.
	var tot, bt state.Totals
	for range 50 {
		_, _ = b.CollectChange(ctx)
		bt, _ = bn.DB.Totals(ctx, time.Time{})
		tot, _ = p.Node.DB.Totals(ctx, time.Time{})
		if tot.Net() == bt.NetSpent() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// 6 MiB carried (both ways) at 1 sat per MiB: at least 6 sats.
	if tot.Net() < 6 {
		t.Fatalf("provider earned %d sats for 6 MiB", tot.Net())
	}
	if bt.NetSpent() != tot.Net() {
		t.Fatalf("buyer spent %d, provider earned %d", bt.NetSpent(), tot.Net())
	}
}

// TestBandwidthProviderRestarted: a provider that restarts (same key, new
// ports) carries the buyer's next connection; its stale session and
// addresses do not keep the buyer away for the minute a dead mark lasts.
func TestBandwidthProviderRestarted(t *testing.T) {
	ctx := t.Context()
	net0 := agentdtest.Start(t)
	echo := startEcho(t)
	pcfg := provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}}
	p := startProvider(t, net0, "bw", pcfg)
	b, err := New(ctx, net0.Node(t, "buyer", 1000), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	roundTrip := func(step string) {
		t.Helper()
		c, err := b.DialBandwidth(ctx, echo.Addr().String())
		if err != nil {
			t.Fatalf("%s: dial: %v", step, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := []byte("through the provider: " + step)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("%s: write: %v", step, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: echo %q %v", step, got, err)
		}
	}
	roundTrip("before the restart")
	oldAddrs := p.Node.Host.LibP2P().Addrs()
	p.Kill()
	_ = p.Node.Close()
	// The restarted provider's clock is a second ahead: a replaceable
	// offer with the same created_at as the old one would lose to it on a
	// lower id.
	p2 := startProviderWith(t, net0, "bw", pcfg, func(c *agentd.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Second) }
	})
	if p2.Node.Key.Pubkey != p.Node.Key.Pubkey {
		t.Fatal("the restarted provider has another key")
	}
	if newAddrs := p2.Node.Host.LibP2P().Addrs(); len(newAddrs) > 0 && len(oldAddrs) > 0 && newAddrs[0].Equal(oldAddrs[0]) {
		t.Fatalf("the restarted provider listens where it did (%s): the test needs new ports", newAddrs[0])
	}
	roundTrip("after the restart")
}

// startEcho runs a TCP echo server on 127.0.0.1 until the test ends.
func startEcho(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln
}
