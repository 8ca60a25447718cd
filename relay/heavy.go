package relay

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// The heavy-query lane. A NIP-45 COUNT or a NIP-77 NEG-OPEN reads every
// event its filters match (a COUNT over {} with 5,000 stored events is
// 15-20 ms of CPU, a NEG-OPEN 30-40 ms) in one piece, while an honest REQ
// reads a page. On a small box a few of them at once took every CPU and
// honest REQs queued behind them. So:
//
//   - at most Config.HeavyConcurrency heavy reads run at once relay-wide
//     (default: one less than the CPUs Go uses, at least one), so CPU is left
//     for REQs and publishes; at most Config.HeavyQueue more wait for a slot,
//     and beyond that one is refused "rate-limited:" at once;
//   - each client IP has a budget of heavy work measured in milliseconds the
//     relay spent on its heavy reads (Config.IPHeavyRate per second, burst
//     Config.IPHeavyBurst), charged after each read, and a heavy query is
//     refused "rate-limited:" while its IP's budget is below zero, so one
//     client cannot keep the lane full;
//   - answers are kept for Config.HeavyCacheTTL per filter: a COUNT or
//     NEG-OPEN repeating a filter within it is answered from the cache,
//     without a read (so it is at most that old);
//   - NIP-77's other CPU (a NEG-OPEN's sort and first reconciliation, even
//     from the cache, and each NEG-MSG's reconciliation: about 5 ms over
//     5,000 records) runs in the lane and is charged too (khatru's
//     NegentropyLane, storeHooks.negentropyLane).

var (
	// ErrHeavyBusy refuses a heavy query when the lane and its queue are full.
	ErrHeavyBusy = errors.New("rate-limited: the relay is busy with other COUNT and NEG-OPEN queries; retry in a few seconds")
	// ErrHeavyBudget refuses a heavy query from a client IP whose heavy-work
	// budget is spent.
	ErrHeavyBudget = errors.New("rate-limited: your address has used its share of the relay's time for COUNT and NEG-OPEN; slow down")
)

// heavyLane bounds the heavy reads running and waiting at once, and each
// client IP's time spent in them.
type heavyLane struct {
	slots   chan struct{} // one token per running read
	tickets chan struct{} // one token per running or waiting read
	budget  *limiter      // milliseconds of heavy work per IP
	now     func() time.Time
	count   func(outcome string)
}

// heavyConcurrency is the number of heavy reads that may run at once for a
// configured value n (0: one less than GOMAXPROCS, at least one).
func heavyConcurrency(n int) int {
	if n > 0 {
		return n
	}
	return max(1, runtime.GOMAXPROCS(0)-1)
}

func newHeavyLane(concurrency, queue int, budget *limiter, now func() time.Time, count func(string)) *heavyLane {
	return &heavyLane{
		slots:   make(chan struct{}, concurrency),
		tickets: make(chan struct{}, concurrency+queue),
		budget:  budget,
		now:     now,
		count:   count,
	}
}

// run runs read for the client IP ip ("" for the relay's own calls, which
// have no budget but share the lane) once a slot is free, charging ip the
// time read took (at least a millisecond). It refuses with ErrHeavyBudget or
// ErrHeavyBusy without running read, or returns ctx's error if ctx ends while
// it waits.
func (l *heavyLane) run(ctx context.Context, ip string, read func()) error {
	if ip != "" && !l.budget.ready(ip, l.now()) {
		l.count("budget")
		return ErrHeavyBudget
	}
	select {
	case l.tickets <- struct{}{}:
	default:
		l.count("busy")
		return ErrHeavyBusy
	}
	defer func() { <-l.tickets }()
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.slots }()
	l.count("run")
	start := l.now()
	read()
	if ip != "" {
		ms := int((l.now().Sub(start) + time.Millisecond - 1) / time.Millisecond)
		l.budget.charge(ip, l.now(), max(ms, 1))
	}
	return nil
}

// heavyCache keeps the answers of recent heavy reads by filter for a short
// time. It holds at most maxCounts counts and maxRecords negentropy records
// in total; a full cache drops its expired entries, then any.
type heavyCache struct {
	ttl        time.Duration
	maxCounts  int
	maxRecords int

	mu      sync.Mutex
	counts  map[string]cachedCount
	negs    map[string]cachedNeg
	records int
}

type cachedCount struct {
	n       int64
	tooMany bool // more than Config.MaxCountEvents matched
	expires time.Time
}

type negRecord struct {
	createdAt nostr.Timestamp
	id        string
}

type cachedNeg struct {
	records []negRecord
	expires time.Time
}

func newHeavyCache(ttl time.Duration, maxCounts, maxRecords int) *heavyCache {
	return &heavyCache{ttl: ttl, maxCounts: maxCounts, maxRecords: maxRecords,
		counts: make(map[string]cachedCount), negs: make(map[string]cachedNeg)}
}

// filtersKey is the cache key of a list of filters: their JSON.
func filtersKey(filters ...nostr.Filter) string {
	var b strings.Builder
	for _, f := range filters {
		j, _ := f.MarshalJSON()
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func (c *heavyCache) count(key string, now time.Time) (cachedCount, bool) {
	if c.ttl <= 0 {
		return cachedCount{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.counts[key]
	if !ok || !now.Before(e.expires) {
		return cachedCount{}, false
	}
	return e, true
}

func (c *heavyCache) putCount(key string, now time.Time, n int64, tooMany bool) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.counts[key]; !ok && len(c.counts) >= c.maxCounts {
		for k, e := range c.counts {
			if !now.Before(e.expires) || len(c.counts) >= c.maxCounts {
				delete(c.counts, k)
			}
		}
	}
	c.counts[key] = cachedCount{n: n, tooMany: tooMany, expires: now.Add(c.ttl)}
}

func (c *heavyCache) neg(key string, now time.Time) ([]negRecord, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.negs[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.records, true
}

func (c *heavyCache) putNeg(key string, now time.Time, records []negRecord) {
	if c.ttl <= 0 || len(records) > c.maxRecords {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.negs[key]; ok {
		c.records -= len(old.records)
		delete(c.negs, key)
	}
	for k, e := range c.negs {
		if c.records+len(records) <= c.maxRecords && now.Before(e.expires) {
			continue
		}
		c.records -= len(e.records)
		delete(c.negs, k)
	}
	c.negs[key] = cachedNeg{records: records, expires: now.Add(c.ttl)}
	c.records += len(records)
}
