package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/transport"
)

// syncbuf.Buffer is a bytes.Buffer safe for a daemon writing while the test
// reads.

// TestDaemonsWatchAuthorizations: the provide and serve daemons apply their
// budget owner's authorization and revocation while they run, and their
// watch ends with the command.
func TestDaemonsWatchAuthorizations(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"serve", []string{"serve", "--openai=", "--socks", "127.0.0.1:0"}},
		{"provide", []string{"provide", "--storage-size", "1MiB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testWatchAuthorizations(t, tc.args) })
	}
}

// testWatchAuthorizations runs the daemon command args with a budget owner
// and follows its log through an authorization and its revocation.
func testWatchAuthorizations(t *testing.T, args []string) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	ownerSK := nostr.GeneratePrivateKey()
	ownerPub, _ := nostr.GetPublicKey(ownerSK)
	env := map[string]string{
		"SOVMESH_DATA":         t.TempDir(),
		"SOVMESH_RELAY":        net.Relay,
		"SOVMESH_MINT":         net.Mint.URL(),
		"SOVMESH_LISTEN":       strings.Join(transport.LoopbackListenAddrs, ","),
		"SOVMESH_BUDGET_OWNER": ownerPub,
	}
	var stderr syncbuf.Buffer
	sctx, stop := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		done <- run(sctx, args, envOf(env), strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	exited := false
	defer func() {
		stop()
		if !exited {
			<-done
		}
	}()
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			select {
			case code := <-done:
				exited = true
				t.Fatalf("%s exited (%d) before %q: %s", args[0], code, what, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %q: %s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("watching spending authorizations")
	m := regexp.MustCompile(`created a new key ([0-9a-f]{64})`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no agent key in %q", stderr.String())
	}
	pool, err := relays.New([]string{net.Relay}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ev, err := budget.Sign(ownerSK, agentd.DefaultBudgetKind, budget.Authorization{Agent: m[1], PerDay: 100, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Publish(ctx, *ev); err != nil {
		t.Fatal(err)
	}
	waitLog("spending authorization applied")
	del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}}}
	if err := del.Sign(ownerSK); err != nil {
		t.Fatal(err)
	}
	if err := pool.Publish(ctx, del); err != nil {
		t.Fatal(err)
	}
	waitLog("spending authorizations revoked")
	stop()
	select {
	case code := <-done:
		exited = true
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", args[0], code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop with its context", args[0])
	}
}
