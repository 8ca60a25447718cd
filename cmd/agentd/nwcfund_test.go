package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/transport"
)

// ownerNWC is the owner's Lightning wallet in these tests: agentd's NIP-47
// wallet service over the real relay, backed by a funded Cashu wallet at a
// second dev mint (the dev mints of one process share a fake Lightning
// network, so either pays the other's invoices).
type ownerNWC struct {
	node *agentd.Node
	uri  nwc.URI
}

func startMint(t *testing.T, opts devmint.Options) *devmint.Mint {
	t.Helper()
	m, err := devmint.Start(context.Background(), filepath.Join(t.TempDir(), "mint"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return m
}

// nwcNet is the relay and the agent's mint, a strict dev mint: its quotes
// are paid only when another dev mint pays them, as on a real mint.
func nwcNet(t *testing.T) *agentdtest.Net {
	t.Helper()
	return &agentdtest.Net{Relay: relaytest.Start(t), Mint: startMint(t, devmint.Options{Strict: true}), Dir: t.TempDir()}
}

func startOwnerNWC(t *testing.T, net *agentdtest.Net, sats uint64) *ownerNWC {
	t.Helper()
	m := startMint(t, devmint.Options{})
	n := net.NodeWith(t, "owner", sats, func(c *agentd.Config) { c.Mints = []string{m.URL()} })
	svc, err := nwc.NewService(n.Wallet, nwc.ServiceConfig{SecretKey: nostr.GeneratePrivateKey(), Relay: net.Relay, Network: "signet"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- svc.Run(ctx, ready) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("nwc service: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("nwc service not ready")
	}
	uri, err := svc.NewConnection(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return &ownerNWC{node: n, uri: uri}
}

func (o *ownerNWC) balance(t *testing.T) uint64 {
	t.Helper()
	b, err := o.node.Wallet.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecret fails if text holds the NWC URI or its secret.
func (o *ownerNWC) noSecret(t *testing.T, where, text string) {
	t.Helper()
	for what, v := range map[string]string{"URI": o.uri.String(), "secret": o.uri.Secret} {
		if strings.Contains(text, v) {
			t.Errorf("%s holds the NWC %s", where, what)
		}
	}
}

// TestWalletFundNWC: `wallet fund-nwc` moves exactly the sats asked from
// the owner's Lightning wallet (NWC, another mint) into the agent's
// ecash, and `wallet withdraw-nwc` moves them back; the URI comes from a
// 0600 file or SOVMESH_NWC, and never shows in logs or errors.
func TestWalletFundNWC(t *testing.T) {
	ctx := t.Context()
	net := nwcNet(t)
	owner := startOwnerNWC(t, net, 500)
	dir := t.TempDir()
	file := filepath.Join(dir, "nwc")
	if err := os.WriteFile(file, []byte(owner.uri.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SOVMESH_DATA": filepath.Join(dir, "agent"), "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL(),
		"SOVMESH_LOG_LEVEL": "debug", "SOVMESH_NWC_FILE": file}
	var logs strings.Builder
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		logs.WriteString(out.String() + errb.String())
		return out.String(), errb.String(), code
	}
	out, errs, code := cli("wallet", "fund-nwc", "120")
	if code != 0 || !strings.Contains(out, "funded 120 sats") || !strings.Contains(out, "balance 120 sats") {
		t.Fatalf("fund-nwc: %d %q %q", code, out, errs)
	}
	if !strings.Contains(out, "NWC wallet balance 380 sats") {
		t.Fatalf("fund-nwc does not show the owner's wallet balance: %q", out)
	}
	if b := owner.balance(t); b != 380 {
		t.Fatalf("owner's wallet holds %d sats after funding 120 of 500, want 380", b)
	}
	out, errs, code = cli("wallet", "withdraw-nwc", "50")
	if code != 0 || !strings.Contains(out, "withdrew 50 sats") || !strings.Contains(out, "balance 70 sats") {
		t.Fatalf("withdraw-nwc: %d %q %q", code, out, errs)
	}
	if b := owner.balance(t); b != 430 {
		t.Fatalf("owner's wallet holds %d sats after a withdrawal of 50, want 430", b)
	}
	// The URI itself in SOVMESH_NWC.
	delete(env, "SOVMESH_NWC_FILE")
	env["SOVMESH_NWC"] = owner.uri.String()
	if out, errs, code = cli("wallet", "fund-nwc", "30"); code != 0 || !strings.Contains(out, "balance 100 sats") {
		t.Fatalf("fund-nwc from SOVMESH_NWC: %d %q %q", code, out, errs)
	}
	if b := owner.balance(t); b != 400 {
		t.Fatalf("owner's wallet holds %d sats, want 400", b)
	}

	loose := filepath.Join(dir, "nwc-loose")
	if err := os.WriteFile(loose, []byte(owner.uri.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no connection", map[string]string{"SOVMESH_NWC": ""}, []string{"wallet", "fund-nwc", "5"}, 1, "no NWC connection"},
		{"world-readable file", map[string]string{"SOVMESH_NWC_FILE": loose}, []string{"wallet", "fund-nwc", "5"}, 1, "chmod 600"},
		{"malformed URI", map[string]string{"SOVMESH_NWC": strings.Replace(owner.uri.String(), "relay=", "relay=http%3A%2F%2F", 1)}, []string{"wallet", "fund-nwc", "5"}, 1, "malformed connection URI"},
		{"owner's wallet refuses (over its budget)", nil, []string{"wallet", "fund-nwc", "100000"}, 1, "wallet did not pay: nwc: QUOTA_EXCEEDED"},
		{"agent's wallet short", nil, []string{"wallet", "withdraw-nwc", "101"}, 1, "withdraw"},
		{"no amount", nil, []string{"wallet", "fund-nwc"}, 2, "SATS"},
		{"URI as the file flag", nil, []string{"wallet", "fund-nwc", "5", "--nwc-file", owner.uri.String()}, 1, "not the URI"},
		{"URI as a flag", nil, []string{"wallet", "fund-nwc", "5", "--nwc", owner.uri.String()}, 2, "unknown flag --nwc"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string]string{}
			for k, v := range tc.env {
				saved[k] = env[k]
				env[k] = v
			}
			defer func() {
				for k, v := range saved {
					env[k] = v
				}
			}()
			_, errs, code := cli(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want %d with %q: %q", code, tc.code, tc.want, errs)
			}
		})
	}
	// The refused quote was dropped: nothing is left open.
	if out, errs, code := cli("wallet", "settle"); code != 0 || !strings.Contains(out, "balance 100 sats; 0 operations open") {
		t.Fatalf("failed moves changed the balance or left an op open: %d %q %q", code, out, errs)
	}
	if b := owner.balance(t); b != 400 {
		t.Fatalf("failed moves changed the owner's wallet: %d sats, want 400", b)
	}
	if !strings.Contains(logs.String(), "nwc wallet connected") {
		t.Fatal("no debug log of the connection: the log check below saw nothing")
	}
	owner.noSecret(t, "agentd's output", logs.String())
}

// TestWalletFundNWCCrash: agentd killed (SIGKILL) after the owner's wallet
// paid the mint quote and before the ecash was claimed: the next start
// claims it, and the owner paid exactly once.
func TestWalletFundNWCCrash(t *testing.T) {
	ctx := t.Context()
	net := nwcNet(t)
	owner := startOwnerNWC(t, net, 200)
	bin := buildBin(t, ".", "agentd")
	data := filepath.Join(t.TempDir(), "agent")
	env := map[string]string{"SOVMESH_DATA": data, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL(), "SOVMESH_NWC": owner.uri.String()}
	cmd := exec.CommandContext(ctx, bin, "wallet", "fund-nwc", "64")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "SOVMESH_CRASH_AT="+cashu.MintPaidStep, "SOVMESH_LOG_LEVEL=debug")
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.Exited() {
		t.Fatalf("agentd was not killed at %s: %v\n%s", cashu.MintPaidStep, err, out)
	}
	owner.noSecret(t, "the killed agentd's output", string(out))
	if b := owner.balance(t); b != 136 {
		t.Fatalf("owner's wallet holds %d sats, want 136 (paid before the crash)", b)
	}
	var sout, serr bytes.Buffer
	code := run(ctx, []string{"wallet", "settle"}, envOf(env), strings.NewReader(""), &sout, &serr)
	if code != 0 || !strings.Contains(sout.String(), "balance 64 sats; 0 operations open") {
		t.Fatalf("settle after the crash: %d %q %q", code, sout.String(), serr.String())
	}
	if b := owner.balance(t); b != 136 {
		t.Fatalf("owner's wallet holds %d sats after the resume, want 136 (paid once)", b)
	}
}

// TestNWCTopUp: a daemon whose balance is below --nwc-topup-below funds
// --nwc-topup-amount from the owner's wallet, and refuses a top-up that
// would let the balance pass what --budget-per-day still allows today.
func TestNWCTopUp(t *testing.T) {
	ctx := t.Context()
	net := nwcNet(t)
	owner := startOwnerNWC(t, net, 500)
	env := map[string]string{"SOVMESH_DATA": filepath.Join(t.TempDir(), "agent"), "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL(),
		"SOVMESH_LISTEN": strings.Join(transport.LoopbackListenAddrs, ","), "SOVMESH_NWC": owner.uri.String(),
		"SOVMESH_SOCKS": "127.0.0.1:0", "SOVMESH_NWC_TOPUP_BELOW": "50", "SOVMESH_NWC_TOPUP_AMOUNT": "100"}
	// serve runs until the line want shows in its log and it has started.
	serveUntil := func(want string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		pr, pw := io.Pipe()
		done := make(chan int, 1)
		go func() {
			done <- run(sctx, []string{"serve", "--openai="}, envOf(env), strings.NewReader(""), io.Discard, pw)
			pw.Close()
		}()
		var seen strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			// Stop once the line showed and serve has started (a cancel
			// while it starts is an error exit).
			if strings.Contains(seen.String(), want) && strings.Contains(seen.String(), "SOCKS5 proxy on") {
				cancel()
			}
		}
		if code := <-done; code != 0 || !strings.Contains(seen.String(), want) {
			t.Fatalf("serve: exit %d without %q:\n%s", code, want, seen.String())
		}
		owner.noSecret(t, "serve's log", seen.String())
		return seen.String()
	}
	if log := serveUntil(`msg="nwc top-up" `); !regexp.MustCompile(`msg="nwc top-up" .*sats=100`).MatchString(log) {
		t.Fatalf("top-up of other than 100 sats:\n%s", log)
	}
	if b := owner.balance(t); b != 400 {
		t.Fatalf("owner's wallet holds %d sats after a top-up of 100, want 400", b)
	}
	// Balance 100, below 150: a top-up of 100 would let 200 be spent today.
	env["SOVMESH_NWC_TOPUP_BELOW"], env["SOVMESH_BUDGET_PER_DAY"] = "150", "150"
	log := serveUntil(`msg="nwc top-up refused"`)
	if !strings.Contains(log, "over --budget-per-day") {
		t.Fatalf("refusal does not name the budget:\n%s", log)
	}
	var out bytes.Buffer
	if run(ctx, []string{"wallet", "balance"}, envOf(env), strings.NewReader(""), &out, io.Discard); !strings.HasPrefix(out.String(), "100 sats") {
		t.Fatalf("balance after the refused top-up: %q", out.String())
	}
	if b := owner.balance(t); b != 400 {
		t.Fatalf("owner's wallet holds %d sats after a refused top-up, want 400", b)
	}
	for _, bad := range [][]string{{"--nwc-topup-below", "10", "status"}, {"--nwc-topup-below", "10", "--nwc-topup-amount", "20000", "status"}} {
		if _, _, err := parseConfig(bad, func(string) string { return "" }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestWalletNWCConnections: `wallet nwc` prints a connection URI and serves
// the agent's wallet to it; `wallet nwc connections` lists that client
// (and never its secret), and after `wallet nwc revoke CLIENT` the running
// service answers the client UNAUTHORIZED. Revoking an unknown client is an
// error naming it.
func TestWalletNWCConnections(t *testing.T) {
	net := nwcNet(t)
	dir := t.TempDir()
	env := map[string]string{"SOVMESH_DATA": filepath.Join(dir, "agent"), "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL()}
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncbuf.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"wallet", "nwc"}, envOf(env), strings.NewReader(""), &out, &errb) }()
	t.Cleanup(func() { cancel(); <-done })
	var raw string
	for deadline := time.Now().Add(30 * time.Second); raw == ""; {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			raw = line
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection URI: %q %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond) // polling another goroutine's output, bounded above
	}
	uri, err := nwc.ParseURI(raw)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := nostr.GetPublicKey(uri.Secret)
	c, err := nwc.Connect(t.Context(), uri, nwc.ClientOptions{Network: "signet", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if bal, err := c.GetBalance(t.Context()); err != nil || bal != 0 {
		t.Fatalf("balance over NWC: %d %v", bal, err)
	}

	lo, le, code := runCLI(t, env, "wallet", "nwc", "connections")
	if code != 0 || !strings.Contains(lo, "1 connection(s)") || !strings.Contains(lo, client) || strings.Contains(lo+le, uri.Secret) {
		t.Fatalf("connections: %d %q %q", code, lo, le)
	}
	if _, le, code := runCLI(t, env, "wallet", "nwc", "revoke", strings.Repeat("ab", 32)); code == 0 || !strings.Contains(le, "no such connection") {
		t.Fatalf("revoke of an unknown client: %d %q", code, le)
	}
	if ro, le, code := runCLI(t, env, "wallet", "nwc", "revoke", client); code != 0 || !strings.Contains(ro, "revoked "+client) {
		t.Fatalf("revoke: %d %q %q", code, ro, le)
	}
	if _, err := c.GetBalance(t.Context()); !errors.Is(err, nwc.ErrUnauthorized) {
		t.Fatalf("balance after revoke: %v, want %v", err, nwc.ErrUnauthorized)
	}
	if lo, _, code := runCLI(t, env, "wallet", "nwc", "connections"); code != 0 || !strings.Contains(lo, "0 connection(s)") {
		t.Fatalf("connections after revoke: %d %q", code, lo)
	}
}

func TestMissingMethods(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, need []string
		want       []string
	}{
		{"all allowed", []string{"pay_invoice", "get_info", "make_invoice"}, []string{"pay_invoice"}, nil},
		{"read-only connection", []string{"get_info", "get_balance"}, []string{"pay_invoice"}, []string{"pay_invoice"}},
		{"nothing needed", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingMethods(tc.have, tc.need); !slices.Equal(got, tc.want) {
				t.Fatalf("missingMethods(%v, %v) = %v, want %v", tc.have, tc.need, got, tc.want)
			}
		})
	}
}
