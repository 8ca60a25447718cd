package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestWalletRebalance: an agent holding two mints moves ecash from one to
// the other over Lightning (melt at FROM, mint at TO), to the sat; a move
// FROM cannot pay moves nothing and leaves nothing open.
func TestWalletRebalance(t *testing.T) {
	ctx := t.Context()
	a := startMint(t, devmint.Options{})
	b := startMint(t, devmint.Options{Strict: true}) // its quotes are paid only by a melt at a
	env := map[string]string{"SOVMESH_DATA": filepath.Join(t.TempDir(), "agent"), "SOVMESH_RELAY": relaytest.Start(t),
		"SOVMESH_MINT": a.URL() + "," + b.URL()}
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	if _, errs, code := cli("wallet", "deposit", "100"); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	out, errs, code := cli("wallet", "rebalance", "40", a.URL(), b.URL())
	if code != 0 || !strings.Contains(out, "moved 40 sats") || !strings.Contains(out, a.URL()+": 60 sats") || !strings.Contains(out, b.URL()+": 40 sats") {
		t.Fatalf("rebalance: %d %q %q", code, out, errs)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"more than FROM holds", []string{"wallet", "rebalance", "61", a.URL(), b.URL()}, 1},
		{"unknown mint", []string{"wallet", "rebalance", "5", a.URL(), "http://127.0.0.1:1"}, 2},
		{"same mint", []string{"wallet", "rebalance", "5", a.URL(), a.URL()}, 2},
	} {
		if _, errs, code := cli(tc.args...); code != tc.code {
			t.Errorf("%s: exit %d, want %d: %q", tc.name, code, tc.code, errs)
		}
	}
	out, errs, code = cli("wallet", "settle")
	if code != 0 || !strings.Contains(out, "balance 100 sats; 0 operations open") {
		t.Fatalf("settle after the moves: %d %q %q", code, out, errs)
	}
	if out, _, _ = cli("wallet", "balance"); !strings.Contains(out, a.URL()+": 60 sats") || !strings.Contains(out, b.URL()+": 40 sats") {
		t.Fatalf("balance: %q", out)
	}
}
