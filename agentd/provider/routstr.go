package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/internal/httpserve"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
	"github.com/sovmesh/sovmesh/nips"
)

// The Routstr endpoint: the provider's model behind Routstr's HTTP API
// (an OpenAI-compatible /v1 paid per request in Cashu), announced with
// kind 38421 beside the inference offer. A request pays with a cashuA/B
// token in the X-Cashu header (or as the API key: Authorization: Bearer
// cashu...); the token must cover the maximum cost (the prompt estimate
// plus max_tokens at the offer's prices, rounded up to sats), is redeemed,
// and the completion is served by the same code as the libp2p path
// (inferBackend.complete): what the usage does not cost comes back as a
// token in the X-Cashu response header. Like routstr-core, a streamed
// answer is read whole from the model before the response starts, so the
// change header goes with it. If the model fails before answering, the
// whole payment comes back (502, X-Cashu and error.refund_token).
const (
	routstrMaxBody   = 1 << 20  // bytes of a request body
	routstrMaxAnswer = 16 << 20 // bytes of an answer held before sending
	routstrTimeout   = 10 * time.Second
)

// listenRoutstr opens the Routstr listener; its URL is announced (kind
// 38421) unless the address is a wildcard one.
func (p *Provider) listenRoutstr() (net.Listener, error) {
	ln, err := net.Listen("tcp", p.cfg.Routstr)
	if err != nil {
		return nil, fmt.Errorf("provider: routstr: %w", err)
	}
	a, _ := ln.Addr().(*net.TCPAddr)
	p.mu.Lock()
	p.routstrAddr = ln.Addr().String()
	if a != nil && !a.IP.IsUnspecified() {
		p.routstrURL = "http://" + ln.Addr().String()
	}
	p.mu.Unlock()
	return ln, nil
}

// RoutstrAddr returns the address the Routstr endpoint listens on ("" if
// none).
func (p *Provider) RoutstrAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.routstrAddr
}

// serveRoutstr serves until ctx ends.
func (p *Provider) serveRoutstr(ctx context.Context, ln net.Listener) {
	log := p.log.With("service", "routstr")
	log.Info("routstr serving", "addr", ln.Addr().String())
	// Paid requests beyond twice what the model serves at once wait for
	// none: they get 429 before their token is looked at.
	rs := &routstrServer{p: p, busy: make(chan struct{}, 2*p.cfg.Inference.MaxConcurrent)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", rs.models)
	mux.HandleFunc("POST /v1/chat/completions", rs.chat)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: routstrTimeout, IdleTimeout: time.Minute, MaxHeaderBytes: 256 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug), BaseContext: func(net.Listener) context.Context { return ctx }}
	if err := httpserve.Serve(ctx, ln, hs, 5*time.Second); err != nil {
		log.Warn("routstr stopped", "err", err)
	}
}

// routstrServer serves a provider's Routstr endpoint.
type routstrServer struct {
	p    *Provider
	busy chan struct{} // requests being served
}

// routstrError answers an OpenAI-style error object; extra fields join it.
func routstrError(w http.ResponseWriter, status int, typ, msg string, extra map[string]any) {
	e := map[string]any{"message": msg, "type": typ, "code": typ}
	for k, v := range extra {
		e[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// routstrModels lists the models with their prices: msats per 1M prompt
// and completion tokens (the offer's units), and Routstr's sats_pricing
// (sats per token). Free.
func (rs *routstrServer) models(w http.ResponseWriter, r *http.Request) {
	p := rs.p
	prices := p.prices(nips.Inference)
	in, _ := prices.Of(nips.UnitMInputTokens)
	out, _ := prices.Of(nips.UnitMOutputTokens)
	data := make([]map[string]any, 0, len(p.infer.models))
	for _, m := range p.infer.models {
		data = append(data, map[string]any{"id": m, "object": "model", "owned_by": p.pubkey,
			"context_length":  p.cfg.Inference.ContextLength,
			"msat_pricing":    map[string]uint64{"prompt_per_1m": in, "completion_per_1m": out},
			"sats_pricing":    map[string]float64{"prompt": float64(in) / 1e9, "completion": float64(out) / 1e9},
			"payment_methods": []string{"X-Cashu", "Bearer cashu"}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// routstrToken returns the request's Cashu token: X-Cashu, or the API key
// when it is a token. ok is false for an API key that is not one.
func routstrToken(r *http.Request) (tok string, ok bool) {
	if t := strings.TrimSpace(r.Header.Get(nut24.Header)); t != "" {
		return t, true
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", true
	}
	key, found := strings.CutPrefix(auth, "Bearer ")
	key = strings.TrimSpace(key)
	if !found || !strings.HasPrefix(key, "cashu") {
		return "", false
	}
	return key, true
}

// routstrRequest is what the endpoint reads of a chat completion request
// before paying: the body (forwarded as is, bar the fields we set), the
// model, whether to stream, and the most it can cost.
type routstrRequest struct {
	body    map[string]json.RawMessage
	model   string
	stream  bool
	maxMsat uint64
}

// parseRoutstrRequest checks a chat completion request body against the
// models served and prices its maximum cost.
func parseRoutstrRequest(raw []byte, models []string, prices nips.Prices) (routstrRequest, error) {
	var q routstrRequest
	if err := json.Unmarshal(raw, &q.body); err != nil || q.body == nil {
		return q, errors.New("the body is not a JSON object")
	}
	if err := json.Unmarshal(q.body["model"], &q.model); err != nil || !slices.Contains(models, q.model) {
		return q, fmt.Errorf("unknown model %.64q", q.model)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(q.body["messages"], &msgs); err != nil || len(msgs) == 0 {
		return q, errors.New("messages must be a non-empty array")
	}
	if s, ok := q.body["stream"]; ok {
		if err := json.Unmarshal(s, &q.stream); err != nil {
			return q, errors.New("stream must be a boolean")
		}
	}
	asked := uint64(nips.DefaultMaxTokens)
	if m, ok := q.body["max_tokens"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &asked); err != nil || asked == 0 {
			return q, errors.New("max_tokens must be a positive integer")
		}
	}
	q.maxMsat = metering.InferenceCost(prices, nips.PromptEstimate(q.body["messages"]), asked)
	return q, nil
}

func (rs *routstrServer) chat(w http.ResponseWriter, r *http.Request) {
	p := rs.p
	select {
	case rs.busy <- struct{}{}:
		defer func() { <-rs.busy }()
	default:
		w.Header().Set("Retry-After", "1")
		routstrError(w, http.StatusTooManyRequests, "rate_limited", "the model is busy; retry", nil)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, routstrMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			routstrError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", fmt.Sprintf("request body over %d bytes", routstrMaxBody), nil)
			return
		}
		routstrError(w, http.StatusBadRequest, "invalid_request_error", "request body not read", nil)
		return
	}
	prices := p.prices(nips.Inference)
	q, err := parseRoutstrRequest(raw, p.infer.models, prices)
	if err != nil {
		routstrError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), nil)
		return
	}
	needSats := metering.MsatToSats(q.maxMsat)
	tok, ok := routstrToken(r)
	if !ok {
		routstrError(w, http.StatusUnauthorized, "invalid_api_key", "this provider has no accounts: the API key must be a Cashu token (cashuA/cashuB)", nil)
		return
	}
	required := map[string]any{"amount_required_msat": q.maxMsat, "amount_required_sat": needSats, "model": q.model, "mints": p.wallet.Mints()}
	if tok == "" {
		if pr, err := (creq.Request{Amount: needSats, Unit: "sat", Mints: p.wallet.Mints()}).Encode(); err == nil {
			w.Header().Set(nut24.Header, pr) // NUT-24 payment request
		}
		routstrError(w, http.StatusPaymentRequired, "payment_required",
			fmt.Sprintf("payment required: a Cashu token of at least %d sat in the X-Cashu header", needSats), required)
		return
	}
	info, err := cashu.Inspect(tok)
	if err != nil {
		routstrError(w, http.StatusBadRequest, "invalid_token", "the Cashu token does not decode", nil)
		return
	}
	if info.Unit != "sat" {
		routstrError(w, http.StatusBadRequest, "invalid_token", "the Cashu token must be in sat", nil)
		return
	}
	if info.Amount < needSats {
		required["reason"] = "Insufficient balance"
		routstrError(w, http.StatusPaymentRequired, "minimum_balance_required",
			fmt.Sprintf("the token holds %d sat; this request may cost %d sat", info.Amount, needSats), required)
		return
	}
	var answer [][]byte
	size := 0
	collect := func(chunk []byte) error {
		if size += len(chunk); size > routstrMaxAnswer {
			return errors.New("answer too long")
		}
		answer = append(answer, bytes.Clone(chunk))
		return nil
	}
	c, err := p.infer.complete(r.Context(), tok, "", q.body, collect)
	if err != nil {
		routstrError(w, http.StatusBadRequest, "cashu_error", err.Error(), nil)
		return
	}
	if c.change.Token != "" {
		w.Header().Set(nut24.Header, c.change.Token)
	}
	if c.fwdErr != nil && c.chunks == 0 {
		p.log.Info("routstr model failed; payment returned", "service", "routstr", "change_sats", c.change.ChangeSats, "err", c.fwdErr)
		routstrError(w, http.StatusBadGateway, "upstream_error", "the model failed: "+c.change.Error,
			map[string]any{"refund_token": c.change.Token})
		return
	}
	if q.stream {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for _, ch := range answer {
			_, _ = fmt.Fprintf(w, "data: %s\n\n", ch)
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(assembleCompletion(answer, q.model, c.change))
}

// assembleCompletion makes the chat.completion object of a non-streamed
// request from the model's streamed chunks, with the usage we charged.
func assembleCompletion(chunks [][]byte, model string, ch metering.Change) map[string]any {
	id, finish := "", "stop"
	var content strings.Builder
	for _, b := range chunks {
		var c struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if json.Unmarshal(b, &c) != nil {
			continue
		}
		if id == "" {
			id = c.ID
		}
		for _, x := range c.Choices {
			content.WriteString(x.Delta.Content)
			if x.FinishReason != nil && *x.FinishReason != "" {
				finish = *x.FinishReason
			}
		}
	}
	return map[string]any{"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []map[string]any{{"index": 0, "message": map[string]string{"role": "assistant", "content": content.String()}, "finish_reason": finish}},
		"usage":   map[string]uint64{"prompt_tokens": ch.Prompt, "completion_tokens": ch.Completion, "total_tokens": ch.Prompt + ch.Completion}}
}
