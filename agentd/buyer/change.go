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

// CollectChange redeems change that providers sent over the relays
// because the stream that should have carried it was gone. Already
// redeemed notes are skipped. It returns the sats received.
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
		if ok, _ := gw.CheckSignature(); !ok {
			continue
		}
		r, err := nip59.GiftUnwrap(*gw, func(other, ct string) (string, error) { return k.Decrypt(ctx, ct, other) })
		if err != nil || r.Kind != nips.KindChangeNote {
			continue
		}
		var chg metering.Change
		if json.Unmarshal([]byte(r.Content), &chg) != nil || chg.Object != metering.ChangeObject || chg.Token == "" {
			continue
		}
		// A session's credit refund names its session; a completion's
		// change does not.
		e := state.Entry{Session: "change-note", Kind: state.Refund, Counterparty: r.PubKey, Resource: nips.Inference}
		if chg.Session != "" && (chg.Resource == nips.Storage || chg.Resource == nips.Bandwidth) {
			e.Session, e.Resource = chg.Session, chg.Resource
		}
		rcv, err := b.wallet.Receive(ctx, chg.Token, cashu.ReceiveOptions{Counterparty: r.PubKey, OnJournal: b.db.Recorder(e)})
		if err != nil {
			continue // already redeemed (replayed), or spent
		}
		got += rcv.Amount
	}
	return got, nil
}
