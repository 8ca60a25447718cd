package buyer

import (
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
)

// TestOpenBidSessionsBilledApart: issue 14 point 2 for sessions that open
// bids found. One buyer's four open bids (two storage, two bandwidth) are
// proposed by the relay's engine to one provider, who confirms each; the
// buyer uses the four sessions at once. The provider books each payment,
// each unit used and each stored chunk to the session the stream named,
// and signs one receipt per session saying what that session was paid and
// delivered.
func TestOpenBidSessionsBilledApart(t *testing.T) {
	ctx := t.Context()
	srv, m, net := marketNet(t)
	echo := startEcho(t)
	pcfg := storageCfg(100_000)
	pcfg.Storage.Quota = 2 << 30 // capacity 2: one unit per storage bid
	pcfg.Bandwidth = &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}
	p := startProvider(t, net, "prov", pcfg)
	bn := net.Node(t, "buyer", 1000)
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(r nips.Resource, quantity, duration uint64) *Session {
		t.Helper()
		s, err := b.OpenBid(ctx, r, quantity, duration, "")
		if err != nil {
			t.Fatalf("open bid for %s: %v", r, err)
		}
		if s.Provider != p.Node.Key.Pubkey {
			t.Fatalf("open bid for %s taken by %s", r, s.Provider)
		}
		return s
	}
	// Bids that differ (two identical bids in one second are one event).
	stA, stB := open(nips.Storage, 1, 86400), open(nips.Storage, 1, 3*86400)
	bwA, bwB := open(nips.Bandwidth, 16, 0), open(nips.Bandwidth, 17, 0)
	if n := m.ProposalsPublished(); n != 4 {
		t.Fatalf("%d proposals, want one per open bid", n)
	}

	chunks, want, bytes := useAtOnce(t, bn.Host, echo.Addr().String(), stA, stB, bwA, bwB)
	for _, s := range []*Session{stA, stB, bwA, bwB} {
		paid, err := bn.DB.GetSession(ctx, s.ID)
		if err != nil || paid.PaidMsat == 0 {
			t.Fatalf("buyer paid nothing in session %s (%v)", s.ID[:8], err)
		}
		b.settle(ctx, s) // ends the session's streams, then its receipt
		ps, err := p.Node.DB.GetSession(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ps.Delivered != want[s.ID] || ps.PaidMsat != paid.PaidMsat {
			t.Errorf("%s session %s: provider booked %d units used and %d msat paid, want its own %d units and the %d msat paid in it",
				s.Offer.Resource, s.ID[:8], ps.Delivered, ps.PaidMsat, want[s.ID], paid.PaidMsat)
		}
		evs := query(t, srv.URL, nostr.Filter{IDs: []string{ps.ReceiptID}})
		if len(evs) != 1 {
			t.Fatalf("%s session %s: no receipt %q on the relay", s.Offer.Resource, s.ID[:8], ps.ReceiptID)
		}
		r, err := nips.ParseReceipt(evs[0])
		if err != nil || r.Session != s.ID || r.Paid != paid.PaidMsat || r.Bytes != bytes[s.ID] || r.Buyer != bn.Key.Pubkey {
			t.Errorf("%s session %s: receipt %+v (%v), want this session's %d msat and %d bytes", s.Offer.Resource, s.ID[:8], r, err, paid.PaidMsat, bytes[s.ID])
		}
	}
	// Retention: each storage session holds its own chunks.
	for _, s := range []*Session{stA, stB} {
		_, n, got, err := p.Node.DB.SessionChunks(ctx, s.ID, 100)
		if err != nil || n != len(chunks[s.ID]) || got != bytes[s.ID] {
			t.Errorf("storage session %s holds %d chunks, %d bytes (%v); want its own %d, %d bytes", s.ID[:8], n, got, err, len(chunks[s.ID]), bytes[s.ID])
		}
	}
}
