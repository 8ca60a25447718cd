package buyer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

var words = strings.Fields("the quick brown fox jumps over the lazy dog and keeps running far away")

func inferenceCfg(llm *agentdtest.LLM, in, out uint64) provider.Config {
	return provider.Config{Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: in, PriceOutMsat: out}}
}

// streamChat posts a streaming request and returns the content and the
// time each chunk arrived.
func streamChat(t *testing.T, url string, onChunk func(i int)) (string, *http.Response) {
	t.Helper()
	body := `{"model":"standin-1","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"tell me a story"}]}`
	resp, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("status %s: %s", resp.Status, b.String())
	}
	var content strings.Builder
	sc := bufio.NewScanner(resp.Body)
	i := 0
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Error any `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil || c.Error != nil {
			t.Fatalf("bad chunk %q", line)
		}
		for _, ch := range c.Choices {
			content.WriteString(ch.Delta.Content)
		}
		if onChunk != nil {
			onChunk(i)
		}
		i++
	}
	return content.String(), resp
}

func TestInferenceEndpointAndFailover(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	slow := agentdtest.StartLLM(t, "standin-1", words, 30*time.Millisecond)
	fast := agentdtest.StartLLM(t, "standin-1", words, time.Millisecond)
	pa := startProvider(t, net, "cheap", inferenceCfg(slow, 1_000_000, 2_000_000))
	pb := startProvider(t, net, "dear", inferenceCfg(fast, 3_000_000, 6_000_000))
	bn := net.Node(t, "buyer", 2000)
	b, err := New(ctx, bn, Config{StallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := b.ServeOpenAI("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Shutdown(ctx)

	// With a key, the endpoint refuses requests without it.
	locked, err := b.ServeOpenAI("127.0.0.1:0", "k3y")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := http.Get(locked.URL() + "/models"); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no key: %v %v", r.StatusCode, err)
	}
	req, _ := http.NewRequest("GET", locked.URL()+"/models", nil)
	req.Header.Set("Authorization", "Bearer k3y")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("with key: %v", err)
	}
	locked.Shutdown(ctx)
	// Models.
	resp, err := http.Get(ep.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	var ml struct{ Data []struct{ ID string } }
	json.NewDecoder(resp.Body).Decode(&ml)
	resp.Body.Close()
	if len(ml.Data) != 1 || ml.Data[0].ID != "standin-1" {
		t.Fatalf("models %+v", ml)
	}
	// Non-streaming, paid, change back.
	before, _ := bn.Wallet.Balance(ctx)
	resp, err = http.Post(ep.URL()+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"standin-1","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   struct {
			CompletionTokens uint64 `json:"completion_tokens"`
		}
	}
	json.NewDecoder(resp.Body).Decode(&cc)
	resp.Body.Close()
	if resp.StatusCode != 200 || cc.Choices[0].Message.Content != strings.Join(words, " ") || cc.Usage.CompletionTokens != uint64(len(words)) {
		t.Fatalf("%s %+v", resp.Status, cc)
	}
	if resp.Header.Get("X-Sovmesh-Provider") != pa.Node.Key.Pubkey {
		t.Fatal("the cheaper provider did not serve")
	}
	after, _ := bn.Wallet.Balance(ctx)
	tot, _ := pa.Node.DB.Totals(ctx, time.Time{})
	if before-after != tot.Net() || tot.Change == 0 {
		t.Fatalf("spent %d, provider earned %d (change %d)", before-after, tot.Net(), tot.Change)
	}
	// Streaming, with the cheap provider killed mid-answer: the answer
	// continues on the other provider.
	killed := time.Time{}
	var resumed time.Duration
	content, resp := streamChat(t, ep.URL(), func(i int) {
		if i == 3 {
			killed = time.Now()
			go pa.Kill()
		}
		if i == 4 && !killed.IsZero() {
			resumed = time.Since(killed)
		}
	})
	if content != strings.Join(words, " ") {
		t.Fatalf("content after failover: %q", content)
	}
	// How fast it resumes is BenchmarkFailover's to measure, not a timed
	// test's (a loaded machine takes seconds).
	if resumed == 0 {
		t.Fatal("the answer did not resume after the kill")
	}
	t.Logf("time to recover (kill -> next chunk at the client): %v; internal %v", resumed, b.Recoveries())
	if tot, _ := pb.Node.DB.Totals(ctx, time.Time{}); tot.Net() == 0 {
		t.Fatal("the second provider earned nothing")
	}
}

// TestChangeOverRelays: change the provider could not deliver in band
// reaches the buyer as a gift wrap and is redeemed once.
func TestChangeOverRelays(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "standin-1", words, time.Millisecond)
	p := startProvider(t, net, "p", inferenceCfg(llm, 1_000_000, 1_000_000))
	if err := p.Node.Wallet.Fund(ctx, 50); err != nil {
		t.Fatal(err)
	}
	bn := net.Node(t, "buyer", 0)
	sent, err := p.Node.Wallet.Send(ctx, 7, cashu.SendOptions{Counterparty: bn.Key.Pubkey})
	if err != nil {
		t.Fatal(err)
	}
	chg, _ := json.Marshal(metering.Change{Object: metering.ChangeObject, Token: sent.Token, ChangeSats: 7})
	p.P.SendChangeNote(ctx, bn.Key.Pubkey, chg)
	b, err := New(ctx, bn, Config{}) // collects on start
	if err != nil {
		t.Fatal(err)
	}
	if bal, _ := bn.Wallet.Balance(ctx); bal != 7 {
		t.Fatalf("balance %d after collecting change", bal)
	}
	if got, err := b.CollectChange(ctx); err != nil || got != 0 {
		t.Fatalf("collected twice: %d %v", got, err)
	}
}

// TestFailoverOnSilence: a provider that stops answering mid-answer (its
// connection open, no chunk) is replaced after the stall timeout, and the
// answer completes on the next provider.
func TestFailoverOnSilence(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	hang := agentdtest.StartLLM(t, "standin-1", words, time.Millisecond)
	hang.HangAfter(3)
	ok := agentdtest.StartLLM(t, "standin-1", words, time.Millisecond)
	startProvider(t, net, "hangs", inferenceCfg(hang, 1_000_000, 1_000_000))
	good := startProvider(t, net, "good", inferenceCfg(ok, 5_000_000, 5_000_000))
	bn := net.Node(t, "buyer", 2000)
	b, err := New(ctx, bn, Config{StallTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := b.ServeOpenAI("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Shutdown(ctx)
	start := time.Now()
	content, _ := streamChat(t, ep.URL(), nil)
	if content != strings.Join(words, " ") {
		t.Fatalf("content %q", content)
	}
	if hang.Requests.Load() != 1 || ok.Requests.Load() != 1 {
		t.Fatalf("requests: hanging %d, good %d", hang.Requests.Load(), ok.Requests.Load())
	}
	rec := b.Recoveries()
	if len(rec) != 1 {
		t.Fatalf("recoveries %v", rec)
	}
	t.Logf("answer in %v; stall timeout 500ms + switch %v", time.Since(start), rec[0])
	if tot, _ := good.Node.DB.Totals(ctx, time.Time{}); tot.Net() == 0 {
		t.Fatal("the good provider earned nothing")
	}
}
