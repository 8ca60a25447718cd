package buyer

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"
	"github.com/nbd-wtf/go-nostr/nip59"

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

// CollectChange redeems change that providers sent over the relays: a
// completion's change whose stream was gone, a closed session's refund of
// unused credit (P2PK-locked to this key). It is idempotent: a note whose
// token this wallet already redeemed is skipped (the wallet refuses the
// replay before it journals anything), and a gift wrap this process has
// looked at once is not opened again. Each redemption's ledger line is
// written in the transaction of its receive op. It returns the sats
// received.
func (b *Buyer) CollectChange(ctx context.Context) (uint64, error) {
	k, err := keyer.NewPlainKeySigner(b.secret)
	if err != nil {
		return 0, err
	}
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nostr.KindGiftWrap}, Tags: nostr.TagMap{"p": {b.pubkey}}})
	if err != nil {
		return 0, err
	}
	var got uint64
	for _, gw := range evs {
		if b.changeSeen(gw.ID) {
			continue
		}
		if ok, _ := gw.CheckSignature(); !ok {
			continue
		}
		r, err := nip59.GiftUnwrap(*gw, func(other, ct string) (string, error) { return k.Decrypt(ctx, ct, other) })
		if err != nil || r.Kind != nips.KindChangeNote {
			b.markChangeSeen(gw.ID)
			continue
		}
		var chg metering.Change
		if json.Unmarshal([]byte(r.Content), &chg) != nil || chg.Object != metering.ChangeObject || chg.Token == "" {
			b.markChangeSeen(gw.ID)
			continue
		}
		// A session's credit refund names its session; a completion's
		// change does not.
		e := state.Entry{Session: "change-note", Kind: state.Refund, Counterparty: r.PubKey, Resource: nips.Inference}
		if chg.Session != "" && (chg.Resource == nips.Storage || chg.Resource == nips.Bandwidth) {
			e.Session, e.Resource = chg.Session, chg.Resource
		}
		rcv, err := b.wallet.Receive(ctx, chg.Token, cashu.ReceiveOptions{Counterparty: r.PubKey, OnJournal: b.db.Recorder(e)})
		switch {
		case err == nil:
			got += rcv.Amount
		case errors.Is(err, cashu.ErrReplayed), errors.Is(err, cashu.ErrTokenSpent), errors.Is(err, cashu.ErrLockedToOther):
			// Redeemed already, taken back by its provider past its lock,
			// or not ours: nothing to do, ever.
		default:
			continue // the mint did not answer: try again next time
		}
		b.markChangeSeen(gw.ID)
	}
	return got, nil
}

// changeSeen reports whether gift wrap id was dealt with (CollectChange).
func (b *Buyer) changeSeen(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changeDone[id]
}

// markChangeSeen records that gift wrap id needs no more looking at.
func (b *Buyer) markChangeSeen(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changeDone == nil {
		b.changeDone = map[string]bool{}
	}
	b.changeDone[id] = true
}
