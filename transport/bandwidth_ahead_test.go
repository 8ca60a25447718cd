package transport_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// slowGate is a meter.Gate whose redeems after the first wait until
// release is closed, announcing each on started.
type slowGate struct {
	meter.Gate
	n       atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (g *slowGate) Redeem(ctx context.Context, s transport.Session, token []byte) (uint64, error) {
	if g.n.Add(1) > 1 {
		g.started <- struct{}{}
		<-g.release
	}
	return g.Gate.Redeem(ctx, s, token)
}

// aheadPayer is a meter.Payer that counts payments ahead (Need 0).
type aheadPayer struct {
	meter.Payer
	ahead atomic.Int32
}

func (p *aheadPayer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	if inv.Need == 0 {
		p.ahead.Add(1)
	}
	return p.Payer.Pay(ctx, inv)
}

// pausingTarget is a TCP server that writes first bytes to each
// connection, waits until more is closed (or the test ends), then writes
// rest bytes.
func pausingTarget(t *testing.T, first, rest int) (addr string, more chan struct{}) {
	t.Helper()
	more = make(chan struct{})
	addr = tcpServer(t, func(c net.Conn) {
		if _, err := c.Write(make([]byte, first)); err != nil {
			return
		}
		select {
		case <-more:
		case <-t.Context().Done():
			return
		}
		_, _ = c.Write(make([]byte, rest))
	})
	return addr, more
}

// The buyer pays the next step ahead of need, once less than half of the
// last step's credit is left, and the provider keeps carrying the credit
// left while it redeems that payment: a mint swap does not stop a
// download. The target sends 5/8 of a step, waits, then the rest: the
// second part arrives while the payment ahead is still being redeemed.
func TestBandwidthPaysAheadAndCarriesWhileRedeeming(t *testing.T) {
	const step = 256 << 10
	const first, second, rest = 5 * step / 8, 3 * step / 8, step
	target, more := pausingTarget(t, first, second+rest)
	gate := &slowGate{started: make(chan struct{}, 4), release: make(chan struct{})}
	prov := newHost(t)
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	payer := &aheadPayer{Payer: meter.Payer{Step: step}}
	conn, err := buyer.DialBandwidth(t.Context(), pid, target, payer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, first)); err != nil {
		t.Fatalf("first part: %v", err)
	}
	// Less than half a step is left: the buyer pays ahead.
	select {
	case <-gate.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no payment ahead after 5/8 of the step was used")
	}
	if payer.ahead.Load() == 0 {
		t.Fatal("the second payment was not a payment ahead")
	}
	// While the provider redeems it, the credit left still carries data.
	close(more)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, second)); err != nil {
		t.Fatalf("the credit left was not carried while the payment ahead was redeemed: %v", err)
	}
	close(gate.release)
	released = true
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, rest)); err != nil {
		t.Fatalf("after the payment ahead: %v", err)
	}
	// Paid ahead, never more than a step past what was used.
	if paid, _ := payer.Paid(); paid > conn.Usage().Units+step {
		t.Fatalf("paid %d units for %d used", paid, conn.Usage().Units)
	}
}

// stepPayer is an aheadPayer that tells its step (transport.StepPayer),
// recording the Need of every invoice it is asked to pay.
type stepPayer struct {
	aheadPayer
	mu    sync.Mutex
	needs []uint64
}

func (p *stepPayer) StepUnits() uint64 { return p.Step }

func (p *stepPayer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	p.mu.Lock()
	p.needs = append(p.needs, inv.Need)
	p.mu.Unlock()
	return p.aheadPayer.Pay(ctx, inv)
}

func (p *stepPayer) invoices() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]uint64(nil), p.needs...)
}

// A connection that starts with less than half a step of the session's
// credit left pays its first step ahead, as it pays the later ones, when
// its Payer tells the step (a StepPayer): the download does not first
// stop at the provider's pause point. The target sends an eighth of a
// step and waits: the payment ahead is made while the credit left (a
// quarter of a step) is not used up, so no pause point asked for it.
func TestBandwidthPaysFirstStepAhead(t *testing.T) {
	const step = 256 << 10
	const initial, first, rest = step / 4, step / 8, 2 * step
	target, more := pausingTarget(t, first, rest)
	gate := &meter.Gate{Initial: initial}
	prov := newHost(t)
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	payer := &stepPayer{aheadPayer: aheadPayer{Payer: meter.Payer{Step: step}}}
	conn, err := buyer.DialBandwidth(t.Context(), pid, target, payer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, first)); err != nil {
		t.Fatalf("first part: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gate.Redeemed() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no payment redeemed while %d of %d units of credit were left (invoices %v)", initial-first, initial, payer.invoices())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if needs := payer.invoices(); len(needs) == 0 || needs[0] != 0 {
		t.Fatalf("first payment's invoice needs %v, want a payment ahead (0)", needs)
	}
	close(more)
	if _, err := io.ReadFull(conn, make([]byte, rest)); err != nil {
		t.Fatalf("after the payment ahead: %v", err)
	}
	// Paid ahead only while less than half a step was left: the credit
	// never runs more than a step and a half past what was used.
	if paid, _ := payer.Paid(); initial+paid >= conn.Usage().Units+3*step/2 {
		t.Fatalf("paid %d units beyond an initial credit of %d for %d used", paid, initial, conn.Usage().Units)
	}
}

// The provider reads the target for several DATA frames at once and lays
// them out in place; where the credit ends inside a frame (the buyer's
// upload took some of it between the read and the debit), the rest goes
// as a frame of its own once paid. Every byte arrives once and in order,
// whatever the credit's and the steps' boundaries.
func TestBandwidthDownloadAcrossCreditBoundaries(t *testing.T) {
	tests := []struct {
		name          string
		initial, step uint64
		size, upload  int
	}{
		{"steps inside frames", 100_003, 70_001, 1<<20 + 12_345, 0},
		{"a step of one byte more than a frame", 65_520, 65_520, 700_000, 0},
		{"credit for everything", 1 << 30, 1, 3<<20 + 7, 0},
		{"small steps", 1, 4_099, 300_001, 0},
		{"an upload taking credit meanwhile", 30_011, 50_021, 2<<20 + 3, 2 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]byte, tc.size)
			for i := range want {
				want[i] = byte(i*7 + i>>11)
			}
			target := tcpServer(t, func(c net.Conn) {
				done := make(chan struct{})
				go func() { _, _ = c.Write(want); close(done) }()
				_, _ = io.CopyN(io.Discard, c, int64(tc.upload))
				<-done
			})
			prov := newHost(t)
			prov.ServeBandwidth(transport.BandwidthConfig{Gate: &meter.Gate{Initial: tc.initial}, AllowPrivateTargets: true})
			buyer := newHost(t)
			pid := connect(t, buyer, prov)
			conn, err := buyer.DialBandwidth(t.Context(), pid, target, &meter.Payer{Step: tc.step})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			upErr := make(chan error, 1)
			go func() {
				_, err := conn.Write(make([]byte, tc.upload))
				upErr <- err
			}()
			got, err := io.ReadAll(conn)
			if err == nil {
				err = <-upErr
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("got %d bytes, want %d; first difference at %d", len(got), len(want), i)
			}
		})
	}
}
