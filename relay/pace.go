package relay

import (
	"context"
	"time"

	"github.com/fiatjaf/khatru"
)

// Pacing clients over a rate limit. Refused at once, a client that waits for
// each answer (every flood of issue 11 did) goes through its refusals as fast
// as the relay answers them: in the load tool, each attack spent its rounds in
// the first 0.5-1 s of its slice, and honest REQs sent then waited behind that
// burst. So a message refused "rate-limited:" also pauses its connection (khatru
// patch 0010): the connection's next message is read only once the limit that
// refused it would admit one more, at most Config.RateLimitedPause later.
// Clients within their limits never wait. (Refused upgrades are answered at
// once: holding them for the same wait was tried, and in the load tool it let
// the dial loops of conn-flood and xff-spoof open 4-5 times more connections
// within their rounds, with no gain in the honest clients' tail.)

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

// pace pauses the connection behind ctx, whose message was just refused over
// l's limit for key, until that limit admits one more (at most
// Config.RateLimitedPause).
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
