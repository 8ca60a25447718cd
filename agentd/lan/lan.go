// Package lan is agentd's market on a LAN with no relay: peers found by
// mDNS answer queries for their own offers and presence beacons, and take
// bids and matches addressed to them, over transport's LAN protocol. Every
// event from a peer is checked as a relay would (nips.CheckLANEvent). The
// Exchange is a second source of events beside the relays
// (relays.Pool.SetLocal), so discovery, bids and matches work the same
// with or without a relay.
package lan

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// Host is the part of transport.Host the exchange uses.
type Host interface {
	PushLAN(ctx context.Context, to string, ev *nostr.Event) error
	QueryLAN(ctx context.Context, from string, f nostr.Filter) ([]*nostr.Event, error)
	LANPeers() []string
}

// Bounds of what the exchange keeps and asks.
const (
	// maxReceived is how many events pushed to us are kept (the oldest go).
	maxReceived = 1024
	// maxOwn is how many of our own events are kept to answer queries.
	maxOwn = 256
	// maxPeers is how many peers one query asks.
	maxPeers = 64
	// queryTimeout bounds one peer's answer to a query: a slow or hostile
	// peer delays a query by at most this.
	queryTimeout = 2 * time.Second
	// subBuffer is the events a slow subscriber may lag behind.
	subBuffer = 64
	// DefaultDiscoveryWait is how long a query made with no relay reachable
	// and nothing found yet waits for mDNS to find a first peer.
	DefaultDiscoveryWait = 3 * time.Second
)

// Exchange is one node's side of the LAN market.
type Exchange struct {
	self string
	log  *slog.Logger
	now  func() time.Time
	// DiscoveryWait: see DefaultDiscoveryWait.
	DiscoveryWait time.Duration

	found     chan struct{} // closed when mDNS found a first peer
	foundOnce sync.Once

	mu       sync.Mutex
	own      []*nostr.Event // ours, one per replaceable address
	received []*nostr.Event // pushed to us, checked
	subs     map[*sub]struct{}
	host     Host
	waited   bool // a patient query waited for discovery once
}

type sub struct {
	filters nostr.Filters
	ch      chan *nostr.Event
}

// New returns the exchange of the node with Nostr pubkey self. Until
// Attach it holds only what it is given.
func New(self string, log *slog.Logger) *Exchange {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exchange{self: self, log: log, now: time.Now, DiscoveryWait: DefaultDiscoveryWait,
		found: make(chan struct{}), subs: map[*sub]struct{}{}}
}

// Attach starts using h (whose ServeLAN the caller points at e).
func (e *Exchange) Attach(h Host) {
	e.mu.Lock()
	e.host = h
	e.mu.Unlock()
}

func (e *Exchange) attached() Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.host
}

// PeerFound is the host's mDNS callback: a peer is connected.
func (e *Exchange) PeerFound() { e.foundOnce.Do(func() { close(e.found) }) }

// address is the key under which an event replaces an older one: kind,
// pubkey and d for replaceable and addressable kinds, else the id.
func address(ev *nostr.Event) string {
	if nostr.IsReplaceableKind(ev.Kind) || nostr.IsAddressableKind(ev.Kind) {
		return nips.Address(ev.Kind, ev.PubKey, ev.Tags.GetD())
	}
	return ev.ID
}

// Publish hands one of our signed events to the LAN: offers and presence
// beacons are kept to answer peers' queries, events naming peers ("p"
// tags: bids, matches) are pushed to them. It reports whether a LAN peer
// can see ev (kept, or taken by a peer it names). Other kinds are not
// LAN business.
func (e *Exchange) Publish(ctx context.Context, ev nostr.Event) bool {
	if !nips.IsLANKind(ev.Kind) {
		return false
	}
	p := &ev
	seen := false
	if ev.Kind == nips.KindOffer || ev.Kind == nips.KindPresence {
		e.mu.Lock()
		a := address(p)
		e.own = slices.DeleteFunc(e.own, func(o *nostr.Event) bool { return address(o) == a })
		e.own = append(e.own, p)
		if len(e.own) > maxOwn {
			e.own = e.own[len(e.own)-maxOwn:]
		}
		e.mu.Unlock()
		seen = true
	}
	e.deliver(p)
	h := e.attached()
	if h == nil {
		return seen
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, tag := range ev.Tags {
		if len(tag) < 2 || tag[0] != "p" || tag[1] == e.self {
			continue
		}
		to := tag[1]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.PushLAN(ctx, to, p); err != nil {
				e.log.Debug("lan push failed", "to", to, "kind", ev.Kind, "err", err)
				return
			}
			mu.Lock()
			seen = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	return seen
}

// Withdraw forgets our offers named by addresses (NIP-09 "a" values).
func (e *Exchange) Withdraw(addresses []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.own = slices.DeleteFunc(e.own, func(o *nostr.Event) bool {
		return o.Kind == nips.KindOffer && slices.Contains(addresses, nips.Address(o.Kind, o.PubKey, o.Tags.GetD()))
	})
}

// LANEvent implements transport.LANHandler: a peer pushed ev to us.
func (e *Exchange) LANEvent(_ context.Context, from string, ev *nostr.Event) error {
	if err := nips.CheckLANEvent(ev, e.now()); err != nil {
		e.log.Debug("lan event refused", "from", from, "err", err)
		return err
	}
	if !ev.Tags.ContainsAny("p", []string{e.self}) {
		return errBlocked("the event is not addressed to us")
	}
	e.mu.Lock()
	dup := slices.ContainsFunc(e.received, func(o *nostr.Event) bool { return o.ID == ev.ID })
	if !dup {
		e.received = append(e.received, ev)
		if len(e.received) > maxReceived {
			e.received = slices.Delete(e.received, 0, len(e.received)-maxReceived)
		}
	}
	e.mu.Unlock()
	if !dup {
		e.deliver(ev)
	}
	return nil
}

type errBlocked string

func (e errBlocked) Error() string { return "blocked: " + string(e) }

// LANQuery implements transport.LANHandler: our own events matching f.
func (e *Exchange) LANQuery(_ context.Context, _ string, f nostr.Filter) []*nostr.Event {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	limit := nips.MaxLANEvents
	if f.Limit > 0 {
		limit = min(limit, f.Limit)
	}
	var out []*nostr.Event
	for i := len(e.own) - 1; i >= 0 && len(out) < limit; i-- {
		if ev := e.own[i]; f.Matches(ev) && !expired(ev, now) {
			out = append(out, ev)
		}
	}
	return out
}

func expired(ev *nostr.Event, now time.Time) bool {
	exp := ev.Tags.Find("expiration")
	if len(exp) < 2 {
		return false
	}
	var ts nostr.Timestamp
	for _, c := range exp[1] {
		if c < '0' || c > '9' {
			return true
		}
		ts = ts*10 + nostr.Timestamp(c-'0')
	}
	return int64(ts) <= now.Unix()
}

// Query returns the events matching f that the LAN holds: those pushed to
// us and those the connected peers answer with (each peer only for its own
// events, each checked). With patient set and no peer found yet, it first
// waits up to DiscoveryWait for mDNS to find one (the first such query
// only: later ones do not wait again).
func (e *Exchange) Query(ctx context.Context, f nostr.Filter, patient bool) []*nostr.Event {
	h := e.attached()
	e.mu.Lock()
	wait := patient && h != nil && !e.waited
	e.waited = e.waited || wait
	e.mu.Unlock()
	if wait {
		t := time.NewTimer(e.DiscoveryWait)
		select {
		case <-e.found:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	now := e.now()
	var out []*nostr.Event
	e.mu.Lock()
	for _, ev := range e.received {
		if f.Matches(ev) && !expired(ev, now) {
			out = append(out, ev)
		}
	}
	e.mu.Unlock()
	if h == nil {
		return out
	}
	peers := h.LANPeers()
	if len(peers) > maxPeers {
		peers = peers[:maxPeers]
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range peers {
		if p == e.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, queryTimeout)
			defer cancel()
			evs, err := h.QueryLAN(qctx, p, f)
			if err != nil {
				e.log.Debug("lan query failed", "peer", p, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				// A peer speaks for itself only.
				if ev.PubKey != p || !f.Matches(ev) {
					continue
				}
				if err := nips.CheckLANEvent(ev, now); err != nil {
					e.log.Debug("lan event refused", "from", p, "err", err)
					continue
				}
				out = append(out, ev)
			}
		}()
	}
	wg.Wait()
	return out
}

// Subscribe delivers to fn the events matching filters pushed to us (those
// already kept first) and our own published ones, until ctx ends. It
// blocks; fn runs on the caller's goroutine.
func (e *Exchange) Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event)) {
	s := &sub{filters: filters, ch: make(chan *nostr.Event, subBuffer)}
	e.mu.Lock()
	var stored []*nostr.Event
	for _, ev := range e.received {
		if filters.Match(ev) {
			stored = append(stored, ev)
		}
	}
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.subs, s)
		e.mu.Unlock()
	}()
	for _, ev := range stored {
		if ctx.Err() != nil {
			return
		}
		fn(ev)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.ch:
			fn(ev)
		}
	}
}

// deliver hands ev to the subscriptions it matches; a subscriber whose
// buffer is full misses it (logged).
func (e *Exchange) deliver(ev *nostr.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.subs {
		if !s.filters.Match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			e.log.Warn("lan subscriber behind; event dropped", "kind", ev.Kind, "id", ev.ID)
		}
	}
}
