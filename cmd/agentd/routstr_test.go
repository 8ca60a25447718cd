package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/providertest"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// TestServeBuysFromRoutstr: "agentd serve --inference-sources routstr"
// answers its OpenAI endpoint from a provider found through its kind 38421
// announcement, paid over the provider's Routstr endpoint (no sovmesh
// session), and what the agent spent is what the provider earned net of
// the change it returned.
func TestServeBuysFromRoutstr(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBin(t, ".", "agentd")
	mnet := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "tiny", []string{"paid", "per", "request"}, 0)
	prov := providertest.Start(t, mnet, "provider", provider.Config{Routstr: "127.0.0.1:0",
		Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 10_000_000, PriceOutMsat: 50_000_000}})
	cfg := mnet.Config("agent")
	n, err := agentd.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Wallet.Fund(t.Context(), 100); err != nil {
		t.Fatal(err)
	}
	// The provider's announcement follows its offer.
	sctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	got := make(chan struct{}, 1)
	go n.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindRoutstr}, Authors: []string{prov.Key.Pubkey}}}, func(*nostr.Event) {
		select {
		case got <- struct{}{}:
		default:
		}
	}, nil)
	select {
	case <-got:
	case <-sctx.Done():
		t.Fatal("no 38421 announcement from the provider")
	}
	cancel()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "--openai", "127.0.0.1:0", "--socks=")
	cmd.Env = append(os.Environ(), "SOVMESH_DATA="+cfg.DataDir, "SOVMESH_RELAY="+mnet.Relay, "SOVMESH_MINT="+mnet.Mint.URL(),
		"SOVMESH_LISTEN="+strings.Join(transport.LoopbackListenAddrs, ","), "SOVMESH_PASSPHRASE=", "SOVMESH_INFERENCE_SOURCES=routstr", "SOVMESH_ALLOW_PRIVATE_TARGETS=true",
		"SOVMESH_OPENAI_KEY=")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`OPENAI_BASE_URL=(\S+)\)`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		<-scanned
		if err := cmd.Wait(); err != nil && !errors.As(err, new(*exec.ExitError)) {
			t.Errorf("agentd serve: %v", err)
		}
	}
	t.Cleanup(stop)
	var base string
	select {
	case base = <-found:
	case <-scanned:
		t.Fatalf("agentd serve exited:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("agentd serve did not listen in 60 s:\n%s", logs.String())
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/chat/completions",
		strings.NewReader(`{"model":"tiny","max_tokens":32,"messages":[{"role":"user","content":"how are you paid?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		Choices []struct{ Message struct{ Content string } }
	}
	err = json.NewDecoder(resp.Body).Decode(&cc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(cc.Choices) != 1 || strings.Join(strings.Fields(cc.Choices[0].Message.Content), " ") != "paid per request" {
		t.Fatalf("%s %+v %v\n%s", resp.Status, cc, err, logs.String())
	}
	if resp.Header.Get("X-Sovmesh-Provider") != prov.Key.Pubkey {
		t.Fatalf("answered by %q, want the provider", resp.Header.Get("X-Sovmesh-Provider"))
	}
	stop()

	n, err = agentd.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	bal, err := n.Wallet.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tot, err := prov.DB.Totals(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if spent := 100 - bal; spent == 0 || tot.Net() != spent || tot.Change == 0 {
		t.Fatalf("the agent spent %d sats; the provider earned %d net (change %d)", 100-bal, tot.Net(), tot.Change)
	}
	if sessions, err := n.DB.Sessions(t.Context(), 10); err != nil || len(sessions) != 0 {
		t.Fatalf("the agent opened sovmesh sessions %v (%v): it did not buy over Routstr", sessions, err)
	}
}
