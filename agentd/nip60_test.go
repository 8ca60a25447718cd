package agentd_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/npmtest"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// nip60View is what applesauce-wallet shows of the mirrored wallet.
type nip60View struct {
	Mints   []string
	Balance uint64
	Tokens  int
	Proofs  int
	History []struct {
		Direction string
		Amount    uint64
		Created   int
	}
}

// readNIP60 fetches the node's NIP-60 events from the relay (deleted token
// events are gone: the relay honours NIP-09) and has applesauce-wallet, a
// NIP-60 wallet library from npm, read them as a wallet app would. It
// skips when node or the package is missing, unless SOVMESH_REQUIRE_NPM is
// set (as .ci/run sets it after npm ci).
func readNIP60(t *testing.T, relayURL string, nd *agentd.Node) nip60View {
	t.Helper()
	dir := filepath.Join("testdata", "nip60")
	node := npmtest.Node(t, dir, "applesauce-wallet")
	r, err := nostr.RelayConnect(t.Context(), relayURL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	evs, err := r.QuerySync(t.Context(), nostr.Filter{Authors: []string{nd.Key.Pubkey},
		Kinds: []int{nips.KindCashuWallet, nips.KindCashuToken, nips.KindCashuHistory}})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"secret": nd.Key.Secret, "events": evs})
	cmd := exec.CommandContext(t.Context(), node, "read.mjs")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(string(in))
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("applesauce-wallet: %v\n%s", err, stderr.String())
	}
	var v nip60View
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("applesauce-wallet printed %q: %v", b, err)
	}
	return v
}

// With --nip60 the wallet is mirrored to NIP-60 events, and a NIP-60
// wallet library reading them with the same key sees the wallet's mint and
// exactly its balance, before and after a payment (the spent token event
// deleted, its change rolled over into a new one, a history entry for the
// spend); a pass with nothing new publishes nothing.
func TestNIP60MirrorReadByApplesauce(t *testing.T) {
	ctx := t.Context()
	n := agentdtest.Start(t)
	nd := n.NodeWith(t, "agent", 100, func(c *agentd.Config) { c.NIP60 = true })
	if err := nd.MirrorWallet(ctx); err != nil {
		t.Fatal(err)
	}
	v := readNIP60(t, n.Relay, nd)
	if len(v.Mints) != 1 || v.Mints[0] != n.Mint.URL() || v.Balance != 100 || v.Tokens != 1 {
		t.Fatalf("after funding 100 sats, a NIP-60 app sees %+v", v)
	}
	if len(v.History) != 1 || v.History[0].Direction != "in" || v.History[0].Amount != 100 {
		t.Fatalf("history after funding: %+v", v.History)
	}

	// A payment: the token event holding spent proofs is deleted and the
	// wallet's remaining proofs are in a new one.
	if _, err := nd.Wallet.Send(ctx, 30, cashu.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nd.MirrorWallet(ctx); err != nil {
		t.Fatal(err)
	}
	bal, _ := nd.Wallet.Balance(ctx)
	v = readNIP60(t, n.Relay, nd)
	if v.Balance != bal || bal != 70 {
		t.Fatalf("after paying 30: wallet %d sats, a NIP-60 app sees %+v", bal, v)
	}
	var out uint64
	for _, h := range v.History {
		if h.Direction == "out" {
			out += h.Amount
		}
	}
	if out != 30 {
		t.Fatalf("history after paying 30: %+v", v.History)
	}

	// Nothing changed: nothing is published.
	before := readNIP60(t, n.Relay, nd)
	if err := nd.MirrorWallet(ctx); err != nil {
		t.Fatal(err)
	}
	if after := readNIP60(t, n.Relay, nd); after.Tokens != before.Tokens || len(after.History) != len(before.History) {
		t.Fatalf("an idle pass published: %+v -> %+v", before, after)
	}
}

// Off by default: nothing is mirrored.
func TestNIP60MirrorOffByDefault(t *testing.T) {
	n := agentdtest.Start(t)
	nd := n.Node(t, "agent", 100)
	if err := nd.MirrorWallet(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := nostr.RelayConnect(t.Context(), n.Relay)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	evs, _ := r.QuerySync(t.Context(), nostr.Filter{Authors: []string{nd.Key.Pubkey}, Kinds: []int{nips.KindCashuWallet, nips.KindCashuToken}})
	if len(evs) != 0 {
		t.Fatalf("%d NIP-60 events published without --nip60", len(evs))
	}
}
