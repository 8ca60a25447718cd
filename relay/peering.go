package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// Peering keeps the relay in step with the relays of Config.Peers. For each
// peer one goroutine, owned by the relay and stopped by Shutdown:
//
//   - connects, subscribes to the peer's new events of Config.PeerKinds and
//     stores what arrives (through every event policy, the peer's events
//     rate-limited like one client's);
//   - reconciles the stored events of those kinds both ways with NIP-77
//     negentropy, at once and every Config.PeerInterval, so what either side
//     missed (while down, restarted, or dropped under load) crosses, and only
//     that;
//   - sends the peer each event of those kinds this relay stores or relays
//     live, except the peer's own, from a bounded queue (what does not fit is
//     counted and left to the next reconciliation);
//   - reconnects after an error with a backoff of 1 s doubling to 1 min.
//
// Nothing is persisted per peer: reconciliation on connect finds what a
// restart missed.

// peerQueue is how many events wait to be sent to one peer.
const peerQueue = 1024

type peer struct {
	url  string
	push chan *nostr.Event

	// What Peers reports, kept beside the metrics.
	connected atomic.Bool
	lastSync  atomic.Int64 // unix seconds of the last completed reconciliation
	lagMillis atomic.Int64 // age of the last live event received
	in, out   atomic.Uint64
}

// PeerStatus is the state of one peer (Config.Peers), for the operator.
type PeerStatus struct {
	URL       string  `json:"url"`
	Connected bool    `json:"connected"`
	LastSync  int64   `json:"last_sync"` // unix seconds; 0: never
	Lag       float64 `json:"lag_seconds"`
	In        uint64  `json:"events_in"`  // live events stored from the peer
	Out       uint64  `json:"events_out"` // live events the peer took
}

// Peers returns the state of each configured peer, in configuration order.
func (r *Relay) Peers() []PeerStatus {
	out := make([]PeerStatus, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, PeerStatus{URL: p.url, Connected: p.connected.Load(), LastSync: p.lastSync.Load(),
			Lag: float64(p.lagMillis.Load()) / 1000, In: p.in.Load(), Out: p.out.Load()})
	}
	return out
}

type peerCtxKey struct{}

// withPeer marks ctx as carrying an event from the peer at url.
func withPeer(ctx context.Context, url string) context.Context {
	return context.WithValue(ctx, peerCtxKey{}, url)
}

// FromPeer returns the URL of the peer (Config.Peers) an event being
// handled came from, or "" for a client's. Fee policies use it: an event is
// charged where it was first published.
func FromPeer(ctx context.Context) string {
	url, _ := ctx.Value(peerCtxKey{}).(string)
	return url
}

// startPeering starts one goroutine per configured peer.
func (r *Relay) startPeering() {
	if len(r.cfg.Peers) == 0 {
		return
	}
	for _, url := range r.cfg.Peers {
		r.peers = append(r.peers, &peer{url: url, push: make(chan *nostr.Event, peerQueue)})
		r.metrics.peerConnected.WithLabelValues(url).Set(0)
	}
	send := func(ctx context.Context, evt *nostr.Event) {
		if !slices.Contains(r.cfg.PeerKinds, evt.Kind) {
			return
		}
		from := FromPeer(ctx)
		for _, p := range r.peers {
			if p.url == from {
				continue
			}
			select {
			case p.push <- evt:
			default:
				r.metrics.peerEvents.WithLabelValues(p.url, "out", "queue_full").Inc()
			}
		}
	}
	// The hooks are set before any peer goroutine runs: a peer's first
	// reconciliation publishes through khatru, which reads them.
	r.kh.OnEventSaved = append(r.kh.OnEventSaved, send)
	r.kh.OnEphemeralEvent = append(r.kh.OnEphemeralEvent, send)
	for _, p := range r.peers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.runPeer(r.ctx, p)
		}()
	}
}

// runPeer keeps one peer in step until ctx ends.
func (r *Relay) runPeer(ctx context.Context, p *peer) {
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := r.peerSession(ctx, p)
		r.metrics.peerConnected.WithLabelValues(p.url).Set(0)
		p.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second // it ran a while: a fresh failure
		}
		r.log.Warn("peer disconnected; reconnecting", "peer", p.url, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// errPeerClosed ends a session whose connection or subscription closed.
var errPeerClosed = errors.New("connection closed")

// peerSession runs one connection to the peer: live subscription,
// reconciliation now and every interval, pushes. It returns when the
// connection fails or ctx ends.
func (r *Relay) peerSession(ctx context.Context, p *peer) error {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := nostr.RelayConnect(dctx, p.url)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	// Subscribe before reconciling, so an event published meanwhile arrives
	// by one way or the other. "limit":0 asks for new events only, whatever
	// their created_at (a since would drop events signed a moment earlier).
	sub, err := conn.Subscribe(ctx, nostr.Filters{{Kinds: r.cfg.PeerKinds, LimitZero: true}})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsub()
	r.metrics.peerConnected.WithLabelValues(p.url).Set(1)
	p.connected.Store(true)
	r.log.Info("peer connected", "peer", p.url)

	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	syncErr := make(chan error, 1)
	reconcile := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Sync(sctx, p.url, nostr.Filter{Kinds: r.cfg.PeerKinds}, SyncBoth); err != nil {
				select {
				case syncErr <- err:
				default:
				}
				return
			}
			r.metrics.peerLastSync.WithLabelValues(p.url).Set(float64(r.now().Unix()))
			p.lastSync.Store(r.now().Unix())
		}()
	}
	reconcile()
	tick := time.NewTicker(r.cfg.PeerInterval)
	defer tick.Stop()
	pctx := withPeer(ctx, p.url)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Context().Done():
			return errPeerClosed
		case err := <-syncErr:
			// A failed reconciliation is retried at the next tick; the live
			// connection stays.
			r.log.Warn("peer reconciliation failed", "peer", p.url, "err", err)
		case <-tick.C:
			reconcile()
		case evt, ok := <-sub.Events:
			if !ok {
				return errPeerClosed
			}
			r.fromPeer(pctx, p, evt)
		case evt := <-p.push:
			pubctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Publish(pubctx, *evt)
			cancel()
			result := "sent"
			if err != nil {
				result = "refused"
				if conn.Context().Err() != nil {
					return errPeerClosed
				}
				r.log.Debug("peer refused an event", "peer", p.url, "id", evt.ID, "err", err)
			}
			r.metrics.peerEvents.WithLabelValues(p.url, "out", result).Inc()
			if err == nil {
				p.out.Add(1)
			}
		}
	}
}

// fromPeer stores one live event from a peer, rate-limited per peer like a
// client's IP.
func (r *Relay) fromPeer(ctx context.Context, p *peer, evt *nostr.Event) {
	if !slices.Contains(r.cfg.PeerKinds, evt.Kind) {
		r.metrics.peerEvents.WithLabelValues(p.url, "in", "refused").Inc()
		return
	}
	if !r.ipEvents.allow("peer "+p.url, r.now()) {
		r.metrics.peerEvents.WithLabelValues(p.url, "in", "rate_limited").Inc()
		return
	}
	result := "stored"
	if err := r.Publish(ctx, evt); err != nil {
		result = "refused"
		r.log.Debug("peer event refused", "peer", p.url, "id", evt.ID, "err", err)
	} else {
		p.in.Add(1)
	}
	lag := r.now().Sub(evt.CreatedAt.Time())
	r.metrics.peerEvents.WithLabelValues(p.url, "in", result).Inc()
	r.metrics.peerLag.WithLabelValues(p.url).Set(lag.Seconds())
	p.lagMillis.Store(lag.Milliseconds())
}
