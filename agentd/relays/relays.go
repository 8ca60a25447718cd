// Package relays is agentd's connection to its Nostr relays: publish to
// all of them at once, query all of them (deduplicated), and subscribe with
// reconnection. Each relay has its own deadlines; a relay that cannot be
// reached is redialled on next use, but not before its backoff has passed,
// so a dead relay costs the others nothing.
package relays

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

var (
	// ErrNoRelay means no relay accepted the operation.
	ErrNoRelay = errors.New("relays: no relay reachable")
	// ErrRelayDown means a relay's last dial failed and its backoff has
	// not passed yet; it is not dialled again until it has.
	ErrRelayDown = errors.New("relays: relay down, backing off")
	// ErrUnreachable marks a relay that could not be connected to (as
	// opposed to one that answered and refused).
	ErrUnreachable = errors.New("unreachable")
	// ErrClosed means the pool was closed.
	ErrClosed = errors.New("relays: pool closed")
)

// Defaults of the pool's deadlines and backoff.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultQueryTimeout   = 10 * time.Second
	minBackoff            = 500 * time.Millisecond
	maxBackoff            = time.Minute
)

// Option configures a Pool.
type Option func(*Pool)

// Pool holds one connection per relay URL.
type Pool struct {
	urls                                      []string
	log                                       *slog.Logger
	now                                       func() time.Time
	dialTimeout, publishTimeout, queryTimeout time.Duration

	// ctx ends when the pool is closed; every goroutine the pool starts
	// (a publish still running at a slow relay) stops with it and is
	// counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[string]*conn

	// local is a source of events besides the relays (agentd's LAN), nil
	// if none; set before use.
	local Local
}

// Local is a source of events besides the relays: agentd's LAN exchange
// (agentd/lan). Its events are checked before it returns them.
type Local interface {
	// Query returns its events matching f; patient: nothing else answered,
	// so it may wait a moment for peers to be found.
	Query(ctx context.Context, f nostr.Filter, patient bool) []*nostr.Event
	// Subscribe delivers its events matching filters until ctx ends.
	Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event))
}

// SetLocal adds l to what Query and Subscribe read. Call it before use.
func (p *Pool) SetLocal(l Local) { p.local = l }

// conn is the state of one relay: its connection, the dial in flight, and
// the backoff after failed dials. Guarded by Pool.mu.
type conn struct {
	r        *nostr.Relay
	dialing  chan struct{} // closed when the dial in flight ends
	failures int
	lastErr  error
	nextDial time.Time
}

// New returns a pool for urls. Connections are made on first use.
func New(urls []string, log *slog.Logger, opts ...Option) (*Pool, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no relay configured", ErrNoRelay)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{urls: append([]string(nil), urls...), log: log, now: time.Now, conns: map[string]*conn{},
		dialTimeout: DefaultDialTimeout, publishTimeout: DefaultPublishTimeout, queryTimeout: DefaultQueryTimeout}
	for _, o := range opts {
		o(p)
	}
	for _, u := range p.urls {
		p.conns[u] = &conn{}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// URLs returns the relay URLs.
func (p *Pool) URLs() []string { return append([]string(nil), p.urls...) }

// relay returns a live connection to url: the open one, the one being
// dialled (waiting for that dial), or a new one, unless url is backing off.
func (p *Pool) relay(ctx context.Context, url string) (*nostr.Relay, error) {
	p.mu.Lock()
	c := p.conns[url]
	for {
		if p.ctx.Err() != nil {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if c.r != nil && c.r.IsConnected() {
			r := c.r
			p.mu.Unlock()
			return r, nil
		}
		if c.dialing == nil {
			break
		}
		wait := c.dialing
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("relays: connect %s: %w (%w)", url, context.Cause(ctx), ErrUnreachable)
		}
		p.mu.Lock()
		if c.dialing == nil && (c.r == nil || !c.r.IsConnected()) && c.lastErr != nil {
			err := c.lastErr
			p.mu.Unlock()
			return nil, err
		}
	}
	if now := p.now(); now.Before(c.nextDial) {
		err := fmt.Errorf("%w: %s until %s: %w", ErrRelayDown, url, c.nextDial.Format(time.RFC3339Nano), c.lastErr)
		p.mu.Unlock()
		return nil, err
	}
	old := c.r
	c.r, c.dialing = nil, make(chan struct{})
	p.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}

	dctx, cancel := context.WithTimeout(ctx, p.dialTimeout)
	stop := context.AfterFunc(p.ctx, cancel)
	r, err := nostr.RelayConnect(dctx, url)
	stop()
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	close(c.dialing)
	c.dialing = nil
	if err == nil && p.ctx.Err() != nil {
		_ = r.Close()
		err = ErrClosed
	}
	if err != nil {
		c.lastErr = fmt.Errorf("relays: connect %s: %w (%w)", url, err, ErrUnreachable)
		p.failedLocked(c)
		return nil, c.lastErr
	}
	c.r, c.failures, c.lastErr, c.nextDial = r, 0, nil, time.Time{}
	return r, nil
}

// failedLocked starts (or doubles) c's backoff. p.mu is held.
func (p *Pool) failedLocked(c *conn) {
	c.failures++
	b := minBackoff << min(c.failures-1, 16)
	c.nextDial = p.now().Add(min(b, maxBackoff))
}

// drop closes r, url's connection, after a publish or query timed out on
// it: a relay that stopped answering is dialled again, after a backoff.
func (p *Pool) drop(url string, r *nostr.Relay, err error) {
	p.mu.Lock()
	c := p.conns[url]
	if c.r != r {
		p.mu.Unlock()
		return
	}
	c.r, c.lastErr = nil, err
	p.failedLocked(c)
	p.mu.Unlock()
	_ = r.Close()
}

// perRelay returns the context of one relay's part of an operation: the
// caller's values, not its cancellation (a relay still working when the
// caller has its answer finishes), ended by the deadline or by Close.
func (p *Pool) perRelay(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	stop := context.AfterFunc(p.ctx, cancel)
	return rctx, func() { stop(); cancel() }
}

// Publish sends ev to every relay at once and returns as soon as one has
// stored it (the others go on in the background, each until its own
// deadline, and are logged), or with every relay's error once all have
// failed. A relay that is down or slow delays no other.
func (p *Pool) Publish(ctx context.Context, ev nostr.Event) error {
	type result struct {
		url string
		err error
	}
	results := make(chan result, len(p.urls)) // never blocks a sender
	for _, u := range p.urls {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			results <- result{u, p.publishOne(ctx, u, ev)}
		}()
	}
	var errs []error
	for range p.urls {
		select {
		case res := <-results:
			if res.err == nil {
				return nil
			}
			errs = append(errs, res.err)
		case <-ctx.Done():
			return fmt.Errorf("relays: publish kind %d: %w", ev.Kind, context.Cause(ctx))
		}
	}
	return fmt.Errorf("%w: publish kind %d: %w", ErrNoRelay, ev.Kind, errors.Join(errs...))
}

// publishOne publishes ev at url within the publish deadline.
func (p *Pool) publishOne(ctx context.Context, url string, ev nostr.Event) error {
	rctx, cancel := p.perRelay(ctx, p.publishTimeout)
	defer cancel()
	r, err := p.relay(rctx, url)
	if err != nil {
		p.log.Debug("publish: relay unreachable", "relay", url, "kind", ev.Kind, "err", err)
		return err
	}
	if err := r.Publish(rctx, ev); err != nil {
		if rctx.Err() != nil && p.ctx.Err() == nil {
			p.drop(url, r, err)
		}
		p.log.Debug("publish refused or failed", "relay", url, "kind", ev.Kind, "err", err)
		return fmt.Errorf("relays: publish to %s: %w", url, err)
	}
	return nil
}

// Query returns the stored events matching f on every relay, each id once,
// asking all relays at once, each within its own deadline.
func (p *Pool) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	type result struct {
		evs []*nostr.Event
		err error
	}
	results := make([]result, len(p.urls))
	var wg sync.WaitGroup
	for i, u := range p.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, p.queryTimeout)
			defer cancel()
			stop := context.AfterFunc(p.ctx, cancel)
			defer stop()
			r, err := p.relay(qctx, u)
			if err == nil {
				results[i].evs, err = r.QuerySync(qctx, f)
				if err != nil && qctx.Err() != nil && ctx.Err() == nil && p.ctx.Err() == nil {
					p.drop(u, r, err)
				}
			}
			results[i].err = err
		}()
	}
	var local []*nostr.Event
	if p.local != nil {
		wg.Add(1)
		go func() { defer wg.Done(); local = p.local.Query(ctx, f, false) }()
	}
	wg.Wait()
	seen := map[string]bool{}
	var out []*nostr.Event
	var errs []error
	ok := false
	if p.local != nil {
		if !slices.ContainsFunc(results, func(r result) bool { return r.err == nil }) && len(local) == 0 {
			// No relay answered: the LAN may find a peer in a moment.
			local = p.local.Query(ctx, f, true)
		}
		if len(local) > 0 {
			results = append(results, result{evs: local})
		}
	}
	for _, res := range results {
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		ok = true
		for _, ev := range res.evs {
			if !seen[ev.ID] {
				seen[ev.ID] = true
				out = append(out, ev)
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrNoRelay, errors.Join(errs...))
	}
	return out, nil
}

// Subscribe delivers events matching filters from every relay to fn (each
// id once) until ctx ends, resubscribing after a dropped connection. It
// blocks; run it in a goroutine the caller owns. ready, if not nil, is
// closed once every relay has sent EOSE (or failed) for the first time.
func (p *Pool) Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event), ready chan<- struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(p.ctx, cancel)
	defer stopOnClose()
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
		eose sync.WaitGroup
	)
	deliver := func(ev *nostr.Event) {
		mu.Lock()
		dup := seen[ev.ID]
		seen[ev.ID] = true
		if len(seen) > 100_000 {
			seen = map[string]bool{ev.ID: true}
		}
		mu.Unlock()
		if !dup {
			fn(ev)
		}
	}
	eose.Add(len(p.urls))
	for _, u := range p.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			done := func() {
				if first {
					first = false
					eose.Done()
				}
			}
			defer done()
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				r, err := p.relay(ctx, u)
				if err == nil {
					var sub *nostr.Subscription
					sub, err = r.Subscribe(ctx, filters)
					if err == nil {
						backoff = 100 * time.Millisecond
						p.pump(ctx, sub, deliver, done)
						sub.Unsub()
					}
				}
				if err != nil {
					p.log.Debug("subscription failed", "relay", u, "err", err)
					done()
				}
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
			}
		}()
	}
	if p.local != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.local.Subscribe(ctx, filters, deliver) }()
	}
	if ready != nil {
		go func() { eose.Wait(); close(ready) }()
	}
	wg.Wait()
}

func (p *Pool) pump(ctx context.Context, sub *nostr.Subscription, deliver func(*nostr.Event), eose func()) {
	eoseCh := sub.EndOfStoredEvents
	for {
		select {
		case <-ctx.Done():
			return
		case <-eoseCh:
			eoseCh = nil
			eose()
		case ev, ok := <-sub.Events:
			if !ok {
				return
			}
			deliver(ev)
		case <-sub.Context.Done():
			return
		}
	}
}

// Close stops the publishes still running, waits for them and closes
// every connection.
func (p *Pool) Close() error {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.r != nil {
			_ = c.r.Close()
			c.r = nil
		}
	}
	return nil
}
