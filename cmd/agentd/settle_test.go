package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// TestWalletSettle: `wallet settle` exits 0 when nothing is open, names a
// market payment the payee has not redeemed (exit 1) while it is within
// --reclaim-grace, and takes it back once past it.
func TestWalletSettle(t *testing.T) {
	ctx := t.Context()
	_, cfg, cli := depositedAgent(t, 40)
	out, errs, code := cli("wallet", "settle")
	if code != 0 || !strings.Contains(out, "balance 40 sats; 0 operations open, 0 market payments out") {
		t.Fatalf("settle: %d %q %q", code, out, errs)
	}
	// A market payment whose token never reached its payee.
	n, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := n.Wallet.Send(ctx, 8, cashu.SendOptions{Counterparty: "payee", IncludeFees: true,
		OnJournal: n.DB.Recorder(state.Entry{Session: "s", Kind: state.Spend, Counterparty: "payee", Resource: nips.Storage})})
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, code = cli("wallet", "settle")
	if code != 1 || !strings.Contains(out, "payment of 8 sats not redeemed yet") || !strings.Contains(out, "1 market payments out") {
		t.Fatalf("settle with a payment out (op %d): %d %q", sent.OpID, code, out)
	}
	if out, errs, code = cli("wallet", "settle", "--reclaim-grace", "1ns"); code != 0 || !strings.Contains(out, "balance 40 sats; 0 operations open, 0 market payments out") {
		t.Fatalf("settle past the grace: %d %q %q", code, out, errs)
	}
	// A payment locked to its payee for an hour (a session's refund): still
	// out past the grace, since only the payee can spend it before its
	// locktime; settle names the locktime.
	n, err = agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payee := nostr.GeneratePrivateKey()
	payeePub, _ := nostr.GetPublicKey(payee)
	locked, err := n.Wallet.Send(ctx, 5, cashu.SendOptions{Counterparty: payeePub, IncludeFees: true,
		Lock:      &cashu.Lock{Pubkey: payeePub, Locktime: time.Now().Add(time.Hour).Unix()},
		OnJournal: n.DB.Recorder(state.Entry{Session: "s2", Kind: state.Change, Counterparty: payeePub, Resource: nips.Storage})})
	n.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = cli("wallet", "settle", "--reclaim-grace", "1ns")
	if code != 1 || !strings.Contains(out, "payment of 5 sats locked to its payee until") || !strings.Contains(out, "1 market payments out") {
		t.Fatalf("settle with a locked payment out (op %d): %d %q %q", locked.OpID, code, out, errs)
	}
}

// TestWalletSettleCollectsChange: `wallet settle` collects the change notes
// addressed to the agent (here a closed session's refund, locked to its
// key) with the collector a buying daemon runs, so an agent that only
// runs settle gets its refunds; a second settle takes nothing twice. On
// main settle did not look at the relays: the refund stayed there until
// its provider took it back.
func TestWalletSettleCollectsChange(t *testing.T) {
	ctx := t.Context()
	net, cfg, cli := depositedAgent(t, 40)
	n, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	me := n.Key.Pubkey
	n.Close()

	// A provider refunds a closed session's credit to the agent.
	pn := net.Node(t, "prov", 20)
	p, err := provider.New(pn, provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, MaxConns: 4}})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := pn.Wallet.Send(ctx, 7, cashu.SendOptions{Counterparty: me, IncludeFees: true,
		Lock: &cashu.Lock{Pubkey: me, Locktime: time.Now().Add(time.Hour).Unix()}})
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(metering.Change{Object: metering.ChangeObject, Token: sent.Token, ChangeSats: 7, Session: "5e55", Resource: nips.Storage})
	if err := p.SendChangeNote(ctx, me, note); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want, not string
	}{
		{"settle collects the refund", "collected 7 sats of change from the relays\nbalance 47 sats; 0 operations open", ""},
		{"and only once", "balance 47 sats; 0 operations open", "collected"},
	} {
		out, errs, code := cli("wallet", "settle")
		if code != 0 || !strings.Contains(out, c.want) || (c.not != "" && strings.Contains(out, c.not)) {
			t.Fatalf("%s: %d %q %q, want %q", c.name, code, out, errs, c.want)
		}
	}
}

// depositedAgent starts a test network and an agent on it whose wallet got
// sats through `wallet deposit`; it returns the network, the agent's node
// configuration (to open it in process) and its command line.
func depositedAgent(t *testing.T, sats int) (*agentdtest.Net, agentd.Config, func(args ...string) (string, string, int)) {
	t.Helper()
	net := agentdtest.Start(t)
	data := filepath.Join(t.TempDir(), "agent")
	cli := envCLI(t.Context(), map[string]string{"SOVMESH_DATA": data, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL()})
	if _, errs, code := cli("wallet", "deposit", strconv.Itoa(sats)); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	cfg := agentd.DefaultConfig()
	cfg.DataDir, cfg.Relays, cfg.Mints = data, []string{net.Relay}, []string{net.Mint.URL()}
	return net, cfg, cli
}

// envCLI runs agentd's command line in process with env as its
// environment and no input, returning its output, errors and exit code.
func envCLI(ctx context.Context, env map[string]string) func(args ...string) (string, string, int) {
	return func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
}
