package provider

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// settleLoop swaps the payments accepted offline, publishes the events
// queued while no relay answered (agentd.Node.FlushOutbox), refunds the
// unused credit of closed sessions (RefundCredit) and ends the change
// payments the buyers never redeemed (agentd.Node.ReclaimStale), every
// SettleInterval, starting at once (so a restarted provider refunds what
// sessions closed before it stopped left), until ctx ends. A session's
// close (its receipt signed) asks for a refund at once (refundNow).
func (p *Provider) settleLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.SettleInterval)
	defer t.Stop()
	last := time.Now()
	for {
		_, _ = p.SettleOffline(ctx)
		p.RefundCredit(ctx)
		if _, err := p.node.FlushOutbox(ctx); err != nil && ctx.Err() == nil {
			p.log.Debug("queued events not published yet", "err", err)
		}
		if time.Since(last) >= p.reclaimGrace {
			last = time.Now()
			_, _ = p.node.ReclaimStale(ctx)
		}
		for again := true; again; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				again = false
			case <-p.refundNow:
				p.RefundCredit(ctx)
			}
		}
	}
}

// RefundCredit gives the unused credit of every closed storage or
// bandwidth session back to its buyer (metering.Gate.RefundClosed) and
// sends each refund token as a change note over the relays (kind 8466,
// the buyer redeems it with buyer.CollectChange). A note that does not go
// out leaves its token in the journal, reclaimed after the reclaim grace.
func (p *Provider) RefundCredit(ctx context.Context) []metering.Refund {
	var all []metering.Refund
	for _, r := range []nips.Resource{nips.Storage, nips.Bandwidth} {
		g := p.gates[r]
		if g == nil {
			continue
		}
		refunds, err := g.RefundClosed(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("session credit not refunded yet", "resource", r, "err", err)
		}
		for _, f := range refunds {
			if f.Token == "" {
				continue
			}
			note, _ := json.Marshal(metering.Change{Object: metering.ChangeObject, Token: f.Token, ChangeSats: f.Sats,
				Session: f.Session, Resource: r})
			p.SendChangeNote(context.WithoutCancel(ctx), f.Buyer, note)
		}
		all = append(all, refunds...)
	}
	return all
}

// askRefund asks settleLoop to refund the credit of a session that closed.
func (p *Provider) askRefund() {
	select {
	case p.refundNow <- struct{}{}:
	default:
	}
}

// SettleOffline runs one settling step now: the wallet swaps the payments
// accepted while their mint could not be reached (cashu.Wallet.SettleOffline).
// The earnings ledger needs no step of its own: each earning line counts
// as its receive op's state says (confirmed once done, lost if the mint
// refused it). Run calls it every Config.SettleInterval.
func (p *Provider) SettleOffline(ctx context.Context) (cashu.SettleReport, error) {
	rep, err := p.wallet.SettleOffline(ctx)
	if len(rep.Completed) > 0 {
		p.log.Info("offline payments settled", "payments", len(rep.Completed), "sats", rep.CompletedSats, "pending", rep.Pending)
	}
	if len(rep.Failed) > 0 {
		p.log.Warn("offline payments refused by the mint, written off", "payments", len(rep.Failed), "sats", rep.FailedSats, "pending", rep.Pending)
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("offline payments not settled", "pending", rep.Pending, "err", err)
	}
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return rep, err
}
