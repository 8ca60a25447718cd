package relay

import (
	"context"
	"net/http"
	"time"

	"github.com/fiatjaf/khatru"
)

// Pacing clients over a rate limit. Refused at once, a client that waits for
// each answer (every flood of issue 11 did) goes through its refusals as fast
// as the relay answers them: in the load tool, each attack spent its rounds in
// the first 0.5-1 s of its slice, and honest REQs sent then waited behind that
// burst. So a message refused "rate-limited:" also pauses its connection (khatru
// patch 0010): the connection's next message is read only once the limit that
// refused it would admit one more, at most Config.RateLimitedPause later. An
// upgrade refused over the connection rate or the per-IP cap is answered only
// after the same wait, for at most maxHeldRefusals upgrades at once (beyond,
// at once): a dial loop then dials at the rate, not as fast as it can.
// Clients within their limits never wait.

// maxHeldRefusals bounds the refused upgrades held for their pause at once,
// relay-wide: each holds a descriptor and a goroutine until it is answered.
const maxHeldRefusals = 256

// untilToken is how long key's bucket needs to hold one token again (0: it
// holds one, or has no bucket).
func (l *limiter) untilToken(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	tokens, per := b.lim.TokensAt(now), float64(b.lim.Limit())
	if tokens >= 1 || per <= 0 {
		return 0
	}
	return time.Duration((1 - tokens) / per * float64(time.Second))
}

// pace pauses the connection behind ctx for wait, at most
// Config.RateLimitedPause (a message it refused over l's limit for key).
func (r *Relay) pace(ctx context.Context, l *limiter, key string) {
	ws := khatru.GetConnection(ctx)
	if ws == nil || r.cfg.RateLimitedPause <= 0 {
		return
	}
	if d := min(l.untilToken(key, r.now()), r.cfg.RateLimitedPause); d > 0 {
		r.metrics.paced.WithLabelValues("message").Inc()
		ws.PauseReading(d)
	}
}

// holdRefusal waits before an upgrade from key is refused over l's limit
// (nil l: the per-IP cap, which frees when a connection closes: the whole
// pause), unless maxHeldRefusals are already held or the client leaves.
func (r *Relay) holdRefusal(req *http.Request, l *limiter, key string) {
	if r.cfg.RateLimitedPause <= 0 {
		return
	}
	d := r.cfg.RateLimitedPause
	if l != nil {
		d = min(l.untilToken(key, r.now()), d)
	}
	if d <= 0 {
		return
	}
	select {
	case r.heldRefusals <- struct{}{}:
	default:
		return
	}
	defer func() { <-r.heldRefusals }()
	r.metrics.paced.WithLabelValues("upgrade").Inc()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
	case <-r.stopHolding:
	}
}
