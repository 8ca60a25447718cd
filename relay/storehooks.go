package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/fiatjaf/eventstore"
	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// storeHooks connects khatru to the store, timing each call and counting
// writes in flight so Shutdown can let them finish.
type storeHooks struct{ r *Relay }

func (h *storeHooks) write(ctx context.Context, op string, evt *nostr.Event, f func(context.Context, *nostr.Event) error) error {
	h.r.inflight.add(1)
	defer h.r.inflight.add(-1)
	start := time.Now()
	err := f(ctx, evt)
	h.r.metrics.storeSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	switch {
	case err == nil, errors.Is(err, eventstore.ErrDupEvent):
	case errors.Is(err, storeerr.ErrNewerVersion):
		h.r.metrics.rejected.WithLabelValues("stale_version").Inc()
	default:
		h.r.metrics.rejected.WithLabelValues("store_" + op).Inc()
		h.r.log.Warn("store write failed", "op", op, "id", evt.ID, "kind", evt.Kind, "err", err)
	}
	if err != nil && op != "delete" && !errors.Is(err, eventstore.ErrDupEvent) {
		for _, f := range h.r.onFailure {
			f(ctx, evt)
		}
	}
	return err
}

func (h *storeHooks) save(ctx context.Context, evt *nostr.Event) error {
	h.r.deletions.add(evt)
	return h.write(ctx, "save", evt, h.r.store.SaveEvent)
}

func (h *storeHooks) replace(ctx context.Context, evt *nostr.Event) error {
	return h.write(ctx, "replace", evt, h.r.store.ReplaceEvent)
}

func (h *storeHooks) delete(ctx context.Context, evt *nostr.Event) error {
	return h.write(ctx, "delete", evt, h.r.store.DeleteEvent)
}

func (h *storeHooks) query(ctx context.Context, f nostr.Filter) (chan *nostr.Event, error) {
	return storeQuery(h, ctx, f, h.r.store.QueryEvents)
}

// jsonQuerier is a store that can answer a query with the events' stored
// JSON (sqlitestore does), which khatru then sends without decoding and
// re-encoding each event.
type jsonQuerier interface {
	QueryEventsJSON(ctx context.Context, f nostr.Filter) (chan []byte, error)
}

// queryJSON answers the stored part of client REQs (khatru's QueryEventsJSON).
func (h *storeHooks) queryJSON(ctx context.Context, f nostr.Filter) (chan []byte, error) {
	return storeQuery(h, ctx, f, h.r.store.(jsonQuerier).QueryEventsJSON)
}

// idQuerier is a store that can list the created_at and id of the events a
// filter matches from its indexes (sqlitestore can): all a NIP-77 NEG-OPEN
// needs, without loading any event.
type idQuerier interface {
	QueryIDs(ctx context.Context, f nostr.Filter, add func(createdAt nostr.Timestamp, id string)) (int, error)
}

// queryNegentropy answers khatru's QueryNegentropy for NEG-OPEN, charging
// the client's read budget the records it read. It runs inside
// negentropyLane (khatru's NegentropyLane), so in the heavy-query lane; a
// filter read within Config.HeavyCacheTTL is answered from the cache.
func (h *storeHooks) queryNegentropy(ctx context.Context, f nostr.Filter, add func(createdAt nostr.Timestamp, id string)) error {
	key := filtersKey(f)
	if recs, ok := h.r.heavyCache.neg(key, h.r.now()); ok {
		h.r.metrics.heavy.WithLabelValues("cached").Inc()
		for _, rec := range recs {
			add(rec.createdAt, rec.id)
		}
		return nil
	}
	var recs []negRecord
	start := time.Now()
	n, err := h.r.store.(idQuerier).QueryIDs(ctx, f, func(createdAt nostr.Timestamp, id string) {
		recs = append(recs, negRecord{createdAt, id})
		add(createdAt, id)
	})
	h.r.metrics.storeSeconds.WithLabelValues("query").Observe(time.Since(start).Seconds())
	h.r.chargeReads(ctx, n)
	switch {
	case err == nil:
		h.r.heavyCache.putNeg(key, h.r.now(), recs)
		return nil
	case errors.Is(err, storeerr.ErrUnsupportedFilter):
		return err // "unsupported: ..."
	case ctx.Err() != nil:
		return errors.New("error: the sync was cancelled")
	default:
		h.r.log.Warn("negentropy query failed", "err", err)
		return errors.New("error: could not read the events; try again later")
	}
}

// negentropyLane answers khatru's NegentropyLane: the CPU of NIP-77 (a
// NEG-OPEN's read, the sort of its records and its first reconciliation, a
// NEG-MSG's reconciliation) runs in the heavy-query lane and is charged to
// the client IP's heavy budget, the time it took, as a COUNT is. Before, only
// the read was, and a NEG-OPEN answered from the cache sorted and reconciled
// its records (about 5 ms over 5,000) outside the lane, uncharged.
func (h *storeHooks) negentropyLane(ctx context.Context, work func()) error {
	ip := h.r.connIP(ctx)
	err := h.r.heavy.run(ctx, ip, work)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrHeavyBudget):
		h.r.pace(ctx, h.r.ipHeavy, ip)
		return err
	case errors.Is(err, ErrHeavyBusy):
		return err
	default:
		return errors.New("error: the sync was cancelled")
	}
}

// storeQuery runs run(f) for khatru, timing it until its channel closes.
func storeQuery[T any](h *storeHooks, ctx context.Context, f nostr.Filter, run func(context.Context, nostr.Filter) (chan T, error)) (chan T, error) {
	if khatru.IsInternalCall(ctx) && isEmptyFilter(f) {
		// khatru's expiration manager scans every stored event an hour after
		// start; the store already never serves and purges expired events.
		ch := make(chan T)
		close(ch)
		return ch, nil
	}
	f = khatruTagKeys(f)
	if !h.r.deletions.mayMatch(f) {
		ch := make(chan T)
		close(ch)
		return ch, nil
	}
	start := time.Now()
	in, err := run(ctx, f)
	if err != nil {
		h.r.metrics.storeSeconds.WithLabelValues("query").Observe(time.Since(start).Seconds())
		return nil, err
	}
	out := make(chan T, 32)
	go func() {
		defer close(out)
		read := 0
		defer func() {
			h.r.metrics.storeSeconds.WithLabelValues("query").Observe(time.Since(start).Seconds())
			h.r.chargeReads(ctx, read)
		}()
		for evt := range in {
			read++
			select {
			case out <- evt:
			case <-ctx.Done():
				for range in { // let the store's producer finish
					read++
				}
				return
			}
		}
	}()
	return out, nil
}

// count answers a NIP-45 COUNT: the distinct events matching any of
// filters. Its work is bounded twice: it stops after Config.MaxCountEvents
// matches (refused, not approximated: a COUNT answer is exact or absent) and
// after Config.CountTimeout. It runs in the heavy-query lane (heavy.go); the
// same filters counted within Config.HeavyCacheTTL are answered from the
// cache.
func (h *storeHooks) count(ctx context.Context, filters nostr.Filters) (int64, error) {
	key := filtersKey(filters...)
	tooMany := fmt.Errorf("blocked: more than %d events match; narrow the filter", h.r.cfg.MaxCountEvents)
	if c, ok := h.r.heavyCache.count(key, h.r.now()); ok {
		h.r.metrics.heavy.WithLabelValues("cached").Inc()
		if c.tooMany {
			return 0, tooMany
		}
		return c.n, nil
	}
	var n int64
	var err error
	timedOut := false
	lerr := h.r.heavy.run(ctx, h.r.connIP(ctx), func() {
		cctx, cancel := context.WithTimeout(ctx, h.r.cfg.CountTimeout)
		defer cancel()
		start := time.Now()
		n, err = h.r.store.CountUnion(cctx, filters, int64(h.r.cfg.MaxCountEvents))
		h.r.metrics.storeSeconds.WithLabelValues("count").Observe(time.Since(start).Seconds())
		timedOut = errors.Is(cctx.Err(), context.DeadlineExceeded)
	})
	if lerr != nil {
		if errors.Is(lerr, ErrHeavyBudget) {
			h.r.pace(ctx, h.r.ipHeavy, h.r.connIP(ctx))
		}
		if errors.Is(lerr, ErrHeavyBusy) || errors.Is(lerr, ErrHeavyBudget) {
			return 0, lerr
		}
		return 0, errors.New("error: the COUNT was cancelled")
	}
	// A COUNT is charged the events it matched; a refused one is charged
	// its bound.
	if err == nil {
		h.r.chargeReads(ctx, int(n))
	} else {
		h.r.chargeReads(ctx, h.r.cfg.MaxCountEvents)
	}
	switch {
	case err == nil:
		h.r.heavyCache.putCount(key, h.r.now(), n, false)
		return n, nil
	case errors.Is(err, storeerr.ErrTooMany):
		h.r.heavyCache.putCount(key, h.r.now(), 0, true)
		return 0, tooMany
	case timedOut:
		return 0, fmt.Errorf("blocked: counting took longer than %s; narrow the filter", h.r.cfg.CountTimeout)
	case errors.Is(err, storeerr.ErrUnsupportedFilter):
		return 0, err // "unsupported: ..."
	default:
		h.r.log.Warn("count failed", "err", err)
		return 0, errors.New("error: could not count; try again later")
	}
}

// khatruTagKeys rewrites the "#e" and "#a" tag keys khatru uses in its own
// NIP-09 lookups (a deleted event must not be accepted again) to the "e" and
// "a" keys filters carry after parsing, so the store matches them exactly.
func khatruTagKeys(f nostr.Filter) nostr.Filter {
	fix := false
	for k := range f.Tags {
		if len(k) == 2 && k[0] == '#' {
			fix = true
		}
	}
	if !fix {
		return f
	}
	tags := make(nostr.TagMap, len(f.Tags))
	for k, v := range f.Tags {
		if len(k) == 2 && k[0] == '#' {
			k = k[1:]
		}
		tags[k] = v
	}
	f.Tags = tags
	return f
}

func isEmptyFilter(f nostr.Filter) bool {
	return len(f.IDs) == 0 && len(f.Authors) == 0 && len(f.Kinds) == 0 && len(f.Tags) == 0 &&
		f.Since == nil && f.Until == nil && f.Limit == 0 && f.Search == ""
}

// inflight counts store writes under way.
type inflight struct {
	mu sync.Mutex
	n  int
}

func (c *inflight) add(d int) {
	c.mu.Lock()
	c.n += d
	c.mu.Unlock()
}

// wait returns when no write is under way or ctx is done.
func (c *inflight) wait(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// closeMessage and closeGoingAway tell websocket clients the relay is going away.
var (
	closeMessage   = websocket.CloseMessage
	closeGoingAway = websocket.FormatCloseMessage(websocket.CloseGoingAway, "relay shutting down")
)

// hijackTracker records the raw connection khatru's websocket upgrade takes,
// so Shutdown can close connections whose clients do not leave, and gives
// the connection's slot back (release) when it closes.
type hijackTracker struct {
	http.ResponseWriter
	r        *Relay
	release  func()
	hijacked bool // the connection was taken, and release passed on to it
}

func (h *hijackTracker) Hijack() (c net.Conn, rw *bufio.ReadWriter, err error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	c, rw, err = hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := &trackedConn{Conn: c, r: h.r, release: h.release}
	h.r.mu.Lock()
	if h.r.closed {
		h.r.mu.Unlock()
		c.Close()
		return nil, nil, ErrClosed
	}
	h.r.rawConns[tc] = struct{}{}
	h.r.mu.Unlock()
	h.hijacked = true
	return tc, rw, nil
}

type trackedConn struct {
	net.Conn
	r       *Relay
	release func()
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		delete(c.r.rawConns, c)
		c.r.mu.Unlock()
		if c.release != nil {
			c.release()
		}
	})
	return c.Conn.Close()
}
