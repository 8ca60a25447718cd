package buyer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sovmesh/sovmesh/agentd/socks5"
	"github.com/sovmesh/sovmesh/nips"
)

// DialBandwidth opens a TCP connection to target ("host:port") carried by
// the best bandwidth provider, on a bought session paid step by step. A
// provider that fails to carry it is skipped for the next-best one.
func (b *Buyer) DialBandwidth(ctx context.Context, target string) (net.Conn, error) {
	cands, err := b.candidates(ctx, nips.Bandwidth, "")
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, c := range cands {
		if i >= 4 {
			break
		}
		sess, err := b.session(ctx, c, b.cfg.BandwidthMiB, 0, "")
		if err != nil {
			errs = append(errs, err)
			b.markDead(c.Offer.Pubkey)
			continue
		}
		start := time.Now()
		conn, err := b.n.Host.DialBandwidth(ctx, sess.Peer, target, sess.Payer)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, err)
			if !b.alive(ctx, sess.Peer) {
				b.markDead(c.Offer.Pubkey)
			}
			continue
		}
		_ = b.n.DB.Observe(ctx, c.Offer.Pubkey, time.Since(start), true)
		return conn, nil
	}
	return nil, fmt.Errorf("%w: no bandwidth provider carried %s: %w", ErrNoOffer, target, errors.Join(errs...))
}

// ServeSOCKS starts a SOCKS5 proxy on addr whose connections ride bought
// bandwidth sessions. Shutdown the returned server to stop it.
func (b *Buyer) ServeSOCKS(addr string) (*socks5.Server, net.Addr, error) {
	s := &socks5.Server{Dial: b.DialBandwidth, Log: b.log}
	a, err := s.Listen(addr)
	if err != nil {
		return nil, nil, err
	}
	return s, a, nil
}

// Close settles every open session: unredeemed payments are reclaimed,
// receipts countersigned and attestations published.
func (b *Buyer) Close(ctx context.Context) {
	b.mu.Lock()
	var open []*Session
	for k, s := range b.sessions {
		open = append(open, s)
		delete(b.sessions, k)
	}
	b.mu.Unlock()
	for _, s := range open {
		b.settle(ctx, s)
	}
	if got, err := b.CollectChange(ctx); err == nil && got > 0 {
		b.log.Info("change collected from the relays", "sats", got)
	}
}
