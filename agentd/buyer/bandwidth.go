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
// provider that fails to carry it is skipped for the next-best one. When
// every candidate failed and some were found dead, the offers are read
// again once: a provider that restarted announces its new addresses.
func (b *Buyer) DialBandwidth(ctx context.Context, target string) (net.Conn, error) {
	var errs []error
	for round := 0; round < 2; round++ {
		cands, err := b.candidates(ctx, nips.Bandwidth, "")
		if err != nil {
			if round == 0 {
				return nil, err
			}
			errs = append(errs, err)
			break
		}
		conn, dead, err := b.dialVia(ctx, cands, target)
		if conn != nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !dead {
			break
		}
	}
	return nil, fmt.Errorf("%w: no bandwidth provider carried %s: %w", ErrNoOffer, target, errors.Join(errs...))
}

// dialVia tries the first few candidates in order. dead reports that one of
// them was marked dead.
func (b *Buyer) dialVia(ctx context.Context, cands []Candidate, target string) (conn net.Conn, dead bool, err error) {
	var errs []error
	for i, c := range cands {
		if i >= 4 {
			break
		}
		sess, err := b.session(ctx, c, b.cfg.BandwidthMiB, 0, "")
		if err != nil {
			errs = append(errs, err)
			b.markDead(c.Offer)
			dead = true
			continue
		}
		// A cached session may name a provider that went away: find out
		// in at most a second, not after the stream's timeout.
		if !b.alive(ctx, sess.Peer) {
			errs = append(errs, fmt.Errorf("%w: %s unreachable", ErrNoMatch, c.Offer.Pubkey))
			b.markDead(c.Offer)
			dead = true
			continue
		}
		start := time.Now()
		conn, err := b.host.DialBandwidth(ctx, sess.Peer, target, sess.Payer)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, err
			}
			errs = append(errs, err)
			if !b.alive(ctx, sess.Peer) {
				b.markDead(c.Offer)
				dead = true
			}
			continue
		}
		_ = b.db.Observe(ctx, c.Offer.Pubkey, time.Since(start), true)
		return conn, false, nil
	}
	return nil, dead, errors.Join(errs...)
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

// Close stops watching the open bids for late matches (see declineLate),
// then settles every open session: unredeemed payments are reclaimed,
// receipts countersigned and attestations published.
func (b *Buyer) Close(ctx context.Context) {
	b.stop()
	b.watch.Wait()
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
