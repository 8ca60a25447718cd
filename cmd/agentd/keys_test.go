package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestKeysRecoverCLI: split a key 3-of-5 to five contacts; on a new
// machine, recover it from three of them, all through the command line;
// the recovered agent has its unspent ecash back (not what it spent), and
// `wallet restore` again changes nothing.
func TestKeysRecoverCLI(t *testing.T) {
	ctx := t.Context()
	relayURL := relaytest.Start(t)
	mint, err := devmint.Start(ctx, t.TempDir(), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	base := t.TempDir()
	cli := func(dir string, stdout *syncbuf.Buffer, args ...string) int {
		env := map[string]string{"SOVMESH_DATA": filepath.Join(base, dir), "SOVMESH_RELAY": relayURL, "SOVMESH_PASSPHRASE": "pw-" + dir, "SOVMESH_MINT": mint.URL()}
		return run(ctx, args, envOf(env), strings.NewReader(""), stdout, &bytes.Buffer{})
	}
	pubRe := regexp.MustCompile(`pubkey ([0-9a-f]{64})`)
	pubOf := func(dir string) string {
		var out syncbuf.Buffer
		if code := cli(dir, &out, "keys", "show"); code != 0 {
			t.Fatalf("keys show in %s: %d", dir, code)
		}
		m := pubRe.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no pubkey in %q", out.String())
		}
		return m[1]
	}
	owner := pubOf("owner")
	var contacts []string
	for i := range 5 {
		contacts = append(contacts, pubOf("contact"+string(rune('1'+i))))
	}
	// The owner's money: 500 deposited, 120 paid to a contact who redeemed it.
	var money syncbuf.Buffer
	if code := cli("owner", &money, "wallet", "deposit", "500"); code != 0 {
		t.Fatalf("deposit: %d", code)
	}
	var tok syncbuf.Buffer
	if code := cli("owner", &tok, "wallet", "send", "120"); code != 0 {
		t.Fatalf("send: %d", code)
	}
	if code := cli("contact2", &money, "wallet", "receive", strings.TrimSpace(tok.String())); code != 0 {
		t.Fatalf("receive: %d", code)
	}
	balanceOf := func(dir string) string {
		var b syncbuf.Buffer
		if code := cli(dir, &b, "wallet", "balance"); code != 0 {
			t.Fatalf("balance of %s: %d", dir, code)
		}
		first, _, _ := strings.Cut(b.String(), "\n")
		return first
	}
	if got := balanceOf("owner"); got != "380 sats" {
		t.Fatalf("owner balance %q", got)
	}
	var out syncbuf.Buffer
	if code := cli("owner", &out, "keys", "split", "--contacts", strings.Join(contacts, ","), "-k", "3"); code != 0 {
		t.Fatalf("split: %d", code)
	}
	// The new machine waits for shares.
	var recOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() { done <- cli("newmachine", &recOut, "keys", "recover", "--owner", owner, "--wait", "30s") }()
	var recovery string
	for range 200 {
		if m := regexp.MustCompile(`recovery pubkey ([0-9a-f]{64})`).FindStringSubmatch(recOut.String()); m != nil {
			recovery = m[1]
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if recovery == "" {
		t.Fatal("no recovery pubkey shown")
	}
	for _, c := range []string{"contact1", "contact3", "contact5"} {
		var o syncbuf.Buffer
		if code := cli(c, &o, "keys", "return-share", "--owner", owner, "--to", recovery); code != 0 {
			t.Fatalf("return-share from %s: %d", c, code)
		}
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("recover: %d: %s", code, recOut.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("recover did not finish")
	}
	if got := pubOf("newmachine"); got != owner {
		t.Fatalf("recovered %s, want %s", got, owner)
	}
	if !strings.Contains(recOut.String(), mint.URL()+": restored 380 sats") {
		t.Fatalf("recover did not restore the ecash: %q", recOut.String())
	}
	if got := balanceOf("newmachine"); got != "380 sats" {
		t.Fatalf("recovered balance %q, want 380 sats", got)
	}
	var again syncbuf.Buffer
	if code := cli("newmachine", &again, "wallet", "restore"); code != 0 || !strings.Contains(again.String(), ": restored 0 sats") {
		t.Fatalf("second restore: %d %q", code, again.String())
	}
	if got := balanceOf("newmachine"); got != "380 sats" {
		t.Fatalf("balance after a second restore %q", got)
	}
}
