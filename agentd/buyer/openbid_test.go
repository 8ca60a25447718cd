package buyer

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestOpenBidThroughTheRelayEngine: an open bid is matched by the relay's
// engine; the provider checks the bid itself and answers with its own
// match and payment request.
func TestOpenBidThroughTheRelayEngine(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	mint, err := devmint.Start(ctx, filepath.Join(dir, "mint"), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	mcfg := marketplace.DefaultConfig()
	mcfg.UnknownRate, mcfg.UnknownBurst, mcfg.TrustedRate, mcfg.TrustedBurst = 1000, 1000, 1000, 1000
	m, err := marketplace.New(mcfg, slog.New(slog.DiscardHandler)) // nil panics in Start
	if err != nil {
		t.Fatal(err)
	}
	srv := relaytest.New(t, nil, m.Options()...)
	mctx, cancel := context.WithCancel(context.Background())
	if err := m.Start(mctx, srv.Relay); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	net := &agentdtest.Net{Relay: srv.URL, Mint: mint, Dir: dir}

	p := startProvider(t, net, "p", storageCfg(2_000_000))
	bn := net.Node(t, "buyer", 100)
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenBid(ctx, nips.Storage, 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != p.Node.Key.Pubkey || s.Match.Pubkey != s.Provider || s.Match.PaymentRequest == "" || s.Payer == nil {
		t.Fatalf("session %+v", s.Match)
	}
	if m.MatchesPublished() == 0 {
		t.Fatal("the relay's engine made no match")
	}
	if _, err := p.Node.DB.GetSession(ctx, s.ID); err != nil {
		t.Fatalf("provider has no session %s: %v", s.ID, err)
	}
}
