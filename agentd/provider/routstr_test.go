package provider_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// routstrEnv is an inference provider with --routstr, its model behind a
// proxy the test takes down, and a funded buyer that speaks Routstr's HTTP
// API with a plain HTTP client.
type routstrEnv struct {
	p, b     *agentd.Node
	prov     *provider.Provider
	url      string
	announce *nostr.Event
	model    *agentdtest.Proxy
	http     *http.Client
	stop     func() // stops the provider (it withdraws its offers)
}

var routstrWords = []string{"one", "two", "three", "four", "five"}

func startRoutstr(t *testing.T) *routstrEnv {
	t.Helper()
	net := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "standin-1", routstrWords, 0)
	model := agentdtest.StartProxy(t, llm.URL)
	pn := net.Node(t, "p", 0)
	bn := net.Node(t, "b", 500)
	// 0.1 sat per prompt token, 1 sat per completion token.
	prov, err := provider.New(pn, provider.Config{Inference: &provider.InferenceConfig{URL: model.URL, Models: []string{"standin-1"},
		PriceInMsat: 100_000_000, PriceOutMsat: 1_000_000_000}, PriceInterval: time.Hour, Routstr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nostr.Event, 4)
	sctx, stopSub := context.WithCancel(t.Context())
	defer stopSub()
	ready := make(chan struct{})
	go bn.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindRoutstr}, Authors: []string{pn.Key.Pubkey}}}, func(ev *nostr.Event) {
		select {
		case got <- ev:
		default:
		}
	}, ready)
	<-ready
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = prov.Run(rctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	e := &routstrEnv{p: pn, b: bn, prov: prov, model: model, http: &http.Client{Timeout: 30 * time.Second}, stop: stop}
	select {
	case e.announce = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("no kind 38421 announcement")
	}
	e.url = "http://" + prov.RoutstrAddr()
	return e
}

func (e *routstrEnv) post(t *testing.T, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// token pays sats from the buyer's wallet.
func (e *routstrEnv) token(t *testing.T, sats uint64) string {
	t.Helper()
	s, err := e.b.Wallet.Send(t.Context(), sats, cashu.SendOptions{IncludeFees: true})
	if err != nil {
		t.Fatal(err)
	}
	return s.Token
}

// redeem receives the change token of a response into the buyer's wallet.
func (e *routstrEnv) redeem(t *testing.T, resp *http.Response) uint64 {
	t.Helper()
	tok := resp.Header.Get("X-Cashu")
	if !strings.HasPrefix(tok, "cashu") {
		t.Fatalf("no change token in X-Cashu: %q", tok)
	}
	r, err := e.b.Wallet.Receive(t.Context(), tok, cashu.ReceiveOptions{})
	if err != nil {
		t.Fatalf("change token not redeemable: %v", err)
	}
	return r.Amount
}

func balance(t *testing.T, n *agentd.Node) uint64 {
	t.Helper()
	b, err := n.Wallet.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type routstrError struct {
	Error struct {
		Type        string `json:"type"`
		Message     string `json:"message"`
		RequiredSat uint64 `json:"amount_required_sat"`
		RefundToken string `json:"refund_token"`
	} `json:"error"`
}

// TestRoutstr: a provider with --routstr sells its model the way Routstr
// clients expect: announced with kind 38421 beside its inference offer,
// /v1/models free, 402 without payment, a paid request (X-Cashu or a
// cashu API key, streamed or not) answered with the change in the X-Cashu
// response header, the whole payment back as change when the model fails,
// hostile requests refused with a 4xx, and every sat accounted for.
func TestRoutstr(t *testing.T) {
	e := startRoutstr(t)
	ctx := t.Context()
	startBuyer := balance(t, e.b)

	t.Run("announcement", func(t *testing.T) {
		o, ok := e.prov.Offer(nips.Inference)
		if !ok {
			t.Fatal("no inference offer")
		}
		ev := e.announce
		if ev.Tags.GetD() != o.ID {
			t.Errorf("d %q, offer d %q", ev.Tags.GetD(), o.ID)
		}
		want := map[string]string{"u": e.url, "mint": o.Payments[0].Mint, "version": nips.RoutstrVersion, "a": o.Address()}
		for k, v := range want {
			if tag := ev.Tags.GetFirst([]string{k}); tag == nil || (*tag)[1] != v {
				t.Errorf("tag %s = %v, want %q", k, tag, v)
			}
		}
		if ok, err := ev.CheckSignature(); !ok || err != nil || ev.PubKey != e.p.Key.Pubkey {
			t.Errorf("announcement not signed by the provider: %v %v", ok, err)
		}
	})

	t.Run("models free", func(t *testing.T) {
		resp, err := e.http.Get(e.url + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l struct {
			Data []struct {
				ID          string            `json:"id"`
				MsatPricing map[string]uint64 `json:"msat_pricing"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || resp.StatusCode != 200 || len(l.Data) != 1 || l.Data[0].ID != "standin-1" ||
			l.Data[0].MsatPricing["completion_per_1m"] == 0 {
			t.Fatalf("models: %d %+v %v", resp.StatusCode, l, err)
		}
	})

	const ask = `{"model":"standin-1","messages":[{"role":"user","content":"count"}],"max_tokens":10}`
	var need uint64
	t.Run("402 without payment", func(t *testing.T) {
		resp, body := e.post(t, ask, nil)
		var er routstrError
		_ = json.Unmarshal(body, &er)
		if resp.StatusCode != http.StatusPaymentRequired || er.Error.Type != "payment_required" || er.Error.RequiredSat == 0 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if !strings.HasPrefix(resp.Header.Get("X-Cashu"), "creqA") {
			t.Fatalf("402 without a NUT-24 payment request: %q", resp.Header.Get("X-Cashu"))
		}
		need = er.Error.RequiredSat
	})
	if need == 0 {
		t.FailNow()
	}

	t.Run("hostile input", func(t *testing.T) {
		cases := []struct {
			name, body string
			hdr        map[string]string
			status     int
		}{
			{"not json", `{"model":`, nil, 400},
			{"unknown model", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, nil, 400},
			{"no messages", `{"model":"standin-1"}`, nil, 400},
			{"bad max_tokens", `{"model":"standin-1","messages":[{"role":"user","content":"x"}],"max_tokens":-1}`, nil, 400},
			{"too big", `{"model":"standin-1","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<20) + `"}]}`, nil, 413},
			{"api key not a token", ask, map[string]string{"Authorization": "Bearer sk-abc"}, 401},
			{"garbage token", ask, map[string]string{"X-Cashu": "cashuBnotatoken"}, 400},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if resp, body := e.post(t, tc.body, tc.hdr); resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
			})
		}
	})

	t.Run("too small a token", func(t *testing.T) {
		tok := e.token(t, need-1)
		resp, body := e.post(t, ask, map[string]string{"X-Cashu": tok})
		if resp.StatusCode != http.StatusPaymentRequired || !bytes.Contains(body, []byte("minimum_balance_required")) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		// Not redeemed: the buyer takes it back whole.
		if r, err := e.b.Wallet.Receive(ctx, tok, cashu.ReceiveOptions{}); err != nil || r.Amount != need-1 {
			t.Fatalf("token not taken back: %v %+v", err, r)
		}
	})

	paid := []struct {
		name   string
		body   string
		bearer bool
	}{
		{"x-cashu", ask, false},
		{"bearer cashu", ask, true},
		{"streamed", strings.Replace(ask, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), false},
	}
	for _, tc := range paid {
		t.Run("paid "+tc.name, func(t *testing.T) {
			const extra = 7
			tok := e.token(t, need+extra)
			hdr := map[string]string{"X-Cashu": tok}
			if tc.bearer {
				hdr = map[string]string{"Authorization": "Bearer " + tok}
			}
			resp, body := e.post(t, tc.body, hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var content string
			if strings.Contains(tc.body, `"stream":true`) {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Fatalf("content type %q", ct)
				}
				sc := bufio.NewScanner(bytes.NewReader(body))
				done := false
				for sc.Scan() {
					d, ok := strings.CutPrefix(sc.Text(), "data: ")
					if !ok {
						continue
					}
					if d == "[DONE]" {
						done = true
						break
					}
					var c struct {
						Choices []struct {
							Delta struct{ Content string } `json:"delta"`
						} `json:"choices"`
					}
					if err := json.Unmarshal([]byte(d), &c); err != nil {
						t.Fatalf("chunk %q: %v", d, err)
					}
					for _, ch := range c.Choices {
						content += ch.Delta.Content
					}
				}
				if !done {
					t.Fatal("stream without [DONE]")
				}
			} else {
				var c struct {
					Choices []struct {
						Message struct{ Content string } `json:"message"`
					} `json:"choices"`
					Usage struct {
						Completion uint64 `json:"completion_tokens"`
					} `json:"usage"`
				}
				if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 || c.Usage.Completion != uint64(len(routstrWords)) {
					t.Fatalf("completion %s: %v", body, err)
				}
				content = c.Choices[0].Message.Content
			}
			if content != strings.Join(routstrWords, " ") {
				t.Fatalf("answer %q", content)
			}
			// 5 completion tokens at 1 sat, a prompt of under 10 sats:
			// change is the extra and the unused max_tokens at least.
			change := e.redeem(t, resp)
			if change < extra+5 || change >= need+extra {
				t.Fatalf("change %d of %d paid", change, need+extra)
			}
		})
	}

	t.Run("model fails", func(t *testing.T) {
		e.model.SetDown(true)
		defer e.model.SetDown(false)
		tok := e.token(t, need)
		resp, body := e.post(t, ask, map[string]string{"X-Cashu": tok})
		var er routstrError
		_ = json.Unmarshal(body, &er)
		if resp.StatusCode != http.StatusBadGateway || er.Error.Type != "upstream_error" || er.Error.RefundToken != resp.Header.Get("X-Cashu") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if got := e.redeem(t, resp); got != need {
			t.Fatalf("refund %d, paid %d", got, need)
		}
	})

	t.Run("sats conserved", func(t *testing.T) {
		spent := startBuyer - balance(t, e.b)
		earned := balance(t, e.p)
		if spent == 0 || spent != earned {
			t.Fatalf("buyer spent %d, provider holds %d", spent, earned)
		}
		tot, err := e.p.DB.LedgerByResource(ctx, string(nips.Inference))
		if err != nil || tot.Net() != earned {
			t.Fatalf("provider ledger %+v (net %d), wallet %d: %v", tot, tot.Net(), earned, err)
		}
	})

	t.Run("withdrawn with the offer", func(t *testing.T) {
		e.stop()
		evs, err := e.b.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindRoutstr, nips.KindOffer}, Authors: []string{e.p.Key.Pubkey}})
		if err != nil || len(evs) != 0 {
			t.Fatalf("%d offers or announcements left after the provider stopped: %v", len(evs), err)
		}
	})
}
