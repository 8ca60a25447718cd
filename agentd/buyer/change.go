package buyer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"
	"github.com/nbd-wtf/go-nostr/nip59"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

func (b *Buyer) takeChange(ctx context.Context, sess *Session, chg metering.Change) {
	if chg.Token == "" {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rcv, err := b.wallet.Receive(rctx, chg.Token, cashu.ReceiveOptions{Counterparty: sess.Provider,
		OnJournal: b.db.Recorder(state.Entry{Session: sess.ID, Kind: state.Refund, Counterparty: sess.Provider, Resource: nips.Inference})})
	if err != nil {
		b.log.Warn("change not received", "session", sess.ID, "sats", chg.ChangeSats, "err", err)
		return
	}
	if err := errors.Join(b.db.SubPaid(ctx, sess.ID, rcv.Value*1000), b.db.AddUsage(ctx, sess.ID, 0, chg.Prompt+chg.Completion)); err != nil {
		b.log.Warn("session usage not recorded", "session", sess.ID, "err", err)
	}
}

// recordRecovery logs a failover's time-to-recover (from a provider's
// failure to the next provider's first chunk) and keeps the last 1000.
func (b *Buyer) recordRecovery(provider string, d time.Duration) {
	b.log.Info("inference failover", "provider", provider, "recovered_in", d)
	b.mu.Lock()
	b.recoveries = append(b.recoveries, d)
	if len(b.recoveries) > 1000 {
		b.recoveries = b.recoveries[len(b.recoveries)-1000:]
	}
	b.mu.Unlock()
}

// CollectInterval is how often a buying daemon collects its change notes
// (CollectLoop).
const CollectInterval = time.Minute

// CollectLoop collects the change notes addressed to this buyer
// (CollectChange) every interval until ctx ends: a provider refunds a
// session's unused credit when its receipt closes it, often after the
// command that bought it has exited.
func (b *Buyer) CollectLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		got, err := b.CollectChange(ctx)
		if err != nil && ctx.Err() == nil {
			b.log.Debug("change notes not collected", "err", err)
		}
		if got > 0 {
			b.log.Info("change collected from the relays", "sats", got)
		}
	}
}

// CollectChange redeems change that providers sent over the relays
// (ChangeCollector.Collect): a completion's change whose stream was gone, a
// closed session's refund of unused credit (P2PK-locked to this key). It
// returns the sats received.
func (b *Buyer) CollectChange(ctx context.Context) (uint64, error) {
	return b.change.Collect(ctx)
}

// ChangeCollector redeems the change notes (kind 8466, gift-wrapped)
// addressed to an agent's key: for a Buyer (at start, and every
// CollectInterval in a daemon) and for `agentd wallet settle`, which needs
// no host. Calls may overlap.
type ChangeCollector struct {
	pubkey, secret string
	relays         interface {
		Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	}
	wallet *cashu.Wallet
	db     *state.DB

	mu   sync.Mutex
	seen map[string]bool // gift wraps dealt with
}

// NewChangeCollector returns the collector of node n's change notes (n has
// a wallet).
func NewChangeCollector(n *agentd.Node) *ChangeCollector {
	return &ChangeCollector{pubkey: n.Key.Pubkey, secret: n.Key.Secret, relays: n.Relays, wallet: n.Wallet, db: n.DB, seen: map[string]bool{}}
}

// Collect queries the relays for gift wraps to this key and redeems each
// change note's token. It is idempotent: a note whose token this wallet
// already redeemed is skipped (the wallet refuses the replay before it
// journals anything), and a gift wrap this collector has looked at once is
// not opened again. Each redemption's ledger line is written in the
// transaction of its receive op. It returns the sats received.
func (c *ChangeCollector) Collect(ctx context.Context) (uint64, error) {
	k, err := keyer.NewPlainKeySigner(c.secret)
	if err != nil {
		return 0, err
	}
	evs, err := c.relays.Query(ctx, nostr.Filter{Kinds: []int{nostr.KindGiftWrap}, Tags: nostr.TagMap{"p": {c.pubkey}}})
	if err != nil {
		return 0, err
	}
	var got uint64
	for _, gw := range evs {
		if c.dealtWith(gw.ID) {
			continue
		}
		if ok, _ := gw.CheckSignature(); !ok {
			continue
		}
		r, err := nip59.GiftUnwrap(*gw, func(other, ct string) (string, error) { return k.Decrypt(ctx, ct, other) })
		if err != nil || r.Kind != nips.KindChangeNote {
			c.markDealtWith(gw.ID)
			continue
		}
		var chg metering.Change
		if json.Unmarshal([]byte(r.Content), &chg) != nil || chg.Object != metering.ChangeObject || chg.Token == "" {
			c.markDealtWith(gw.ID)
			continue
		}
		// A session's credit refund names its session; a completion's
		// change does not.
		e := state.Entry{Session: "change-note", Kind: state.Refund, Counterparty: r.PubKey, Resource: nips.Inference}
		if chg.Session != "" && (chg.Resource == nips.Storage || chg.Resource == nips.Bandwidth) {
			e.Session, e.Resource = chg.Session, chg.Resource
		}
		rcv, err := c.wallet.Receive(ctx, chg.Token, cashu.ReceiveOptions{Counterparty: r.PubKey, OnJournal: c.db.Recorder(e)})
		switch {
		case err == nil:
			got += rcv.Amount
		case errors.Is(err, cashu.ErrReplayed), errors.Is(err, cashu.ErrTokenSpent), errors.Is(err, cashu.ErrLockedToOther):
			// Redeemed already, taken back by its provider past its lock,
			// or not ours: nothing to do, ever.
		default:
			continue // the mint did not answer: try again next time
		}
		c.markDealtWith(gw.ID)
	}
	return got, nil
}

// dealtWith reports whether gift wrap id was dealt with.
func (c *ChangeCollector) dealtWith(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

// markDealtWith records that gift wrap id needs no more looking at.
func (c *ChangeCollector) markDealtWith(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[id] = true
}
