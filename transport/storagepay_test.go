package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
	"github.com/sovmesh/sovmesh/transport/store"
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

// holdPayer is a meter.Payer whose payment number hold is held until
// release (a slow mint swap on the buyer's side); held is closed when it
// starts.
type holdPayer struct {
	meter.Payer
	hold          int
	held, release chan struct{}
	mu            sync.Mutex
	calls         int
}

func (p *holdPayer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if n == p.hold {
		close(p.held)
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return p.Payer.Pay(ctx, inv)
}

// holdNthGate is a meter.Gate whose redemption number hold is held until
// release (a slow mint swap on the provider's side).
type holdNthGate struct {
	meter.Gate
	hold    int
	release chan struct{}
	mu      sync.Mutex
	started int
}

func (g *holdNthGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	g.mu.Lock()
	g.started++
	n := g.started
	g.mu.Unlock()
	if n == g.hold {
		<-g.release
	}
	return g.Gate.Redeem(ctx, s, tok)
}

// TestStorageWaitBehindPaymentAhead: a request queued behind another
// stream's payment ahead waits for the buyer's payment and then the
// provider's redemption, each shorter than the stream timeout but longer
// together; it is served, not failed with a timeout: the buyer's streams
// to a provider it is paying wait for the answer as long as a stream at a
// pause point would (a stream timeout after the payment was sent).
func TestStorageWaitBehindPaymentAhead(t *testing.T) {
	const streamTimeout = time.Second
	timeouts := transport.WithTimeouts(streamTimeout, 10*time.Second, 5*time.Second)
	gate := &holdNthGate{hold: 3, release: make(chan struct{})}
	prov, _ := newProvider(t, 0, gate, timeouts)
	buyer := newHost(t, timeouts)
	payer := &holdPayer{Payer: meter.Payer{Step: 20000}, hold: 3, held: make(chan struct{}), release: make(chan struct{})}
	releasePay, releaseGate := sync.OnceFunc(func() { close(payer.release) }), sync.OnceFunc(func() { close(gate.release) })
	defer releasePay() // before the hosts close: they wait for both
	defer releaseGate()
	sc := buyer.Storage(connect(t, buyer, prov), payer)
	ctx := ctxTimeout(t, 20e9)
	chunks := make([][]byte, 5)
	for i := range chunks {
		chunks[i] = bytes.Repeat([]byte{byte(i + 1)}, 10000)
	}
	put := func(i int) error { return sc.Put(ctx, chunk.Sum(chunks[i]), chunks[i]) }
	// Steps of two puts. The first put pays at its pause point and the
	// second step ahead; the third put leaves less than a step, so the
	// third step is asked ahead on its stream, and the buyer's payment is
	// slow.
	for i := range 2 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}
	third := make(chan error, 1)
	go func() { third <- put(2) }()
	<-payer.held
	// The fourth uses the rest of the credit; the fifth is past it and
	// waits behind the payment in flight.
	if err := put(3); err != nil {
		t.Fatal(err)
	}
	fifth := make(chan error, 1)
	go func() { fifth <- put(4) }()
	// The buyer's payment takes 0.7 of the stream timeout, then the
	// provider's redemption as long: the fifth put waits 1.4 of it.
	hold := 7 * streamTimeout / 10
	select {
	case err := <-fifth:
		t.Fatalf("fifth put ended while the payment was held: %v", err)
	case <-time.After(hold):
	}
	releasePay()
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-fifth:
		t.Fatalf("fifth put ended while the redemption was held: %v", err)
	case <-time.After(hold):
	}
	releaseGate()
	if err := <-fifth; err != nil {
		t.Fatalf("fifth put: %v", err)
	}
}

// countGate is a meter.Gate that closes second when a second redemption
// starts.
type countGate struct {
	meter.Gate
	second  chan struct{}
	mu      sync.Mutex
	started int
}

func (g *countGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	g.mu.Lock()
	g.started++
	if g.started == 2 {
		close(g.second)
	}
	g.mu.Unlock()
	return g.Gate.Redeem(ctx, s, tok)
}

// waitStore is a chunk store whose first put waits (a bounded while) for
// ready to close, and fails if it does not.
type waitStore struct {
	*store.Store
	ready <-chan struct{}
	once  sync.Once
}

func (s *waitStore) Put(c chunk.CID, owner [32]byte, data []byte) error {
	first := false
	s.once.Do(func() { first = true })
	if first {
		select {
		case <-s.ready:
		case <-time.After(5 * time.Second):
			return errors.New("waitStore: no payment ahead was redeemed while the chunk was being stored")
		}
	}
	return s.Store.Put(c, owner, data)
}

// TestStoragePaymentAheadBeforeStore (issue 13, point 7): a put that
// leaves less than a step of credit asks for the next step before its
// chunk is stored, so that the redemption runs while the chunk is hashed,
// written and committed, not after (asked after the store, the payments
// and the stores took turns and the streams waited for credit).
func TestStoragePaymentAheadBeforeStore(t *testing.T) {
	gate := &countGate{second: make(chan struct{})}
	st, err := store.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	prov := newHost(t)
	prov.ServeStorage(&waitStore{Store: st, ready: gate.second}, gate)
	buyer := newHost(t)
	payer := &meter.Payer{Step: 20000}
	sc := buyer.Storage(connect(t, buyer, prov), payer)
	ctx := ctxTimeout(t, 20e9)
	tests := []struct {
		name string
		data []byte
	}{
		// The first put pays its step at the pause point and leaves half
		// a step: the next is asked ahead, before the chunk is stored.
		{"first put, paying ahead", bytes.Repeat([]byte{1}, 10000)},
		{"second put, on the credit paid ahead", bytes.Repeat([]byte{2}, 10000)},
	}
	for _, tt := range tests {
		if err := sc.Put(ctx, chunk.Sum(tt.data), tt.data); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := st.Get(chunk.Sum(tt.data), nil)
		if err != nil || !bytes.Equal(got, tt.data) {
			t.Fatalf("%s: stored %d bytes (%v), want the chunk put", tt.name, len(got), err)
		}
	}
	if _, payments := payer.Paid(); payments != 2 {
		t.Fatalf("%d payments, want 2", payments)
	}
}
