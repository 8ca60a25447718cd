package transport_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// echoServer is a real TCP echo server on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	return tcpServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// tcpServer runs a TCP server on 127.0.0.1 that calls handle for each
// connection (and closes it after), until the test ends; it returns the
// address.
func tcpServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestBandwidthCarriesAndMeters(t *testing.T) {
	target := echoServer(t)
	gate := &meter.Gate{Initial: 0}
	prov := newHost(t)
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	payer := &meter.Payer{Step: 64 << 10}
	conn, err := buyer.DialBandwidth(t.Context(), pid, target, payer)
	if err != nil {
		t.Fatal(err)
	}
	var _ net.Conn = conn
	data := randomBytes(t, 1<<20)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(data)
		if err == nil {
			err = conn.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo: got %d bytes", len(got))
	}
	u := conn.Usage()
	if u.BytesIn != 1<<20 || u.BytesOut != 1<<20 || u.Units != 2<<20 {
		t.Fatalf("buyer usage %+v", u)
	}
	_ = conn.Close()
	paid, payments := payer.Paid()
	// 2 MiB carried with no free credit: at least 32 steps of 64 KiB, and
	// the buyer never pays for much more than it used.
	if payments < 32 || paid < 2<<20 || paid > 2<<20+4*(64<<10) {
		t.Fatalf("paid %d units in %d payments for %d", paid, payments, 2<<20)
	}
	if gate.Redeemed() != payments || gate.Paid() != paid {
		t.Fatalf("gate redeemed %d (%d units), payer made %d (%d)", gate.Redeemed(), gate.Paid(), payments, paid)
	}
}

func TestBandwidthPausesWithoutPayment(t *testing.T) {
	target := echoServer(t)
	gate := &meter.Gate{Initial: 0}
	prov := newHost(t, transport.WithTimeouts(0, 0, 500e6))
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	// The payer's budget covers 100 KiB; the buyer tries 1 MiB.
	payer := &meter.Payer{Step: 50 << 10, Budget: 100 << 10}
	conn, err := buyer.DialBandwidth(t.Context(), pid, target, payer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _, _ = conn.Write(make([]byte, 1<<20)) }()
	got, err := io.ReadAll(conn)
	if err == nil {
		t.Fatal("transfer past the budget ended cleanly")
	}
	if !errors.Is(err, meter.ErrBudgetSpent) && !errors.Is(err, transport.ErrPayTimeout) {
		t.Logf("error: %v", err)
	}
	if u := conn.Usage(); u.Units > 100<<10 {
		t.Fatalf("carried %d units on %d paid", u.Units, 100<<10)
	}
	if len(got) > 100<<10 {
		t.Fatalf("received %d bytes on 100 KiB paid", len(got))
	}
}

func TestBandwidthTargetPolicy(t *testing.T) {
	target := echoServer(t)
	prov := newHost(t)
	prov.ServeBandwidth(transport.BandwidthConfig{}) // default: public targets only
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	tests := []struct {
		name   string
		target string
		want   error
	}{
		{"loopback refused", target, transport.ErrTargetRefused},
		{"no port", "example", transport.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buyer.DialBandwidth(t.Context(), pid, tc.target, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	open := newHost(t)
	open.ServeBandwidth(transport.BandwidthConfig{AllowPrivateTargets: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	_ = ln.Close()
	if _, err := buyer.DialBandwidth(t.Context(), connect(t, buyer, open), closed, nil); !errors.Is(err, transport.ErrTargetRefused) {
		t.Fatalf("closed port: %v", err)
	}
}

// sourceSink is a real TCP server on 127.0.0.1 that, on each connection,
// discards what it reads while it writes size bytes, so both directions of
// a carried connection run at once.
func sourceSink(t *testing.T, size int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = c.Write(make([]byte, size))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestBandwidthNeverCarriesPastCredit drives both directions at once with a
// small budget, session after session, and checks every time that neither
// the provider nor the buyer counts more units than were paid.
func TestBandwidthNeverCarriesPastCredit(t *testing.T) {
	const rounds = 8
	tests := []struct {
		name          string
		initial       uint64
		step, budget  uint64
		source, write int
	}{
		{"small steps", 0, 4 << 10, 20 << 10, 256 << 10, 256 << 10},
		{"tiny steps", 0, 1 << 10, 3 << 10, 64 << 10, 64 << 10},
		{"frame steps", 0, 32 << 10, 64 << 10, 512 << 10, 512 << 10},
		{"free credit first", 10 << 10, 3 << 10, 12 << 10, 256 << 10, 256 << 10},
	}
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := sourceSink(t, tc.source)
			for round := range rounds {
				gate := &meter.Gate{Initial: tc.initial}
				prov := newHost(t, transport.WithTimeouts(0, 0, 500e6))
				prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
				payer := &meter.Payer{Step: tc.step, Budget: tc.budget}
				conn, err := buyer.DialBandwidth(t.Context(), connect(t, buyer, prov), target, payer)
				if err != nil {
					t.Fatal(err)
				}
				wrote := make(chan struct{})
				go func() {
					defer close(wrote)
					_, _ = conn.Write(make([]byte, tc.write))
				}()
				got, err := io.ReadAll(conn)
				if err == nil {
					t.Fatalf("round %d: transfer past the budget ended cleanly", round)
				}
				_ = conn.Close()
				<-wrote
				_ = prov.Close() // waits for the provider's session to end
				paid := gate.Paid() + tc.initial
				u := conn.Usage()
				if u.Units > paid || uint64(len(got)) > paid || u.BytesIn+u.BytesOut != u.Units {
					t.Fatalf("round %d: buyer counted %+v, received %d, on %d paid", round, u, len(got), paid)
				}
				if u.BytesOut != uint64(len(got)) {
					t.Fatalf("round %d: buyer counted %d received, read %d", round, u.BytesOut, len(got))
				}
				closed := gate.Closed()
				if len(closed) != 1 {
					t.Fatalf("round %d: %d sessions closed", round, len(closed))
				}
				pu := closed[0]
				if pu.Units > paid || pu.BytesIn+pu.BytesOut != pu.Units {
					t.Fatalf("round %d: provider carried %+v on %d paid", round, pu, paid)
				}
				if pu.BytesOut < u.BytesOut || pu.BytesIn > u.BytesIn {
					t.Fatalf("round %d: provider %+v and buyer %+v disagree", round, pu, u)
				}
				if bought, _ := payer.Paid(); bought < gate.Paid() || u.Units == 0 {
					t.Fatalf("round %d: payer paid %d, gate redeemed %d, carried %d (%v)", round, bought, gate.Paid(), u.Units, err)
				}
			}
		})
	}
}
