package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// Buying inference from Routstr providers: found through their kind 38421
// announcements, priced from their GET /v1/models, paid per request with a
// Cashu token in X-Cashu worth the most the request can cost at the quoted
// prices (the prompt estimate plus max_tokens), the change taken from the
// X-Cashu response header. Every payment ends delivered or refunded: a
// failed request's token comes back in X-Cashu (or error.refund_token), as
// routstr-core returns it, and whatever the provider did not redeem is
// swapped back by the buyer (metering.Reclaim); a crash in between leaves
// the send op journaled with its spend line, which Node.ReclaimStale ends.

// Sources says where inference is bought.
type Sources string

// Inference sources.
const (
	// SourcesMarket buys from sovmesh inference offers only (the default).
	SourcesMarket Sources = "market"
	// SourcesRoutstr buys from Routstr providers (kind 38421) only.
	SourcesRoutstr Sources = "routstr"
	// SourcesAll ranks both together.
	SourcesAll Sources = "all"
)

// Valid reports whether s names a source set.
func (s Sources) Valid() bool { return s == SourcesMarket || s == SourcesRoutstr || s == SourcesAll }

const (
	routstrMaxModels  = 8 << 20  // bytes of a /v1/models answer
	routstrMaxAnswer  = 16 << 20 // bytes of a completion answer
	routstrProbeLimit = 2 * time.Second
	// routstrDiscoverLimit bounds reading every provider's model list.
	routstrDiscoverLimit = 5 * time.Second
	routstrProbes        = 16 // model lists read at once
	routstrURLsTried     = 3  // of an announcement's u tags, the first tried
)

// RoutstrSource is where a Routstr candidate is bought and paid.
type RoutstrSource struct {
	URL  string // base URL (the announcement's u tag)
	Mint string // the mint we pay at: the first of its mints ours allow
	// RequestMsat is the model's per-request fee (sats_pricing.request).
	RequestMsat uint64
}

// routstrModel is one model of a provider's /v1/models list.
type routstrModel struct {
	ID          string
	Prices      nips.Prices // msats per 1M prompt / completion tokens
	RequestMsat uint64
}

// satsToMsatPer1M converts Routstr's sats per token to msats per 1M tokens,
// rounded up; ok is false for a negative, non-finite or absurd price.
func satsToMsatPer1M(sats float64) (uint64, bool) {
	if math.IsNaN(sats) || sats < 0 || sats > float64(nips.MaxMsat)/1e9 {
		return 0, false
	}
	v := sats * 1e9
	if r := math.Round(v); math.Abs(v-r) < 1e-6 {
		return uint64(r), true // 1e-6 sat is 1000, not 1000.0000000000001
	}
	return uint64(math.Ceil(v)), true
}

// parseRoutstrModels reads a /v1/models answer: each model's prices from
// sovmesh's exact msat_pricing (msats per 1M tokens) when present, else
// Routstr's sats_pricing (sats per token). A model with no usable price,
// an empty or overlong id, or an id seen before is left out.
func parseRoutstrModels(body []byte) ([]routstrModel, error) {
	var list struct {
		Data []struct {
			ID          string `json:"id"`
			MsatPricing *struct {
				Prompt     *uint64 `json:"prompt_per_1m"`
				Completion *uint64 `json:"completion_per_1m"`
			} `json:"msat_pricing"`
			SatsPricing *struct {
				Prompt     *float64 `json:"prompt"`
				Completion *float64 `json:"completion"`
				Request    float64  `json:"request"`
			} `json:"sats_pricing"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("buyer: routstr models: %w", err)
	}
	seen := map[string]bool{}
	var out []routstrModel
	for _, d := range list.Data {
		if d.ID == "" || len(d.ID) > nips.MaxTextLen || seen[d.ID] {
			continue
		}
		m := routstrModel{ID: d.ID}
		var in, outp uint64
		ok := false
		if mp := d.MsatPricing; mp != nil && mp.Prompt != nil && mp.Completion != nil {
			in, outp = *mp.Prompt, *mp.Completion
			ok = in <= nips.MaxMsat && outp <= nips.MaxMsat
		} else if sp := d.SatsPricing; sp != nil && sp.Prompt != nil && sp.Completion != nil {
			var ok1, ok2 bool
			in, ok1 = satsToMsatPer1M(*sp.Prompt)
			outp, ok2 = satsToMsatPer1M(*sp.Completion)
			ok = ok1 && ok2
		}
		if sp := d.SatsPricing; ok && sp != nil && sp.Request != 0 {
			// The per-request fee, in sats; 1e-6 of it is one msat.
			fee, okf := satsToMsatPer1M(sp.Request)
			m.RequestMsat, ok = (fee+999_999)/1_000_000, okf
		}
		if !ok {
			continue
		}
		seen[d.ID] = true
		m.Prices = nips.Prices{{Unit: nips.UnitMInputTokens, Msat: in}, {Unit: nips.UnitMOutputTokens, Msat: outp}}
		out = append(out, m)
	}
	return out, nil
}

// routstrCandidates finds the Routstr providers announced on our relays
// that take a mint we pay at, reads their models, and ranks those that
// serve model (any model, for "") within the inference ceiling as
// Discover ranks offers: price, trust, the latency of the model list, and
// our record of them.
func (b *Buyer) routstrCandidates(ctx context.Context, model string) ([]Candidate, error) {
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindRoutstr}, Limit: 500})
	if err != nil {
		return nil, fmt.Errorf("buyer: discover routstr: %w", err)
	}
	latest := map[string]nips.RoutstrProvider{}
	now := time.Now().Unix()
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		r, err := nips.ParseRoutstr(ev)
		if err != nil || r.Pubkey == b.pubkey || (r.Expiration != 0 && int64(r.Expiration) < now) || b.isDead(r.Offer(nil, nil)) {
			continue
		}
		if cur, ok := latest[r.Address()]; !ok || r.CreatedAt > cur.CreatedAt {
			latest[r.Address()] = r
		}
	}
	ceiling := b.cfg.Ceilings[nips.Inference]
	scores := b.trust(ctx)
	stats, _ := b.db.Providers(ctx)
	var out []Candidate
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Model lists are read at most routstrProbes at a time, within
	// routstrDiscoverLimit in all: a hostile announcement can neither hold
	// discovery up nor make us hold many large answers at once.
	pctx, cancel := context.WithTimeout(ctx, routstrDiscoverLimit)
	defer cancel()
	sem := make(chan struct{}, routstrProbes)
	for _, r := range latest {
		mint := ""
		for _, m := range r.Mints {
			if b.wallet.Allowed(m) {
				mint = m
				break
			}
		}
		if mint == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-pctx.Done():
				return
			}
			url, models, lat, err := b.routstrModels(pctx, r.URLs[:min(len(r.URLs), routstrURLsTried)])
			if err != nil {
				b.log.Debug("routstr provider unreachable", "provider", r.Pubkey, "err", err)
				_ = b.db.Observe(ctx, r.Pubkey, 0, false)
				return
			}
			_ = b.db.Observe(ctx, r.Pubkey, max(lat, time.Millisecond), true)
			var ids []string
			var pick *routstrModel
			for i, m := range models {
				ids = append(ids, m.ID)
				if model == m.ID || (model == "" && (pick == nil || m.Prices.Sum() > pick.Prices.Sum())) {
					pick = &models[i]
				}
			}
			if pick == nil || !pick.Prices.Within(ceiling) {
				return
			}
			o := r.Offer(ids, pick.Prices)
			c := Candidate{Offer: o, Trust: scores.Rank(o.Pubkey), Latency: lat,
				Routstr: &RoutstrSource{URL: url, Mint: mint, RequestMsat: pick.RequestMsat}}
			c.Score = score(o.Prices.Sum(), c.Trust, lat, stats[o.Pubkey])
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sortCandidates(out)
	return out, nil
}

// sortCandidates orders candidates best first.
func sortCandidates(cs []Candidate) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Score != cs[j].Score {
			return cs[i].Score < cs[j].Score
		}
		if cs[i].Offer.Pubkey != cs[j].Offer.Pubkey {
			return cs[i].Offer.Pubkey < cs[j].Offer.Pubkey
		}
		return cs[i].Routstr == nil && cs[j].Routstr != nil
	})
}

// routstrModels reads the model list of the first of urls that answers.
func (b *Buyer) routstrModels(ctx context.Context, urls []string) (string, []routstrModel, time.Duration, error) {
	var errs []error
	for _, u := range urls {
		cctx, cancel := context.WithTimeout(ctx, routstrProbeLimit)
		start := time.Now()
		models, err := b.getRoutstrModels(cctx, u)
		lat := time.Since(start)
		cancel()
		if err == nil {
			return u, models, lat, nil
		}
		errs = append(errs, err)
	}
	return "", nil, 0, errors.Join(errs...)
}

func (b *Buyer) getRoutstrModels(ctx context.Context, base string) ([]routstrModel, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.rsHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("buyer: routstr models: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, routstrMaxModels+1))
	if err != nil {
		return nil, err
	}
	if len(body) > routstrMaxModels {
		return nil, fmt.Errorf("buyer: routstr models: answer over %d bytes", routstrMaxModels)
	}
	return parseRoutstrModels(body)
}

// newRoutstrHTTP is the client Routstr requests go through: it follows no
// redirect, so a token in X-Cashu goes to the announced host only, and
// unless allowPrivate it connects to public addresses only, so an
// announcement cannot point the buyer at its own machine or LAN.
func newRoutstrHTTP(allowPrivate bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	if !allowPrivate {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: transport.PublicOnly}
		t.DialContext = d.DialContext
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// routstrCompletion is what the buyer reads of a completion answer.
type routstrCompletion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		Prompt     uint64 `json:"prompt_tokens"`
		Completion uint64 `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message     string `json:"message"`
		RefundToken string `json:"refund_token"`
	} `json:"error"`
}

// completeRoutstr buys the completion from a Routstr provider: one request,
// not streamed (routstr-core reads the whole answer before it responds),
// paid with a token worth the most it can cost at the quoted prices.
func (b *Buyer) completeRoutstr(ctx context.Context, c Candidate, fields map[string]json.RawMessage, req chatRequest, maxTokens uint64, s *sink, failedAt *time.Time) error {
	src, pub := c.Routstr, c.Offer.Pubkey
	msgs := req.Messages
	if partial := s.content.String(); partial != "" {
		msgs = append(append([]json.RawMessage(nil), msgs...), mustJSON(map[string]string{"role": "assistant", "content": partial}))
	}
	msgJSON := mustJSON(msgs)
	quote := metering.InferenceCost(c.Offer.Prices, nips.PromptEstimate(msgJSON), maxTokens) + src.RequestMsat
	reserve := max(metering.MsatToSats(quote), 1)
	out := make(map[string]json.RawMessage, len(fields)+3)
	for k, v := range fields {
		out[k] = v
	}
	delete(out, "stream_options")
	delete(out, metering.TokenField)
	delete(out, nips.InferenceSessionField)
	out["messages"] = msgJSON
	out["stream"] = json.RawMessage("false")
	out["max_tokens"] = mustJSON(maxTokens)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	sid := "routstr-" + hex.EncodeToString(rnd[:])

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	sent, err := b.wallet.Send(sctx, reserve, cashu.SendOptions{Mint: src.Mint, Counterparty: pub, IncludeFees: true,
		OnJournal: b.db.Recorder(state.Entry{Session: sid, Kind: state.Spend, Counterparty: pub, Resource: nips.Inference})})
	cancel()
	if err != nil {
		return fmt.Errorf("buyer: routstr: reserve %d sats: %w", reserve, err)
	}
	delivered := false
	defer func() {
		if delivered {
			if err := b.wallet.MarkDelivered(context.WithoutCancel(ctx), sent.OpID); err != nil {
				b.log.Warn("routstr payment delivery not recorded", "session", sid, "err", err)
			}
			return
		}
		// The request failed: take back what the provider did not redeem
		// (if it cannot now, Node.ReclaimStale does later).
		if _, err := metering.Reclaim(context.WithoutCancel(ctx), b.wallet, b.db, pub, []int64{sent.OpID}); err != nil {
			b.log.Warn("routstr payment not reclaimed yet", "session", sid, "err", err)
		}
	}()

	rctx, cancel := context.WithTimeout(ctx, b.cfg.FirstChunkTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, src.URL+"/v1/chat/completions", bytes.NewReader(mustJSON(out)))
	if err != nil {
		return fmt.Errorf("buyer: routstr: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(nut24.Header, sent.Token)
	resp, err := b.rsHTTP.Do(hreq)
	if err != nil {
		return fmt.Errorf("buyer: routstr %s: %w", src.URL, err)
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, routstrMaxAnswer+1))
	var ans routstrCompletion
	jerr := json.Unmarshal(raw, &ans)
	change := strings.TrimSpace(resp.Header.Get(nut24.Header))
	if !strings.HasPrefix(change, "cashu") && ans.Error != nil {
		change = ans.Error.RefundToken
	}
	back := b.takeRoutstrChange(ctx, sid, pub, change)
	if resp.StatusCode/100 != 2 {
		msg := ""
		if ans.Error != nil {
			msg = ans.Error.Message
		}
		return fmt.Errorf("buyer: routstr %s: HTTP %d: %.200s (%d of %d sats returned)", src.URL, resp.StatusCode, msg, back, sent.Amount)
	}
	delivered = true
	if rerr != nil || len(raw) > routstrMaxAnswer || jerr != nil || len(ans.Choices) == 0 {
		return fmt.Errorf("buyer: routstr %s: the answer is not a chat completion", src.URL)
	}
	// What the answer costs at the quoted prices; an answer without usage
	// (which routstr-core cannot price either) owes the request fee only.
	charged, owed := sent.Amount-min(sent.Amount, back), metering.MsatToSats(src.RequestMsat)
	if u := ans.Usage; u != nil {
		owed = metering.MsatToSats(metering.InferenceCost(c.Offer.Prices, u.Prompt, u.Completion) + src.RequestMsat)
	}
	if charged > owed {
		// It kept more than its prices say the answer costs: the most it
		// can take is the token, but it is not used again soon.
		b.log.Warn("routstr provider charged over its prices", "provider", pub, "charged_sats", charged, "owed_sats", owed)
		b.markDead(c.Offer)
	}
	if err := b.db.Observe(ctx, pub, 0, charged <= owed); err != nil {
		b.log.Debug("provider record not updated", "err", err)
	}
	s.provider = pub
	if !failedAt.IsZero() {
		b.recordRecovery(pub, time.Since(*failedAt))
		*failedAt = time.Time{}
	}
	ch := ans.Choices[0]
	s.chunk(mustJSON(map[string]any{"id": ans.ID, "object": "chat.completion.chunk", "model": ans.Model,
		"choices": []map[string]any{{"index": 0, "delta": map[string]string{"content": ch.Message.Content}, "finish_reason": ch.FinishReason}}}))
	if ans.Usage != nil {
		s.chunk(mustJSON(map[string]any{"id": ans.ID, "object": "chat.completion.chunk", "model": ans.Model, "choices": []any{},
			"usage": map[string]uint64{"prompt_tokens": ans.Usage.Prompt, "completion_tokens": ans.Usage.Completion, "total_tokens": ans.Usage.Prompt + ans.Usage.Completion}}))
	}
	return nil
}

// takeRoutstrChange redeems a token a Routstr provider returned (change,
// or a failed request's refund), recording it in the receive's
// transaction; it returns the sats credited.
func (b *Buyer) takeRoutstrChange(ctx context.Context, sid, pub, tok string) uint64 {
	if !strings.HasPrefix(tok, "cashu") {
		return 0
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rcv, err := b.wallet.Receive(rctx, tok, cashu.ReceiveOptions{Counterparty: pub,
		OnJournal: b.db.Recorder(state.Entry{Session: sid, Kind: state.Refund, Counterparty: pub, Resource: nips.Inference})})
	if err != nil {
		b.log.Warn("routstr change not received", "session", sid, "provider", pub, "err", err)
		return 0
	}
	return rcv.Amount
}
