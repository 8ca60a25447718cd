package buyer

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// TestRefundNoteOutlivesRelayOutage: a provider whose relays cannot be
// reached when a session closes still refunds its unused credit, and the
// change note carrying the refund goes out once a relay answers again, so
// the buyer collects exactly what the provider gave back (real relay
// behind a TCP proxy taken down, real mint and libp2p hosts). On main the
// note that no relay took was dropped: the buyer never saw its refund,
// and the provider took it back after --reclaim-grace.
func TestRefundNoteOutlivesRelayOutage(t *testing.T) {
	ctx := t.Context()
	net0 := agentdtest.Start(t)
	relay := agentdtest.StartProxy(t, net0.Relay)
	pcfg := storageCfg(100_000)
	pcfg.SettleInterval = 100 * time.Millisecond
	p := startProviderWith(t, net0, "prov", pcfg, func(c *agentd.Config) { c.Relays = []string{relay.URL} })
	bn := net0.Node(t, "buyer", 1000)
	b, err := New(ctx, bn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil || len(cands) != 1 {
		t.Fatalf("discover: %d candidates, %v", len(cands), err)
	}
	s, err := b.Open(ctx, cands[0], 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	c := make([]byte, 100<<10)
	rand.Read(c)
	if err := bn.Host.Storage(s.Peer, s.Payer).Put(ctx, chunk.Sum(c), c); err != nil {
		t.Fatal(err)
	}

	// The provider's relays go away; the session closes (its receipt is
	// exchanged over libp2p) and the provider refunds its credit.
	relay.SetDown(true)
	b.settle(ctx, s)
	eventually(t, "the closed session's credit refunded", func() bool {
		credit, err := p.Node.DB.Credit(ctx, bn.Key.Pubkey, nips.Storage, s.ID)
		return err == nil && credit == 0
	})
	tot, err := p.Node.DB.Totals(ctx, time.Time{})
	if err != nil || tot.Change == 0 {
		t.Fatalf("provider refunded %d sats (%v), want some", tot.Change, err)
	}
	if got, err := b.CollectChange(ctx); err != nil || got != 0 {
		t.Fatalf("with the provider's relays down the buyer collected %d sats (%v)", got, err)
	}

	// A relay answers again: the note goes out, the buyer collects it.
	relay.SetDown(false)
	var collected uint64
	eventually(t, "the buyer collects the refund once the provider's relay is back", func() bool {
		got, err := b.CollectChange(ctx)
		collected += got
		return err == nil && collected >= tot.Change
	})
	if collected != tot.Change {
		t.Errorf("buyer collected %d sats, the provider refunded %d", collected, tot.Change)
	}
	// Collecting again takes nothing twice.
	if got, err := b.CollectChange(ctx); err != nil || got != 0 {
		t.Errorf("a second collection got %d sats (%v), want 0", got, err)
	}
}
