package main

import (
	"bytes"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
)

// TestWalletMintMoved: ecash deposited while the mint answered at one URL
// is moved by `wallet mint-moved OLD NEW` to the URL it answers at now
// (same keysets), and is then counted and spendable there.
func TestWalletMintMoved(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	target, err := url.Parse(net.Mint.URL())
	if err != nil {
		t.Fatal(err)
	}
	// The same mint at its old address.
	old := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer old.Close()
	env := map[string]string{"SOVMESH_DATA": filepath.Join(t.TempDir(), "agent"), "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": old.URL}
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	if _, errs, code := cli("wallet", "deposit", "30"); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	env["SOVMESH_MINT"] = net.Mint.URL() // the mint's URL now
	if out, _, _ := cli("wallet", "balance"); !strings.Contains(out, net.Mint.URL()+": 0 sats") {
		t.Fatalf("balance before the move: %q", out)
	}
	if _, _, code := cli("wallet", "mint-moved", old.URL); code != 2 {
		t.Fatal("mint-moved without NEW is not a usage error")
	}
	out, errs, code := cli("wallet", "mint-moved", old.URL, net.Mint.URL())
	if code != 0 || !strings.Contains(out, "moved 30 sats") {
		t.Fatalf("mint-moved: %d %q %q", code, out, errs)
	}
	if out, _, _ := cli("wallet", "balance"); !strings.Contains(out, net.Mint.URL()+": 30 sats") {
		t.Fatalf("balance after the move: %q", out)
	}
	if _, errs, code := cli("wallet", "send", "7"); code != 0 {
		t.Fatalf("send after the move: %s", errs)
	}
}
