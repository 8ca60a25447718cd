package provider

import (
	"context"
	"errors"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// settleLoop swaps the payments accepted offline every SettleInterval,
// starting at once (Resume at start may have settled some: their earnings
// are reconciled), until ctx ends.
func (p *Provider) settleLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.SettleInterval)
	defer t.Stop()
	for {
		_, _ = p.SettleOffline(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SettleOffline runs one settling step now: the wallet swaps the payments
// accepted while their mint could not be reached (cashu.Wallet.SettleOffline),
// and the earnings ledger follows the journal: an earning whose swap went
// through is confirmed, one the mint refused (the token was spent
// elsewhere) is written off. Run calls it every Config.SettleInterval.
func (p *Provider) SettleOffline(ctx context.Context) (cashu.SettleReport, error) {
	rep, err := p.n.Wallet.SettleOffline(ctx)
	if len(rep.Completed) > 0 {
		p.log.Info("offline payments settled", "payments", len(rep.Completed), "sats", rep.CompletedSats, "pending", rep.Pending)
	}
	if len(rep.Failed) > 0 {
		p.log.Warn("offline payments refused by the mint, written off", "payments", len(rep.Failed), "sats", rep.FailedSats, "pending", rep.Pending)
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("offline payments not settled", "pending", rep.Pending, "err", err)
	}
	if rerr := p.reconcileOffline(ctx); rerr != nil && ctx.Err() == nil {
		p.log.Warn("offline earnings not reconciled", "err", rerr)
		err = errors.Join(err, rerr)
	}
	return rep, err
}

// reconcileOffline confirms or writes off the unconfirmed earnings whose
// receive op has reached its final state, whoever settled it (this loop,
// or Resume at start). An earning recorded after its op settled is caught
// at the next step.
func (p *Provider) reconcileOffline(ctx context.Context) error {
	ids, err := p.n.DB.OfflineOps(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		op, err := p.n.Journal.Get(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch op.State {
		case journal.StateDone:
			_, err = p.n.DB.SettleOffline(ctx, id, true)
		case journal.StateFailed:
			_, err = p.n.DB.SettleOffline(ctx, id, false)
		default:
			continue // still queued
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
