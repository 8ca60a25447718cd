package provider

import (
	"context"
	"errors"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// settleLoop swaps the payments accepted offline, publishes the events
// queued while no relay answered (agentd.Node.FlushOutbox), and ends the
// change payments the buyers never redeemed (agentd.Node.ReclaimStale),
// every SettleInterval, starting at once, until ctx ends.
func (p *Provider) settleLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.SettleInterval)
	defer t.Stop()
	last := time.Now()
	for {
		_, _ = p.SettleOffline(ctx)
		if _, err := p.node.FlushOutbox(ctx); err != nil && ctx.Err() == nil {
			p.log.Debug("queued events not published yet", "err", err)
		}
		if time.Since(last) >= p.reclaimGrace {
			last = time.Now()
			_, _ = p.node.ReclaimStale(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
