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
				_, _ = io.Copy(c, c)
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
