package buyer

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// maxRequest bounds a chat completion request body.
const maxRequest = 1 << 20

// Endpoint is the local OpenAI-compatible server.
type Endpoint struct {
	b    *Buyer
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Addr returns the listen address.
func (e *Endpoint) Addr() string { return e.ln.Addr().String() }

// URL returns the base URL (…/v1).
func (e *Endpoint) URL() string { return "http://" + e.Addr() + "/v1" }

// Shutdown stops the server and waits for it.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	<-e.done
	return err
}

// ServeOpenAI starts the endpoint on addr (e.g. 127.0.0.1:8088): POST
// /v1/chat/completions (streaming or not) and GET /v1/models. Each request
// is paid with a reservation token; the provider returns the change.
//
// apiKey, when not empty, must be presented as "Authorization: Bearer
// <apiKey>" (any local process could otherwise spend the wallet, within
// the budget).
func (b *Buyer) ServeOpenAI(addr, apiKey string) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("buyer: openai endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", b.handleModels)
	mux.HandleFunc("POST /v1/chat/completions", b.handleChat)
	var h http.Handler = mux
	if apiKey != "" {
		want := []byte("Bearer " + apiKey)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				apiError(w, http.StatusUnauthorized, "invalid_request_error", "missing or wrong API key")
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	e := &Endpoint{b: b, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { defer close(e.done); _ = e.srv.Serve(ln) }()
	return e, nil
}

func apiError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ}})
}

func (b *Buyer) handleModels(w http.ResponseWriter, r *http.Request) {
	cands, err := b.candidates(r.Context(), nips.Inference, "")
	if err != nil && !errors.Is(err, ErrNoOffer) {
		apiError(w, http.StatusBadGateway, "market_error", err.Error())
		return
	}
	seen := map[string]bool{}
	data := []map[string]any{}
	for _, c := range cands {
		for _, m := range c.Offer.Models {
			if !seen[m] {
				seen[m] = true
				data = append(data, map[string]any{"id": m, "object": "model", "owned_by": "sovmesh-market"})
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// chatRequest is what the endpoint reads of a request.
type chatRequest struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        bool              `json:"stream"`
	MaxTokens     uint64            `json:"max_tokens"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// sink receives the answer: SSE to the client, or accumulated.
type sink struct {
	w         http.ResponseWriter
	stream    bool
	usage     bool
	started   bool
	content   strings.Builder
	id, model string
	finish    string
	prompt    uint64
	compl     uint64
	provider  string
	lastChunk time.Time
}

func (s *sink) chunk(raw []byte) {
	var c struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			Prompt     uint64 `json:"prompt_tokens"`
			Completion uint64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(raw, &c)
	if c.ID != "" {
		s.id = c.ID
	}
	if c.Model != "" {
		s.model = c.Model
	}
	for _, ch := range c.Choices {
		s.content.WriteString(ch.Delta.Content)
		if ch.FinishReason != nil {
			s.finish = *ch.FinishReason
		}
	}
	if c.Usage != nil {
		s.prompt += c.Usage.Prompt
		s.compl += c.Usage.Completion
	}
	s.lastChunk = time.Now()
	if !s.stream {
		return
	}
	if len(c.Choices) == 0 && c.Usage != nil && !s.usage {
		return // the client did not ask for usage
	}
	if !s.started {
		s.w.Header().Set("Content-Type", "text/event-stream")
		s.w.Header().Set("Cache-Control", "no-cache")
		s.w.Header().Set("X-Sovmesh-Provider", s.provider)
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	fmt.Fprintf(s.w, "data: %s\n\n", raw)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (b *Buyer) handleChat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		apiError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request too large or unreadable")
		return
	}
	var req chatRequest
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || json.Unmarshal(body, &fields) != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", "body is not a JSON chat completion request")
		return
	}
	if _, err := transport.ParseChatRequest(body); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	s := &sink{w: w, stream: req.Stream, usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, model: req.Model}
	err = b.Complete(r.Context(), fields, req, s)
	if err != nil {
		if s.started {
			fmt.Fprintf(w, "data: %s\n\n", mustJSON(map[string]any{"error": map[string]any{"message": err.Error()}}))
			return
		}
		code := http.StatusBadGateway
		if errors.Is(err, ErrNoOffer) {
			code = http.StatusNotFound
		} else if walletRefused(err) {
			code = http.StatusPaymentRequired
		}
		apiError(w, code, "market_error", err.Error())
		return
	}
	if req.Stream {
		if !s.started {
			s.chunk(mustJSON(map[string]any{"id": s.id, "object": "chat.completion.chunk", "model": s.model, "choices": []any{}}))
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	finish := s.finish
	if finish == "" {
		finish = "stop"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Sovmesh-Provider", s.provider)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": s.id, "object": "chat.completion", "created": time.Now().Unix(), "model": s.model,
		"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": s.content.String()}, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": s.prompt, "completion_tokens": s.compl, "total_tokens": s.prompt + s.compl},
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// walletRefused reports whether err is our own wallet or budgets (local,
// or the owner's authorization) refusing a payment.
func walletRefused(err error) bool {
	return errors.Is(err, cashu.ErrOverBudget) || errors.Is(err, cashu.ErrInsufficient) || errors.Is(err, budget.ErrNoBudget)
}

// errStall means the provider stopped sending mid-answer.
var errStall = errors.New("buyer: provider stalled")

// Complete buys one completion, moving to the next-best provider when one
// fails or stalls (continuing the partial answer there).
func (b *Buyer) Complete(ctx context.Context, fields map[string]json.RawMessage, req chatRequest, s *sink) error {
	cands, err := b.candidates(ctx, nips.Inference, req.Model)
	if err != nil {
		return err
	}
	maxTokens := req.MaxTokens
	if maxTokens == 0 {
		maxTokens = nips.DefaultMaxTokens
	}
	var failedAt time.Time
	var errs []error
	for i, c := range cands {
		if i >= 4 {
			break
		}
		if i > 0 && b.isDead(c.Offer) {
			continue
		}
		var err error
		if c.Routstr != nil {
			err = b.completeRoutstr(ctx, c, fields, req, maxTokens, s, &failedAt)
		} else {
			err = b.completeOn(ctx, c, fields, req, maxTokens, s, &failedAt)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || walletRefused(err) {
			// Not the provider's fault: no other would fare better.
			return err
		}
		errs = append(errs, err)
		b.log.Warn("inference provider failed, moving on", "provider", c.Offer.Pubkey, "err", err)
		b.markDead(c.Offer)
		if failedAt.IsZero() {
			failedAt = time.Now()
		}
	}
	return fmt.Errorf("%w: every provider failed: %w", ErrNoOffer, errors.Join(errs...))
}

func (b *Buyer) completeOn(ctx context.Context, c Candidate, fields map[string]json.RawMessage, req chatRequest, maxTokens uint64, s *sink, failedAt *time.Time) error {
	sess, err := b.session(ctx, c, maxTokens+1024, 0, req.Model)
	if err != nil {
		return err
	}
	msgs := req.Messages
	if partial := s.content.String(); partial != "" {
		// Continue the answer the last provider began.
		msgs = append(append([]json.RawMessage(nil), msgs...), mustJSON(map[string]string{"role": "assistant", "content": partial}))
	}
	msgJSON := mustJSON(msgs)
	reserve := metering.MsatToSats(metering.InferenceCost(sess.Match.Prices, nips.PromptEstimate(msgJSON), maxTokens))
	reserve = max(reserve, 1)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	sent, err := b.wallet.Send(sctx, reserve, cashu.SendOptions{Counterparty: c.Offer.Pubkey, IncludeFees: true,
		OnJournal: b.db.Recorder(state.Entry{Session: sess.ID, Kind: state.Spend, Counterparty: c.Offer.Pubkey, Resource: nips.Inference})})
	cancel()
	if err != nil {
		return fmt.Errorf("buyer: reserve %d sats: %w", reserve, err)
	}
	if err := b.db.AddUsage(ctx, sess.ID, sent.Amount*1000, 0); err != nil {
		b.log.Warn("session usage not recorded", "session", sess.ID, "err", err)
	}
	out := make(map[string]json.RawMessage, len(fields)+2)
	for k, v := range fields {
		out[k] = v
	}
	out["messages"] = msgJSON
	out["stream"] = json.RawMessage("true")
	out[metering.TokenField] = mustJSON(sent.Token)
	out[nips.InferenceSessionField] = mustJSON(sess.ID)
	raw := mustJSON(out)
	gotChange := false
	defer func() {
		if !gotChange {
			// The provider never answered with change: take back the
			// reservation if it did not redeem it.
			// (If it cannot now, the node's ReclaimStale does later.)
			if _, err := metering.Reclaim(context.WithoutCancel(ctx), b.wallet, b.db, c.Offer.Pubkey, []int64{sent.OpID}); err != nil {
				b.log.Warn("reservation not reclaimed yet", "session", sess.ID, "err", err)
			}
		} else if err := b.wallet.MarkDelivered(context.WithoutCancel(ctx), sent.OpID); err != nil {
			b.log.Warn("reservation delivery not recorded", "session", sess.ID, "err", err)
		}
	}()
	st, err := b.host.Infer(ctx, sess.Peer, raw, nil)
	if err != nil {
		return fmt.Errorf("buyer: infer: %w", err)
	}
	defer st.Close()
	s.provider = c.Offer.Pubkey
	type item struct {
		b   []byte
		err error
	}
	ch := make(chan item)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			chunk, err := st.Recv()
			if chunk != nil {
				chunk = bytes.Clone(chunk)
			}
			select {
			case ch <- item{chunk, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); st.Close(); wg.Wait() }()
	timer := time.NewTimer(max(b.cfg.FirstChunkTimeout, b.cfg.StallTimeout))
	defer timer.Stop()
	for {
		var it item
		select {
		case it = <-ch:
		case <-timer.C:
			if s.finish != "" {
				// The answer is complete; only the change is late. It
				// reaches us over the relays if the stream is gone.
				return nil
			}
			return errStall
		case <-ctx.Done():
			return ctx.Err()
		}
		if it.err == io.EOF {
			if !gotChange && s.finish == "" {
				return errors.New("buyer: answer ended without the provider's change")
			}
			return nil
		}
		if it.err != nil {
			if s.finish != "" {
				return nil
			}
			return it.err
		}
		if s.finish != "" {
			// Pricing and change take a mint round trip: not a stall.
			timer.Reset(max(b.cfg.FirstChunkTimeout, b.cfg.StallTimeout))
		} else {
			timer.Reset(b.cfg.StallTimeout)
		}
		var probe struct {
			Object string `json:"object"`
		}
		_ = json.Unmarshal(it.b, &probe)
		if probe.Object == metering.ChangeObject {
			var chg metering.Change
			if err := json.Unmarshal(it.b, &chg); err != nil {
				return fmt.Errorf("buyer: bad change chunk: %w", err)
			}
			gotChange = true
			b.takeChange(ctx, sess, chg)
			if chg.Error != "" && s.content.Len() == 0 {
				return fmt.Errorf("buyer: provider: %s", chg.Error)
			}
			continue
		}
		if !failedAt.IsZero() {
			b.recordRecovery(c.Offer.Pubkey, time.Since(*failedAt))
			*failedAt = time.Time{}
		}
		s.chunk(it.b)
	}
}
