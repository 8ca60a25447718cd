package provider

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/sovmesh/sovmesh/agentd/blossom"
	"github.com/sovmesh/sovmesh/nips"
)

// newBlossom prepares the Blossom server of a storage provider: blobs in
// <data>/blossom, counted in the chunk store's quota, sold at the storage
// prices, held for the storage retention.
func (p *Provider) newBlossom() error {
	s := p.cfg.Storage
	if s == nil {
		return fmt.Errorf("provider: --blossom needs storage (--storage-size)")
	}
	srv, err := blossom.New(blossom.Config{Dir: filepath.Join(p.dataDir, "blossom"), Quota: p.store,
		Wallet: p.wallet, DB: p.db, Prices: func() nips.Prices { return p.prices(nips.Storage) },
		Hold: time.Duration(s.Retention) * time.Second, MaxSize: min(s.Quota, blossom.DefaultMaxSize),
		AllowOffline: p.wallet.OfflineLimit() > 0, Logger: p.log})
	if err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	p.blossom = srv
	return nil
}

// listenBlossom opens the Blossom listener; the URL is announced in the
// storage offer unless the address is a wildcard one (0.0.0.0, [::]).
func (p *Provider) listenBlossom() (net.Listener, error) {
	ln, err := net.Listen("tcp", p.cfg.Blossom)
	if err != nil {
		return nil, fmt.Errorf("provider: blossom: %w", err)
	}
	a, _ := ln.Addr().(*net.TCPAddr)
	p.mu.Lock()
	p.blossomAddr = ln.Addr().String()
	if a != nil && !a.IP.IsUnspecified() {
		p.blossomURL = "http://" + ln.Addr().String()
	}
	p.mu.Unlock()
	return ln, nil
}

// serveBlossom serves until ctx ends.
func (p *Provider) serveBlossom(ctx context.Context, ln net.Listener) {
	p.log.Info("blossom serving", "addr", ln.Addr().String())
	if err := p.blossom.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		p.log.Warn("blossom stopped", "err", err)
	}
}

// BlossomAddr returns the address the Blossom server listens on ("" if
// none).
func (p *Provider) BlossomAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blossomAddr
}
