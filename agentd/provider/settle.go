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
// bandwidth session back to its buyer (metering.Gate.RefundClosed), each
// refund a token locked to its buyer with its change note owed in the
// same transaction, folds the settled credit lines of closed sessions
// (state.DB.CompactCredit), then publishes the owed change notes
// (PublishChangeNotes).
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
		all = append(all, refunds...)
		if n, err := p.db.CompactCredit(ctx, r); err != nil && ctx.Err() == nil {
			p.log.Info("credit lines not compacted", "resource", r, "err", err)
		} else if n > 0 {
			p.log.Debug("credit lines compacted", "resource", r, "removed", n)
		}
	}
	if _, err := p.PublishChangeNotes(ctx); err != nil && ctx.Err() == nil {
		p.log.Info("change notes not all published yet", "err", err)
	}
	return all
}

// maxNotes bounds the change notes one PublishChangeNotes sends.
const maxNotes = 200

// PublishChangeNotes publishes the change notes owed to buyers
// (state.DB.OwedChangeNotes: refunds whose token is still out and whose
// note no relay has accepted yet), each as a gift wrap to its buyer (kind
// 8466, nips/change.md), and records each one a relay accepted. One no
// relay accepted stays owed for the next call (settleLoop, every
// SettleInterval and at start), until its token is redeemed or, past its
// lock, comes back to this wallet. It returns how many went out.
func (p *Provider) PublishChangeNotes(ctx context.Context) (int, error) {
	notes, err := p.db.OwedChangeNotes(ctx, maxNotes)
	if err != nil {
		return 0, err
	}
	sent := 0
	var errs []error
	for _, n := range notes {
		tok, err := p.wallet.SentToken(ctx, n.OpID)
		if err != nil {
			continue // no longer out: nothing to tell
		}
		note, _ := json.Marshal(metering.Change{Object: metering.ChangeObject, Token: tok, ChangeSats: n.Sats,
			Session: n.Session, Resource: n.Resource})
		if err := p.SendChangeNote(ctx, n.Buyer, note); err != nil {
			// No relay took it (each had its deadline): the others wait
			// for the next call rather than a deadline each.
			errs = append(errs, err)
			break
		}
		if err := p.db.ChangeNotePublished(ctx, n.OpID); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
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
