// Package relays is agentd's connection to its Nostr relays: publish to
// all of them, query all of them (deduplicated), and subscribe with
// reconnection. A connection that dropped is redialled on next use.
package relays

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// ErrNoRelay means no relay accepted the operation.
var ErrNoRelay = errors.New("relays: no relay reachable")

// Pool holds one connection per relay URL.
type Pool struct {
	urls []string
	log  *slog.Logger

	mu    sync.Mutex
	conns map[string]*nostr.Relay
}

// New returns a pool for urls. Connections are made on first use.
func New(urls []string, log *slog.Logger) (*Pool, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no relay configured", ErrNoRelay)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{urls: append([]string(nil), urls...), log: log, conns: map[string]*nostr.Relay{}}, nil
}

// URLs returns the relay URLs.
func (p *Pool) URLs() []string { return append([]string(nil), p.urls...) }

func (p *Pool) relay(ctx context.Context, url string) (*nostr.Relay, error) {
	p.mu.Lock()
	r := p.conns[url]
	p.mu.Unlock()
	if r != nil && r.IsConnected() {
		return r, nil
	}
	if r != nil {
		_ = r.Close()
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := nostr.RelayConnect(cctx, url)
	if err != nil {
		return nil, fmt.Errorf("relays: connect %s: %w", url, err)
	}
	p.mu.Lock()
	if old := p.conns[url]; old != nil && old != r && old.IsConnected() {
		p.mu.Unlock()
		_ = r.Close()
		return old, nil
	}
	p.conns[url] = r
	p.mu.Unlock()
	return r, nil
}

// Publish sends ev to every relay and succeeds if at least one stored it.
func (p *Pool) Publish(ctx context.Context, ev nostr.Event) error {
	var errs []error
	ok := false
	for _, u := range p.urls {
		r, err := p.relay(ctx, u)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = r.Publish(pctx, ev)
			cancel()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ok = true
	}
	if !ok {
		return fmt.Errorf("%w: publish kind %d: %w", ErrNoRelay, ev.Kind, errors.Join(errs...))
	}
	return nil
}

// Query returns the stored events matching f on every relay, each id once.
func (p *Pool) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	seen := map[string]bool{}
	var out []*nostr.Event
	var errs []error
	ok := false
	for _, u := range p.urls {
		r, err := p.relay(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		evs, err := r.QuerySync(qctx, f)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ok = true
		for _, ev := range evs {
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

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, r := range p.conns {
		_ = r.Close()
		delete(p.conns, u)
	}
	return nil
}
