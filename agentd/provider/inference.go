package provider

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip59"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// inferBackend forwards paid requests to an OpenAI-compatible server.
type inferBackend struct {
	p      *Provider
	cfg    *InferenceConfig
	base   string
	client *http.Client
	models []string
}

func (b *inferBackend) init(ctx context.Context) error {
	b.base = strings.TrimRight(b.cfg.URL, "/")
	if !strings.HasSuffix(b.base, "/v1") {
		b.base += "/v1"
	}
	b.client = &http.Client{Timeout: 10 * time.Minute}
	b.models = b.cfg.Models
	if len(b.models) == 0 {
		ms, err := b.listModels(ctx)
		if err != nil {
			return fmt.Errorf("provider: inference server %s: %w", b.base, err)
		}
		b.models = ms
	}
	if len(b.models) == 0 {
		return errors.New("provider: the inference server lists no model; name them with --inference-models")
	}
	if len(b.models) > nips.MaxListLen {
		b.models = b.models[:nips.MaxListLen]
	}
	return nil
}

func (b *inferBackend) listModels(ctx context.Context) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/models", nil)
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /models: %s", resp.Status)
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, err
	}
	var ms []string
	for _, d := range out.Data {
		if d.ID != "" && len(d.ID) <= nips.MaxTextLen {
			ms = append(ms, d.ID)
		}
	}
	return ms, nil
}

// ChatCompletion implements transport.InferenceBackend: redeem the
// reservation, forward, price the usage, return the change.
func (b *inferBackend) ChatCompletion(ctx context.Context, creq *transport.ChatRequest, raw []byte, emit func([]byte) error) error {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	var token, session string
	_ = json.Unmarshal(body[metering.TokenField], &token)
	_ = json.Unmarshal(body[nips.InferenceSessionField], &session)
	delete(body, metering.TokenField)
	delete(body, nips.InferenceSessionField)
	if token == "" {
		return errors.New("payment required: put a Cashu token in " + metering.TokenField)
	}
	c, err := b.complete(ctx, token, session, body, emit)
	if err != nil {
		return err
	}
	last, _ := json.Marshal(c.change)
	if err := emit(last); err != nil {
		if c.changeOp != 0 {
			// The buyer is gone: the change goes to it over the relays,
			// now or, if no relay takes it, from the owed notes
			// (PublishChangeNotes, settleLoop).
			b.p.publishChange(context.WithoutCancel(ctx), c.buyer, c.changeOp, last)
		}
		return err
	}
	if c.changeOp != 0 {
		// Delivered in band: no note to publish.
		if err := b.p.db.ChangeNotePublished(context.WithoutCancel(ctx), c.changeOp); err != nil {
			b.p.log.Warn("change note left owed", "op", c.changeOp, "err", err)
		}
	}
	if c.fwdErr != nil && c.chunks == 0 {
		return nil // the change chunk carries the error
	}
	return c.fwdErr
}

// completion is what one paid completion came to.
type completion struct {
	change metering.Change // with the change token, if any
	buyer  string          // the session's counterparty ("" for a walk-in)
	// changeOp is the send op of a change locked to buyer, whose change
	// note is owed until it is delivered (0: none).
	changeOp int64
	chunks   uint64 // answer chunks emitted
	fwdErr   error  // the model's or emit's failure, if any
}

// complete serves one paid chat completion, for the libp2p stream
// (ChatCompletion) and the Routstr HTTP endpoint alike: redeem token (the
// reservation), forward body to the model with max_tokens bounded by what
// was paid, emit each answer chunk (SSE data), price the usage and make the
// rest change (all of it when the model failed before answering). An error
// means the token was not redeemed.
func (b *inferBackend) complete(ctx context.Context, token, session string, body map[string]json.RawMessage, emit func([]byte) error) (completion, error) {
	prices := b.p.prices(nips.Inference)
	buyer := ""
	if session != "" {
		if s, err := b.p.db.GetSession(ctx, session); err == nil && s.Role == state.RoleProvider && s.Resource == nips.Inference {
			prices, buyer = s.Prices, s.Counterparty
		} else {
			session = ""
		}
	}
	m := b.p.meters[nips.Inference]
	m.begin()
	defer m.end()
	w := b.p.wallet
	// Never accepted offline: the payment is a reservation whose change
	// goes back with the answer, and making change usually needs the mint;
	// change that cannot be made would be the buyer's loss.
	ledgerSession := session
	if ledgerSession == "" {
		ledgerSession = "walk-in"
	}
	db := b.p.db
	rcv, err := w.Receive(ctx, token, cashu.ReceiveOptions{Counterparty: buyer,
		OnJournal: db.Recorder(state.Entry{Session: ledgerSession, Kind: state.Earn, Counterparty: buyer, Resource: nips.Inference})})
	if err != nil {
		return completion{}, fmt.Errorf("payment refused: %w", err)
	}
	if session != "" {
		if err := db.AddUsage(ctx, session, rcv.Amount*1000, 0); err != nil {
			b.p.log.Warn("session usage not recorded", "session", session, "err", err)
		}
	}
	// What the buyer paid is what the token nets us: the mint fee of our
	// swap came on top of it (the payer includes it).
	paidMsat := rcv.Amount * 1000
	promptEst := nips.PromptEstimate(body["messages"])
	in, _ := prices.Of(nips.UnitMInputTokens)
	out, _ := prices.Of(nips.UnitMOutputTokens)
	promptCost := metering.InferenceCost(prices, promptEst, 0)
	var maxOut uint64
	if paidMsat > promptCost && out > 0 {
		maxOut = (paidMsat - promptCost) * 1_000_000 / out
	}
	_ = in
	var asked uint64
	_ = json.Unmarshal(body["max_tokens"], &asked)
	if asked == 0 {
		asked = nips.DefaultMaxTokens
	}
	limit := min(asked, maxOut)
	ch := metering.Change{Object: metering.ChangeObject, PaidSats: rcv.Amount}
	var usage struct{ prompt, completion uint64 }
	var chunks uint64
	fwdErr := func() error {
		if limit == 0 {
			return errors.New("payment too small for any output")
		}
		body["max_tokens"], _ = json.Marshal(limit)
		body["stream"] = json.RawMessage("true")
		body["stream_options"] = json.RawMessage(`{"include_usage":true}`)
		fwd, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/chat/completions", bytes.NewReader(fwd))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := b.client.Do(req)
		if err != nil {
			return fmt.Errorf("inference server: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("inference server: %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			data, ok := bytes.CutPrefix(line, []byte("data:"))
			if !ok {
				continue
			}
			data = bytes.TrimSpace(data)
			if string(data) == "[DONE]" {
				break
			}
			var c struct {
				Usage *struct {
					Prompt     uint64 `json:"prompt_tokens"`
					Completion uint64 `json:"completion_tokens"`
				} `json:"usage"`
			}
			if json.Unmarshal(data, &c) == nil && c.Usage != nil {
				usage.prompt, usage.completion = c.Usage.Prompt, c.Usage.Completion
			}
			chunks++
			if err := emit(data); err != nil {
				return err
			}
		}
		return sc.Err()
	}()
	if usage.prompt == 0 && usage.completion == 0 && chunks > 0 {
		usage.prompt, usage.completion = promptEst, chunks // no usage reported: estimate
	}
	cost := min(metering.InferenceCost(prices, usage.prompt, usage.completion), paidMsat)
	if fwdErr != nil && chunks == 0 {
		cost = 0 // nothing delivered: everything comes back
		ch.Error = fwdErr.Error()
	}
	ch.CostMsat, ch.Prompt, ch.Completion = cost, usage.prompt, usage.completion
	costSats := metering.MsatToSats(cost)
	var changeOp int64
	if rcv.Amount > costSats {
		change := rcv.Amount - costSats
		// Change goes out whatever our budget: it is the buyer's money.
		opts := cashu.SendOptions{Counterparty: buyer, Memo: "sovmesh change", IncludeFees: true,
			OnJournal: db.Recorder(state.Entry{Session: ledgerSession, Kind: state.Change, Counterparty: buyer, Resource: nips.Inference})}
		if buyer != "" {
			// A session's buyer: only its key redeems the change (this
			// wallet's after refundLock), and its change note is owed
			// from the send's transaction until it is delivered, in band
			// or over a relay, as a closed session's refund is.
			opts.Lock = &cashu.Lock{Pubkey: buyer, Locktime: time.Now().Add(b.p.refundLock).Unix()}
			record := opts.OnJournal
			opts.OnJournal = func(ctx context.Context, tx *sql.Tx, opID int64) error {
				if err := record(ctx, tx, opID); err != nil {
					return err
				}
				return db.AddChangeNote(ctx, tx, state.ChangeNote{OpID: opID, Buyer: buyer, Session: session, Resource: nips.Inference, Sats: change})
			}
		}
		sent, err := w.Send(state.Exempt(context.WithoutCancel(ctx)), change, opts)
		if err != nil {
			b.p.log.Warn("change not sent", "sats", change, "err", err)
			ch.Error = "change not sent: " + err.Error()
		} else {
			ch.Token, ch.ChangeSats = sent.Token, change
			if buyer != "" {
				changeOp = sent.OpID
			}
			if session != "" {
				if err := db.SubPaid(ctx, session, change*1000); err != nil {
					b.p.log.Warn("session usage not recorded", "session", session, "err", err)
				}
			}
		}
	}
	if session != "" {
		if err := db.AddUsage(ctx, session, 0, usage.prompt+usage.completion); err != nil {
			b.p.log.Warn("session usage not recorded", "session", session, "err", err)
		}
	}
	return completion{change: ch, buyer: buyer, changeOp: changeOp, chunks: chunks, fwdErr: fwdErr}, nil
}

// publishChange publishes the change note of send op opID (note, a
// metering.Change as JSON) to buyer and records it published once a relay
// took it; else it stays owed (state.DB.OwedChangeNotes) for
// PublishChangeNotes.
func (p *Provider) publishChange(ctx context.Context, buyer string, opID int64, note []byte) {
	if err := p.SendChangeNote(ctx, buyer, note); err != nil {
		return // logged; owed
	}
	if err := p.db.ChangeNotePublished(ctx, opID); err != nil {
		p.log.Warn("change note left owed", "op", opID, "err", err)
	}
}

// SendChangeNote gift-wraps an undelivered change chunk (a metering.Change
// as JSON) to the buyer, who redeems it with buyer.CollectChange. It
// returns nil once a relay accepted it.
func (p *Provider) SendChangeNote(ctx context.Context, buyer string, change []byte) error {
	k, err := p.signer()
	if err != nil {
		return err
	}
	rumor := nostr.Event{Kind: nips.KindChangeNote, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: string(change), PubKey: p.pubkey}
	rumor.ID = rumor.GetID()
	gw, err := nip59.GiftWrap(rumor, buyer,
		func(pt string) (string, error) { return k.Encrypt(ctx, pt, buyer) },
		func(seal *nostr.Event) error { return k.SignEvent(ctx, seal) }, nil)
	if err == nil {
		err = p.relays.Publish(ctx, gw)
	}
	if err != nil {
		p.log.Warn("change note not sent", "buyer", buyer, "err", err)
		return fmt.Errorf("provider: change note: %w", err)
	}
	p.log.Info("change sent over the relays", "buyer", buyer)
	return nil
}
