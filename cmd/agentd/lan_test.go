package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/transport"
)

// TestLANTradeWithoutRelay, through the real binary: a provider daemon and
// a buyer whose only relay is down find each other by mDNS on loopback
// (a service name of this test's own), and the buyer stores a file (offer
// found on the LAN, bid pushed to the provider, the provider's signed
// match pushed back, payment at the dev mint) and reads it back. Then the
// relay comes up: the provider's queued receipt and the buyer's queued
// attestation and SafeBox entry reach it.
func TestLANTradeWithoutRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := t.Context()
	agentBin := buildBin(t, ".", "agentd")
	dir := t.TempDir()
	mint, err := devmint.Start(ctx, filepath.Join(dir, "mint"), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mint.Shutdown(sctx)
	})
	relayURL := downURL(t, "ws") // nothing there until the end
	service := fmt.Sprintf("sovmesh-lantest-%d", time.Now().UnixNano())
	envFor := func(data string) []string {
		cheapKey(t, data)
		return append(os.Environ(), "SOVMESH_DATA="+data, "SOVMESH_RELAY="+relayURL, "SOVMESH_MINT="+mint.URL(),
			"SOVMESH_LISTEN="+strings.Join(transport.LoopbackListenAddrs, ","), "SOVMESH_MDNS_SERVICE="+service, "SOVMESH_MDNS=true")
	}
	provData, buyData := filepath.Join(dir, "prov"), filepath.Join(dir, "buyer")
	provEnv, buyEnv := envFor(provData), envFor(buyData)
	prov := startDaemon(t, agentBin, provEnv, "provide", "--storage-size", "64MiB", "--settle-interval", "100ms")
	provPub := prov.waitLog(t, `providing as ([0-9a-f]{64})`)
	prov.waitLog(t, `provider running`)

	cli := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, agentBin, args...)
		cmd.Env = buyEnv
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("agentd %s: %v\nstdout:\n%s\nstderr:\n%s\nprovider:\n%s", strings.Join(args, " "), err, out.String(), errb.String(), prov.stderr.String())
		}
		return out.String(), errb.String()
	}
	cli("wallet", "deposit", "2000")
	file := filepath.Join(dir, "photo.bin")
	data := make([]byte, 300<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs := cli("store", "put", file, "--replicas", "1")
	root := strings.TrimSpace(out)
	if !strings.Contains(errs, "event queued until a relay answers") {
		t.Fatalf("store put queued nothing for the relay:\n%s", errs)
	}
	got := filepath.Join(dir, "got.bin")
	cli("store", "get", root, "-o", got)
	back, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("file read back over the LAN differs (%d bytes, err %v)", len(back), err)
	}
	if st, _ := cli("status"); !strings.Contains(st, "wait for a relay") {
		t.Fatalf("status shows no queued events:\n%s", st)
	}
	bal, _ := cli("wallet", "balance")
	if strings.Contains(bal, "2000 sats") {
		t.Fatalf("nothing paid for the LAN trade: %s", bal)
	}
	if strings.Contains(prov.stderr.String(), "queued events published") {
		t.Fatal("queued events published with no relay")
	}

	// The relay appears at the address both were told.
	addr := strings.TrimPrefix(relayURL, "ws://")
	relaytest.New(t, func(c *relay.Config) { c.Listen = addr }, relay.WithInfo(func(i *relay.Info) { i.Mints = []string{mint.URL()} }))
	prov.waitLog(t, `queued events published`)
	cli("store", "ls") // the buyer's next command that starts the market publishes its queue
	cli("store", "get", root, "-o", got)

	r, err := nostr.RelayConnect(ctx, relayURL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buyPub := strings.TrimSpace(strings.Fields(mustKey(t, cli))[0])
	for _, tc := range []struct {
		name   string
		kind   int
		author string
	}{
		{"receipt", nips.KindReceipt, provPub},
		{"attestation", nips.KindAttestation, buyPub},
		{"safebox entry", nips.KindSafeBox, buyPub},
	} {
		evs, err := r.QuerySync(ctx, nostr.Filter{Kinds: []int{tc.kind}, Authors: []string{tc.author}})
		if err != nil || len(evs) == 0 {
			t.Errorf("no %s on the relay once it came up (err %v)", tc.name, err)
		}
	}
}

// mustKey returns the hex pubkey line of keys show.
func mustKey(t *testing.T, cli func(...string) (string, string)) string {
	t.Helper()
	out, _ := cli("keys", "show")
	for _, l := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(l) {
			if len(f) == 64 && strings.Trim(f, "0123456789abcdef") == "" {
				return f
			}
		}
	}
	t.Fatalf("no hex pubkey in keys show:\n%s", out)
	return ""
}
