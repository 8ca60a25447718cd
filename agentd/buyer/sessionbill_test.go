package buyer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestConcurrentSessionsBilledApart: one buyer holds two storage sessions
// and two bandwidth sessions with one provider (real relay, mint, libp2p
// hosts) and uses all four at once. The provider books every payment and
// every unit used to the session the stream named: each session's usage
// is exactly its own traffic, its paid amount exactly what the buyer paid
// in it, its unused credit exactly what it bought less what it used, and
// each storage session holds its own chunks (retention). A stream naming
// another buyer's session or a closed one is refused.
func TestConcurrentSessionsBilledApart(t *testing.T) {
	ctx := t.Context()
	net0 := agentdtest.Start(t)
	echo := startEcho(t)
	pcfg := storageCfg(100_000)
	pcfg.Bandwidth = &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}
	p := startProvider(t, net0, "prov", pcfg)
	bn := net0.Node(t, "buyer", 1000)
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(r nips.Resource, quantity, duration uint64) *Session {
		t.Helper()
		cands, err := b.Discover(ctx, r, "")
		if err != nil || len(cands) != 1 {
			t.Fatalf("discover %s: %d candidates, %v", r, len(cands), err)
		}
		s, err := b.Open(ctx, cands[0], quantity, duration, "")
		if err != nil {
			t.Fatalf("open %s session: %v", r, err)
		}
		return s
	}
	// Two storage sessions of different durations (so different charges
	// per byte), two bandwidth sessions; the second of each is the newest.
	stA, stB := open(nips.Storage, 1, 86400), open(nips.Storage, 1, 3*86400)
	// (Bids that differ: two identical bids in one second are one event.)
	bwA, bwB := open(nips.Bandwidth, 16, 0), open(nips.Bandwidth, 17, 0)

	chunks, want, size := useAtOnce(t, bn.Host, echo.Addr().String(), stA, stB, bwA, bwB)
	bill := func(id string) (prov, buyer state.Session) {
		t.Helper()
		prov, err1 := p.Node.DB.GetSession(ctx, id)
		buyer, err2 := bn.DB.GetSession(ctx, id)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		return prov, buyer
	}
	var refunds uint64
	for _, s := range []*Session{stA, stB, bwA, bwB} {
		b.settle(ctx, s) // ends the session's streams, then its receipt: the provider has booked all
		ps, bs := bill(s.ID)
		if ps.Delivered != want[s.ID] {
			t.Errorf("%s session %s: provider booked %d units used, want its own %d", s.Offer.Resource, s.ID[:8], ps.Delivered, want[s.ID])
		}
		if bs.PaidMsat == 0 || ps.PaidMsat != bs.PaidMsat {
			t.Errorf("%s session %s: provider booked %d msat paid, the buyer paid %d in it", s.Offer.Resource, s.ID[:8], ps.PaidMsat, bs.PaidMsat)
		}
		rate, err := metering.RateFor(s.Offer.Resource, s.Match.Prices, s.Match.Duration)
		if err != nil {
			t.Fatal(err)
		}
		if cost := rate.MsatFor(want[s.ID]); ps.PaidMsat < cost {
			t.Errorf("%s session %s: paid %d msat for use costing %d", s.Offer.Resource, s.ID[:8], ps.PaidMsat, cost)
		}
		// The units the session paid for and did not use are its own
		// credit (no other session's stream took them, nor added to
		// them), refunded now that its receipt closed it: the refund is
		// what they are worth at its rate.
		bought := rate.UnitsFor(ps.PaidMsat / 1000)
		refunds += rate.SatsWithin(bought - min(bought, ps.Delivered))
		eventually(t, "the closed session's credit refunded", func() bool {
			credit, err := p.Node.DB.Credit(ctx, bn.Key.Pubkey, s.Offer.Resource, s.ID)
			return err == nil && credit == 0
		})
	}
	// Sats conserved: the provider's change is the refunds due, and the
	// buyer collects exactly that from its change notes.
	if tot, err := p.Node.DB.Totals(ctx, time.Time{}); err != nil || tot.Change != refunds {
		t.Errorf("provider returned %d sats of change (%v), want the %d of unused credit", tot.Change, err, refunds)
	}
	// (A note goes out once its token is journaled: poll.)
	var collected uint64
	eventually(t, "the buyer collects the refunds", func() bool {
		got, err := b.CollectChange(ctx)
		collected += got
		return err == nil && collected >= refunds
	})
	if collected != refunds {
		t.Errorf("buyer collected %d sats of refunds, want %d", collected, refunds)
	}
	// Retention: each storage session holds its own chunks.
	for _, s := range []*Session{stA, stB} {
		_, n, got, err := p.Node.DB.SessionChunks(ctx, s.ID, 100)
		if err != nil || n != len(chunks[s.ID]) || got != size[s.ID] {
			t.Errorf("storage session %s holds %d chunks, %d bytes (%v); want its own %d, %d bytes", s.ID[:8], n, got, err, len(chunks[s.ID]), size[s.ID])
		}
	}

	// Another buyer naming these sessions is refused, as is a stream
	// naming a session of its own once the session is closed.
	on := net0.Node(t, "other", 100)
	ob, err := New(ctx, on, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := ob.Discover(ctx, nips.Storage, "")
	if err != nil || len(cands) != 1 {
		t.Fatalf("discover: %d %v", len(cands), err)
	}
	own, err := ob.Open(ctx, cands[0], 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("not yours")
	theirs := &metering.Payer{Market: stB.ID}
	err = on.Host.Storage(stB.Peer, theirs).Put(ctx, chunk.Sum(data), data)
	if !errors.Is(err, transport.ErrSessionRefused) {
		t.Fatalf("put naming another buyer's session: %v, want ErrSessionRefused", err)
	}
	_, err = on.Host.DialBandwidth(ctx, bwB.Peer, echo.Addr().String(), &metering.Payer{Market: bwB.ID})
	if !errors.Is(err, transport.ErrSessionRefused) {
		t.Fatalf("bandwidth naming another buyer's session: %v, want ErrSessionRefused", err)
	}
	// A storage session does not pay for carried bytes.
	_, err = on.Host.DialBandwidth(ctx, own.Peer, echo.Addr().String(), &metering.Payer{Market: own.ID})
	if !errors.Is(err, transport.ErrSessionRefused) || !strings.Contains(err.Error(), "is for storage") {
		t.Fatalf("bandwidth naming a storage session: %v, want ErrSessionRefused", err)
	}
	if err := p.Node.DB.FinishSession(ctx, own.ID, "done", ""); err != nil {
		t.Fatal(err)
	}
	err = on.Host.Storage(own.Peer, own.Payer).Put(ctx, chunk.Sum(data), data)
	if !errors.Is(err, transport.ErrSessionRefused) {
		t.Fatalf("put naming a closed session: %v, want ErrSessionRefused", err)
	}
	if ps, _ := bill(stB.ID); ps.Delivered != want[stB.ID] {
		t.Fatalf("refused streams changed session %s: %d units", stB.ID[:8], ps.Delivered)
	}
}

// echoThrough carries n random bytes to the echo server through session
// s's provider and checks they come back.
func echoThrough(t *testing.T, h *transport.Host, s *Session, echo string, n int) error {
	t.Helper()
	c, err := h.DialBandwidth(t.Context(), s.Peer, echo, s.Payer)
	if err != nil {
		return err
	}
	defer c.Close()
	payload := make([]byte, n)
	rand.Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err := errors.Join(err, <-werr); err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return errors.New("echoed bytes differ")
	}
	return nil
}

// useAtOnce uses two storage sessions and two bandwidth sessions of one
// buyer (host h) at once: each storage session puts its own chunks, each
// bandwidth session echoes its own bytes through echoAddr. It returns the
// chunks each storage session stored, and the units and bytes each session
// used.
func useAtOnce(t *testing.T, h *transport.Host, echoAddr string, stA, stB, bwA, bwB *Session) (chunks map[string][][]byte, units, size map[string]uint64) {
	t.Helper()
	ctx := t.Context()
	chunks = map[string][][]byte{}
	for s, n := range map[*Session]int{stA: 3, stB: 5} {
		for i := range n {
			c := make([]byte, (100+50*i)<<10)
			rand.Read(c)
			chunks[s.ID] = append(chunks[s.ID], c)
		}
	}
	echoed := map[string]int{bwA.ID: 300 << 10, bwB.ID: 700 << 10}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, s := range []*Session{stA, stB} {
		sc := h.Storage(s.Peer, s.Payer)
		for _, c := range chunks[s.ID] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- sc.Put(ctx, chunk.Sum(c), c)
			}()
		}
	}
	for _, s := range []*Session{bwA, bwB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoThrough(t, h, s, echoAddr, echoed[s.ID])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	units, size = map[string]uint64{}, map[string]uint64{}
	for _, s := range []*Session{stA, stB} {
		for _, c := range chunks[s.ID] {
			units[s.ID] += metering.StorageUnits(s.Match.Prices, s.Match.Duration, market.OpStore, uint64(len(c)))
			size[s.ID] += uint64(len(c))
		}
	}
	for id, n := range echoed {
		units[id], size[id] = 2*uint64(n), 2*uint64(n) // carried both ways
	}
	return chunks, units, size
}
