package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// downURL is an address on 127.0.0.1 nothing listens on.
func downURL(t *testing.T, scheme string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return scheme + "://" + addr
}

// TestLocalCommandsRelayDown: an agent that took its mint from its relay
// (NIP-11, no --mint) and holds ecash keeps its local commands (status,
// earnings, wallet balance, keys show, store ls) with the relay down, its
// balance included; what needs the network fails naming the relay or the
// mint it could not reach.
func TestLocalCommandsRelayDown(t *testing.T) {
	ctx := t.Context()
	mint, err := devmint.Start(ctx, filepath.Join(t.TempDir(), "mint"), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mint.Shutdown(sctx)
	})
	up := relaytest.New(t, nil, relay.WithInfo(func(i *relay.Info) { i.Mints = []string{mint.URL()} }))
	data := filepath.Join(t.TempDir(), "agent")
	cheapKey(t, data)
	env := map[string]string{"SOVMESH_DATA": data, "SOVMESH_RELAY": up.URL}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	if _, errs, code := cli("wallet", "deposit", "300"); code != 0 {
		t.Fatalf("deposit with the relay's mint: %s", errs)
	}

	relayDown := downURL(t, "ws")
	env["SOVMESH_RELAY"] = relayDown
	tests := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"status"}, "balance  300 sats"},
		{[]string{"wallet", "balance"}, "300 sats"},
		{[]string{"earnings"}, "earnings since"},
		{[]string{"keys", "show"}, "npub1"},
		{[]string{"store", "ls"}, "ROOT"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errs, code := cli(tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, stdout %q (want %q), stderr %q", code, out, tc.want, errs)
			}
		})
	}

	// What needs the network names what it could not reach.
	if _, errs, code := cli("store", "put", filepath.Join(data, "keys", "key.ncryptsec")); code == 0 || !strings.Contains(errs, relayDown) {
		t.Fatalf("store put with the relay down: exit %d, %q does not name %s", code, errs, relayDown)
	}
	mintDown := downURL(t, "http")
	env["SOVMESH_MINT"] = mintDown
	if _, errs, code := cli("wallet", "deposit", "10"); code == 0 || !strings.Contains(errs, mintDown) {
		t.Fatalf("deposit with the mint down: exit %d, %q does not name %s", code, errs, mintDown)
	}
	// A new agent with no mint set and the relay down: no mint, and why.
	env = map[string]string{"SOVMESH_DATA": filepath.Join(t.TempDir(), "new"), "SOVMESH_RELAY": relayDown}
	cheapKey(t, env["SOVMESH_DATA"])
	if _, errs, code := cli("wallet", "balance"); code == 0 || !strings.Contains(errs, "no mint configured") || !strings.Contains(errs, relayDown) {
		t.Fatalf("balance of a new agent with the relay down: exit %d, %q", code, errs)
	}
}
