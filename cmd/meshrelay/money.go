package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

// money is the relay's wallet, its fee collector and, when no mint is
// configured, the embedded development mint.
type money struct {
	mint    devMint // nil with configured mints
	journal *journal.Journal
	wallet  *cashu.Wallet
	fees    *fees.Collector
	mints   []string
}

// devMint is the embedded development mint (devmint_on.go; none in a
// nodevmint build).
type devMint interface {
	URL() string
	Shutdown(ctx context.Context) error
}

// openMoney starts the dev mint if needed and opens the relay's wallet: in
// dataDir, or in the PostgreSQL database at databaseURL (when not empty),
// shared by every relay process on it. It returns the relay options that
// charge fees.
func openMoney(ctx context.Context, po payOptions, dataDir, databaseURL string, log *slog.Logger) (*money, []relay.Option, error) {
	m := &money{mints: po.mints}
	if len(m.mints) == 0 {
		dm, err := startDevMint(ctx, filepath.Join(dataDir, "devmint"), po.devMintListen, log)
		if err != nil {
			return nil, nil, fmt.Errorf("start the development mint: %w", err)
		}
		m.mint = dm
		m.mints = []string{dm.URL()}
		log.Warn("no mint configured: running the embedded development mint; its ecash is TEST MONEY backed by a fake Lightning node",
			"mint", dm.URL(), "test_money", true)
	}
	var j *journal.Journal
	var err error
	if databaseURL != "" {
		j, err = journal.OpenPostgres(ctx, databaseURL)
	} else {
		j, err = journal.Open(ctx, filepath.Join(dataDir, "pay.db"))
	}
	if err != nil {
		m.close(ctx)
		return nil, nil, fmt.Errorf("open the payment journal: %w", err)
	}
	m.journal = j
	secret, err := relay.LoadOrCreateKey(dataDir)
	if err != nil {
		m.close(ctx)
		return nil, nil, err
	}
	wcfg := cashu.DefaultConfig()
	wcfg.Mints = m.mints
	wcfg.PrivateKey = secret // tokens locked to the relay's pubkey are ours
	wcfg.Logger = log
	wcfg.StepHook = po.stepHook
	w, err := cashu.Open(ctx, j, wcfg)
	if err != nil {
		m.close(ctx)
		return nil, nil, fmt.Errorf("open the relay wallet: %w", err)
	}
	m.wallet = w
	if rep, err := w.Resume(ctx); err != nil {
		log.Warn("wallet resume incomplete; retried at next start", "err", err)
	} else {
		log.Info("wallet resumed", "completed", rep.Completed, "failed", rep.Failed, "pending", rep.Pending)
	}
	fcfg := fees.Config{Publication: map[int]uint64{}, Matching: map[int]uint64{}, PublicationPeriod: po.offerFeePeriod, StepHook: po.stepHook}
	if po.offerFee > 0 {
		fcfg.Publication[nips.KindOffer] = po.offerFee
	}
	if po.matchFee > 0 {
		fcfg.Matching[nips.KindBid] = po.matchFee
	}
	col, err := fees.New(j, w, fcfg, log)
	if err != nil {
		m.close(ctx)
		return nil, nil, fmt.Errorf("fees: %w", err)
	}
	m.fees = col
	if _, err := col.Resume(ctx); err != nil {
		log.Warn("fee ledger resume incomplete; retried at the first charge", "err", err)
	}
	return m, marketplace.FeeOptions(col, m.mints, m.mint != nil), nil
}

// close stops the dev mint and closes the journal.
func (m *money) close(ctx context.Context) error {
	var errs []error
	if m.journal != nil {
		errs = append(errs, m.journal.Close())
	}
	if m.mint != nil {
		errs = append(errs, m.mint.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
