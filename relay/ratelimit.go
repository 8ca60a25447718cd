package relay

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateFunc gives the sustained rate (per second) and burst for one key. The
// relay's trust policy supplies one for authors, so that trusted keys get more.
type RateFunc func(key string) (perSecond float64, burst int)

// limiter keeps one token bucket per key (an IP or a pubkey). Buckets not
// used for a while are swept so the map stays bounded by active clients.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	rate    RateFunc
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newLimiter(f RateFunc) *limiter {
	return &limiter{buckets: make(map[string]*bucket), rate: f}
}

func fixedRate(perSecond float64, burst int) RateFunc {
	return func(string) (float64, int) { return perSecond, burst }
}

// allow takes one token for key and reports whether it was there.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		r, burst := l.rate(key)
		if r <= 0 {
			return true
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), max(burst, 1))}
		l.buckets[key] = b
	}
	b.lastSeen = now
	return b.lim.AllowN(now, 1)
}

// ready reports whether key's bucket holds a token, taking none: a budget
// charged after the work (see charge) admits the next request only once
// its debt is paid back.
func (l *limiter) ready(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true
	}
	b.lastSeen = now
	return b.lim.TokensAt(now) > 0
}

// charge takes n tokens from key's bucket, into debt when it holds fewer:
// the cost of work already done (rows read) is known only afterwards.
func (l *limiter) charge(key string, now time.Time, n int) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		r, burst := l.rate(key)
		if r <= 0 {
			return
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), max(burst, 1))}
		l.buckets[key] = b
	}
	b.lastSeen = now
	// A reservation of at most the burst always succeeds; never cancelled,
	// it leaves the bucket below zero.
	for burst := b.lim.Burst(); n > 0; n -= burst {
		b.lim.ReserveN(now, min(n, burst))
	}
}

// forget drops the bucket of key, so its rate is looked up again (used when
// a key's trust changes).
func (l *limiter) forget(key string) {
	l.mu.Lock()
	delete(l.buckets, key)
	l.mu.Unlock()
}

// sweep removes buckets idle for longer than idle; a bucket idle that long
// has refilled anyway.
func (l *limiter) sweep(now time.Time, idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) > idle {
			delete(l.buckets, k)
		}
	}
}

// run sweeps every interval until ctx is done.
func (l *limiter) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.sweep(now, 5*time.Minute)
		}
	}
}
