package agentd_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// feeRelay runs a relay that charges fee sats per kind-1 event, its wallet
// on the relay's own key (as meshrelay's: tokens locked to the relay's
// NIP-11 pubkey are its), and returns it, its wallet and a net with its mint.
func feeRelay(t *testing.T, fee uint64) (*relaytest.Server, *cashu.Wallet, *agentdtest.Net) {
	t.Helper()
	ctx := t.Context()
	n := agentdtest.Start(t)
	relayDir := filepath.Join(n.Dir, "relay")
	if err := os.MkdirAll(relayDir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret, err := relay.LoadOrCreateKey(relayDir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(relayDir, "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	wc := cashu.DefaultConfig()
	wc.Mints = []string{n.Mint.URL()}
	wc.PrivateKey = secret
	w, err := cashu.Open(ctx, j, wc)
	if err != nil {
		t.Fatal(err)
	}
	col, err := fees.New(j, w, fees.Config{Publication: map[int]uint64{1: fee}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := relaytest.New(t, func(c *relay.Config) { c.DataDir = relayDir }, marketplace.FeeOptions(col, []string{n.Mint.URL()}, true)...)
	n.Relay = srv.URL
	return srv, w, n
}

// publishNotes publishes count kind-1 notes through the node and returns
// them as published (with a fee tag if one was added).
func publishNotes(t *testing.T, nd *agentd.Node, count int) []nostr.Event {
	t.Helper()
	var out []nostr.Event
	for i := range count {
		ev, err := nd.Publish(t.Context(), nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "note " + string(rune('a'+i))})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func relayFeesSpent(t *testing.T, nd *agentd.Node) uint64 {
	t.Helper()
	ls, err := nd.DB.LedgerByResource(context.Background(), agentd.RelayFeeResource)
	if err != nil {
		t.Fatal(err)
	}
	return ls.Spent - min(ls.Refunded, ls.Spent)
}

// A relay that takes top-ups is paid once for many events: agentd buys a
// prepaid balance of RelayTopUp sats when the first event needs its fee,
// the same event (unchanged, no token in it) is then stored, and the next
// ones are charged from the balance until it runs out. Every sat the
// node's ledger records as relay fees is in the relay's wallet.
func TestPublishPaysFromPrepaidBalance(t *testing.T) {
	const fee, topUp = 3, 10
	_, relayWallet, n := feeRelay(t, fee)
	nd := n.NodeWith(t, "agent", 100, func(c *agentd.Config) { c.RelayTopUp = topUp })
	before, _ := nd.Wallet.Balance(t.Context())

	evs := publishNotes(t, nd, 4) // 3 from the first top-up (9 of 10 sats), the 4th needs another
	for i, ev := range evs {
		if ev.Tags.GetFirst([]string{agentd.FeeTag}) != nil {
			t.Fatalf("event %d carries its own fee token: the balance should have paid", i)
		}
	}
	if got := relayFeesSpent(t, nd); got != 2*topUp {
		t.Fatalf("relay fees in the ledger: %d sats, want two top-ups of %d", got, topUp)
	}
	held, _ := relayWallet.Balance(t.Context())
	if held != 2*topUp {
		t.Fatalf("relay wallet holds %d sats, want the two top-ups (%d)", held, 2*topUp)
	}
	after, _ := nd.Wallet.Balance(t.Context())
	if before-after < 2*topUp {
		t.Fatalf("wallet %d -> %d: less than the top-ups left it", before, after)
	}
	// The events are stored as signed, with no token in them.
	r, err := nostr.RelayConnect(t.Context(), n.Relay)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stored, err := r.QuerySync(t.Context(), nostr.Filter{Kinds: []int{1}, Authors: []string{nd.Key.Pubkey}})
	if err != nil || len(stored) != len(evs) {
		t.Fatalf("%d events stored (%v), want %d", len(stored), err, len(evs))
	}
}

// With RelayTopUp 0 (or at a relay that takes no top-ups) each event pays
// its own fee in a cashu tag, as before.
func TestPublishPaysFeeInEventWithoutTopUp(t *testing.T) {
	const fee = 3
	_, relayWallet, n := feeRelay(t, fee)
	nd := n.NodeWith(t, "agent", 100, func(c *agentd.Config) { c.RelayTopUp = 0 })
	evs := publishNotes(t, nd, 2)
	for i, ev := range evs {
		if ev.Tags.GetFirst([]string{agentd.FeeTag}) == nil {
			t.Fatalf("event %d has no fee token", i)
		}
	}
	if got := relayFeesSpent(t, nd); got != 2*fee {
		t.Fatalf("relay fees %d sats, want %d", got, 2*fee)
	}
	if held, _ := relayWallet.Balance(t.Context()); held != 2*fee {
		t.Fatalf("relay wallet holds %d sats, want %d", held, 2*fee)
	}
}
