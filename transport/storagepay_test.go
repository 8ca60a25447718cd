package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// TestStorageStreamsShareCredit (issue 13, point 7): a buyer's parallel
// storage streams to one provider draw on one credit, so a put and a get
// over 8 streams pay in about as many steps as the data needs, not a step
// per stream, and never more than two steps ahead of what was used.
func TestStorageStreamsShareCredit(t *testing.T) {
	gate := &meter.Gate{}
	prov, _ := newProvider(t, 0, gate)
	buyer := newHost(t)
	const step = 512 << 10
	payer := &meter.Payer{Step: step}
	pid := connect(t, buyer, prov)
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	ctx := t.Context()
	ref, _, err := buyer.Put(ctx, bytes.NewReader(data), []peer.ID{pid},
		transport.PutOptions{ChunkSize: 64 << 10, Streams: 8, Payer: payer, AuditShards: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := buyer.Get(ctx, ref, &got, transport.GetOptions{Streams: 8, Payer: payer}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("get returned other bytes")
	}
	if err := prov.Close(); err != nil { // every stream closed: usage recorded
		t.Fatal(err)
	}
	var used uint64
	for _, u := range gate.Closed() {
		used += u.Units
	}
	paid, payments := payer.Paid()
	// Put and get each carry 64 shards of 64 KiB+16 and the manifest.
	if lo := uint64(2 * len(data)); used < lo {
		t.Fatalf("used %d units, want at least %d", used, lo)
	}
	if paid < used || paid > used+2*step {
		t.Fatalf("paid %d units for %d used: want at most two steps (%d) ahead", paid, used, 2*step)
	}
	if most := int(used/step) + 3; payments > most {
		t.Fatalf("%d payments for %d units in steps of %d: streams paid separately (want at most %d)", payments, used, step, most)
	}
	if gate.Redeemed() != payments {
		t.Fatalf("gate redeemed %d of %d payments", gate.Redeemed(), payments)
	}
}

// holdGate redeems like meter.Gate but holds every redemption after the
// first until release is closed.
type holdGate struct {
	meter.Gate
	release chan struct{}
	mu      sync.Mutex
	started int
}

func (g *holdGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	g.mu.Lock()
	g.started++
	n := g.started
	g.mu.Unlock()
	if n > 1 {
		<-g.release
	}
	return g.Gate.Redeem(ctx, s, tok)
}

func (g *holdGate) redeemsStarted() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started
}

// TestStoragePaymentAhead: the provider asks for the next step while the
// credit still covers requests, and serves them while that payment is
// being redeemed (at the mint, in agentd); a request past the credit waits
// for that redemption and is then served without another payment.
func TestStoragePaymentAhead(t *testing.T) {
	gate := &holdGate{release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
	}()
	prov, _ := newProvider(t, 0, gate)
	buyer := newHost(t)
	payer := &meter.Payer{Step: 20000}
	sc := buyer.Storage(connect(t, buyer, prov), payer)
	ctx := ctxTimeout(t, 20e9)
	chunks := make([][]byte, 3)
	for i := range chunks {
		chunks[i] = bytes.Repeat([]byte{byte(i + 1)}, 10000)
	}
	// The first put pays its step at the pause point; the provider then
	// asks for the next step ahead, and its redemption is held.
	if err := sc.Put(ctx, chunk.Sum(chunks[0]), chunks[0]); err != nil {
		t.Fatal(err)
	}
	if err := sc.Put(ctx, chunk.Sum(chunks[1]), chunks[1]); err != nil {
		t.Fatal(err)
	}
	if n := gate.redeemsStarted(); n != 2 {
		t.Fatalf("%d redemptions started after two puts: no payment was asked ahead", n)
	}
	if _, payments := payer.Paid(); payments != 2 {
		t.Fatalf("%d payments, want 2", payments)
	}
	// The third put is past the redeemed credit: it waits for the held
	// redemption, then is served by it.
	done := make(chan error, 1)
	go func() { done <- sc.Put(ctx, chunk.Sum(chunks[2]), chunks[2]) }()
	close(gate.release)
	released = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if paid, _ := payer.Paid(); paid < 30000 || paid > 30000+2*20000 {
		t.Fatalf("paid %d units for 30000 used", paid)
	}
}
