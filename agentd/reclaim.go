package agentd

import (
	"context"
	"database/sql"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// DefaultReclaimGrace is how old an unredeemed payment must be before
// agentd takes it back: a payee redeems at once, so a token still unspent
// after this never reached it (a crash, a lost stream).
const DefaultReclaimGrace = 10 * time.Minute

// DefaultRefundLock is Config.RefundLock's default: a month, long enough
// for a buyer's agent that is off for weeks to come back and collect its
// refund, short enough that one that never comes back (its key lost) does
// not strand the sats at the mint for ever.
const DefaultRefundLock = 30 * 24 * time.Hour

// ReclaimStale ends every market payment this agent sent more than
// Config.ReclaimGrace ago that is still out: a token the payee redeemed is
// marked delivered; one it never redeemed is swapped back into the wallet,
// its refund recorded and its budget released in the reclaim's own
// transaction, then its session's paid figure lowered (state.DB.Unpay).
// Open runs it (unless ReadOnly), and the long-running commands every
// grace period (ReclaimLoop).
func (n *Node) ReclaimStale(ctx context.Context) (cashu.StaleReport, error) {
	if n.Wallet == nil {
		return cashu.StaleReport{}, nil
	}
	out, err := n.DB.Outstanding(ctx)
	if err != nil || len(out) == 0 {
		return cashu.StaleReport{}, err
	}
	rep, err := n.Wallet.ReclaimStale(ctx, time.Now().Add(-n.Config.ReclaimGrace),
		func(op journal.Op) bool { return out[op.ID] },
		func(ctx context.Context, tx *sql.Tx, send journal.Op, opID int64) error {
			return n.DB.RecordReclaim(ctx, tx, send.ID, send.Counterparty, send.CreatedAt, opID)
		})
	for _, op := range rep.Reclaimed {
		if uerr := n.DB.Unpay(ctx, op); uerr != nil {
			n.Log.Warn("reclaimed payment still counted as paid", "op", op, "err", uerr)
		}
	}
	if len(rep.Reclaimed) > 0 {
		n.Log.Info("unredeemed payments reclaimed", "payments", len(rep.Reclaimed), "sats", rep.ReclaimedSats, "delivered", rep.Delivered, "pending_sats", rep.PendingSats)
	}
	if err != nil && ctx.Err() == nil {
		n.Log.Warn("unredeemed payments not all settled", "pending", rep.Pending, "pending_sats", rep.PendingSats, "err", err)
	}
	return rep, err
}

// ReclaimLoop runs ReclaimStale every grace period until ctx ends.
func (n *Node) ReclaimLoop(ctx context.Context) {
	t := time.NewTicker(max(n.Config.ReclaimGrace, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = n.ReclaimStale(ctx)
	}
}
