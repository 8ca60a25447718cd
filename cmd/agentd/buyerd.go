package main

import (
	"context"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
)

// startBuyer opens the node and its buyer for a buying daemon (serve, mcp):
// the owners' authorizations watched, NWC top-ups, unredeemed payments
// reclaimed every grace period, change notes collected every
// buyer.CollectInterval. stop settles the buyer's sessions and
// ends it all; call it once the daemon is done. The wallet is mirrored to
// NIP-60 events meanwhile (--nip60).
func startBuyer(ctx context.Context, e *env) (*agentd.Node, *buyer.Buyer, func(), error) {
	n, err := openNode(ctx, e)
	if err != nil {
		return nil, nil, nil, err
	}
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		_ = n.Close()
	}
	stops = append(stops, watchAuthorizations(ctx, n))
	stopTopUp, err := startTopUp(ctx, e, n)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	stops = append(stops, stopTopUp)
	// Payments the payee never redeemed come back every grace period.
	rctx, stopReclaim := context.WithCancel(ctx)
	reclaimDone := make(chan struct{})
	go func() { defer close(reclaimDone); n.ReclaimLoop(rctx) }()
	stops = append(stops, func() { stopReclaim(); <-reclaimDone })
	stops = append(stops, startMirror(ctx, n))
	b, err := buyer.New(ctx, n, e.cfg.buyerConfig())
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	stops = append(stops, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b.Close(sctx)
	})
	// Change notes (refunds of closed sessions' credit) come in after
	// the session that earned them: collected every CollectInterval.
	cctx, stopCollect := context.WithCancel(ctx)
	collectDone := make(chan struct{})
	go func() { defer close(collectDone); b.CollectLoop(cctx, buyer.CollectInterval) }()
	stops = append(stops, func() { stopCollect(); <-collectDone })
	return n, b, stop, nil
}
