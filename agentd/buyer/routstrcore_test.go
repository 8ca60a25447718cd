package buyer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// No Routstr client or provider library is published on npm or the Go
// module proxy (@routstr/sdk, routstr, routstr-sdk, ... are not on npm;
// routstr-core is a Python server), so the buyer is tested against our own
// provider's Routstr endpoint and against routstrCore below.

// routstrCore is a stand-in for a routstr-core provider (nothing of
// Routstr's runs here), following the protocol as routstr-core implements
// it (routstr/payment/x_cashu.py, routstr/nip91.py): GET /v1/models lists
// sats_pricing in sats per token; POST /v1/chat/completions takes a Cashu
// token in X-Cashu, answers 402 before redeeming when it is worth less
// than the request's maximum cost, redeems it, and returns the change in
// the X-Cashu response header; when the model fails it answers the
// model's status with the whole payment back, in X-Cashu and in
// error.refund_token. Its wallet is a real node's, at the dev mint.
type routstrCore struct {
	n      *agentd.Node
	url    string
	model  string
	prompt float64 // quoted sats per prompt token
	compl  float64 // quoted sats per completion token
	// mode: "ok"; "fail" (the model answers 500 after the payment is
	// redeemed); "liar" (asks 10x its quoted prices: 402); "keep" (keeps
	// the whole payment, no change); "hang" (holds the request until
	// release is closed, then redeems).
	mode    string
	release chan struct{}
	got     chan struct{} // a paid request arrived
	served  atomic.Int64
	models  atomic.Int64 // GET /v1/models answered
}

var coreWords = []string{"alpha", "beta", "gamma"}

func startCore(t *testing.T, n *agentd.Node, model, mode string) *routstrCore {
	t.Helper()
	c := &routstrCore{n: n, model: model, prompt: 0.01, compl: 0.05, mode: mode, release: make(chan struct{}), got: make(chan struct{}, 8)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		c.models.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]any{"id": c.model, "name": c.model, "object": "model",
			"sats_pricing": map[string]float64{"prompt": c.prompt, "completion": c.compl, "request": 0, "max_cost": 100}}}})
	})
	mux.HandleFunc("POST /v1/chat/completions", c.chat)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		select {
		case <-c.release:
		default:
			close(c.release)
		}
		_ = srv.Close()
	})
	c.url = "http://" + ln.Addr().String()
	return c
}

func coreError(w http.ResponseWriter, status int, typ, msg string, refund string) {
	w.Header().Set("Content-Type", "application/json")
	if refund != "" {
		w.Header().Set("X-Cashu", refund)
	}
	w.WriteHeader(status)
	e := map[string]any{"message": msg, "type": typ, "code": status}
	if refund != "" {
		e["refund_token"] = refund
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (c *routstrCore) chat(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("X-Cashu")
	var body struct {
		Model     string            `json:"model"`
		Messages  []json.RawMessage `json:"messages"`
		MaxTokens uint64            `json:"max_tokens"`
		Stream    bool              `json:"stream"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Model != c.model || tok == "" {
		coreError(w, http.StatusBadRequest, "invalid_request", "bad request", "")
		return
	}
	prompt, compl := c.prompt, c.compl
	if c.mode == "liar" {
		prompt, compl = 10*prompt, 10*compl
	}
	promptTokens := uint64(len(mustJSON(body.Messages)))/2 + 16
	maxCost := uint64(math.Ceil(float64(promptTokens)*prompt + float64(body.MaxTokens)*compl))
	info, err := cashu.Inspect(tok)
	if err != nil {
		coreError(w, http.StatusBadRequest, "invalid_token", "The provided CASHU token is invalid", "")
		return
	}
	if info.Amount < maxCost {
		coreError(w, http.StatusPaymentRequired, "insufficient_balance", fmt.Sprintf("need %d sats", maxCost), "")
		return
	}
	if c.mode == "hang" {
		c.got <- struct{}{}
		<-c.release
	}
	ctx := context.WithoutCancel(r.Context())
	rcv, err := c.n.Wallet.Receive(ctx, tok, cashu.ReceiveOptions{})
	if err != nil {
		coreError(w, http.StatusBadRequest, "token_already_spent", "The provided CASHU token has already been spent", "")
		return
	}
	if c.mode == "fail" {
		s, err := c.n.Wallet.Send(ctx, rcv.Amount, cashu.SendOptions{})
		if err != nil {
			panic(err)
		}
		coreError(w, http.StatusInternalServerError, "upstream_error", "Error forwarding request to upstream", s.Token)
		return
	}
	usagePrompt, usageCompl := uint64(10), uint64(len(coreWords))
	cost := uint64(math.Ceil(float64(usagePrompt)*prompt + float64(usageCompl)*compl))
	if change := rcv.Amount - min(rcv.Amount, cost); change > 0 && c.mode != "keep" {
		s, err := c.n.Wallet.Send(ctx, change, cashu.SendOptions{})
		if err != nil {
			panic(err)
		}
		w.Header().Set("X-Cashu", s.Token)
	}
	c.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-core", "object": "chat.completion", "model": c.model,
		"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": strings.Join(coreWords, " ")}, "finish_reason": "stop"}},
		"usage":   map[string]uint64{"prompt_tokens": usagePrompt, "completion_tokens": usageCompl, "total_tokens": usagePrompt + usageCompl}})
}

// announce publishes a kind 38421 announcement signed by sk (through
// node n's relays) and waits until the relay serves it.
func announce(t *testing.T, n *agentd.Node, sk string, tags nostr.Tags, content string) string {
	t.Helper()
	ev := nostr.Event{Kind: nips.KindRoutstr, CreatedAt: nostr.Now(), Tags: tags, Content: content}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := n.PublishSigned(t.Context(), ev); err != nil {
		t.Fatalf("publish 38421: %v", err)
	}
	evs, err := n.Relays.Query(t.Context(), nostr.Filter{IDs: []string{ev.ID}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("the relay does not serve the announcement: %d %v", len(evs), err)
	}
	return ev.PubKey
}

// coreTags is routstr-core's announcement of c (nip91.py: d, u, mint,
// version).
func coreTags(c *routstrCore, mint string) nostr.Tags {
	return nostr.Tags{{"d", "core-" + c.model}, {"u", c.url + "/"}, {"mint", mint}, {"version", "0.2.0"}}
}

// hostileModels serves a model list no price can be read from.
func hostileModels(t *testing.T, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("a %s request reached a provider with no usable price", r.Method)
		}
		_, _ = io.WriteString(w, body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
