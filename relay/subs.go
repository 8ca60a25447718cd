package relay

import (
	"context"
	"fmt"
	"sync"

	"github.com/fiatjaf/eventstore"
	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"
)

// subTracker enforces max_subscriptions and max_filters. khatru hands every
// filter of one REQ to the filter policies with the same request context, so
// a REQ is recognised by its context: the first filter opens it, later ones
// count against max_filters, and the context's cancellation (CLOSE, a
// rejected REQ, or a disconnect) closes it.
type subTracker struct {
	mu    sync.Mutex
	reqs  map[context.Context]*reqState
	conns map[*khatru.WebSocket]map[string]int // subscription id -> open REQ contexts using it
	total int
	gauge func(int)
}

type reqState struct {
	filters int
}

func newSubTracker(gauge func(int)) *subTracker {
	return &subTracker{
		reqs:  make(map[context.Context]*reqState),
		conns: make(map[*khatru.WebSocket]map[string]int),
		gauge: gauge,
	}
}

// admit is called for each filter of a REQ. It returns a CLOSED reason, or ""
// when the filter may run. first says whether this filter opened a new REQ.
func (s *subTracker) admit(ctx context.Context, ws *khatru.WebSocket, subID string, maxSubs, maxFilters int) (reason string, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.reqs[ctx]
	if ok {
		st.filters++
		if st.filters > maxFilters {
			return fmt.Sprintf("invalid: too many filters in one REQ; the limit is %d", maxFilters), false
		}
		return "", false
	}
	subs := s.conns[ws]
	if subs == nil {
		subs = make(map[string]int)
		s.conns[ws] = subs
	}
	if subs[subID] == 0 && len(subs) >= maxSubs {
		return fmt.Sprintf("blocked: too many open subscriptions on this connection; the limit is %d, CLOSE one first", maxSubs), true
	}
	if subs[subID] == 0 {
		s.total++
		s.gauge(s.total)
	}
	subs[subID]++
	s.reqs[ctx] = &reqState{filters: 1}
	context.AfterFunc(ctx, func() { s.release(ctx, ws, subID) })
	return "", true
}

func (s *subTracker) release(ctx context.Context, ws *khatru.WebSocket, subID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reqs, ctx)
	subs := s.conns[ws]
	if subs == nil {
		return
	}
	subs[subID]--
	if subs[subID] <= 0 {
		delete(subs, subID)
		s.total--
		s.gauge(s.total)
	}
	if len(subs) == 0 {
		delete(s.conns, ws)
	}
}

// overwriteFilter caps the limit a client asks for and gives a default to a
// filter without one. Negentropy reconciliation and internal calls need every
// matching event, so they are left alone.
func (r *Relay) overwriteFilter(ctx context.Context, f *nostr.Filter) {
	if eventstore.IsNegentropySession(ctx) || khatru.GetConnection(ctx) == nil {
		return
	}
	switch {
	case f.Limit > r.cfg.MaxLimit:
		f.Limit = r.cfg.MaxLimit
	case f.Limit <= 0 && !f.LimitZero:
		f.Limit = r.cfg.DefaultLimit
	}
}

// rejectFilter runs for every filter of a REQ (and of a NEG-OPEN), whatever
// its limit (a "limit":0 filter opens a subscription like any other).
func (r *Relay) rejectFilter(ctx context.Context, f nostr.Filter) (bool, string) {
	ws := khatru.GetConnection(ctx)
	if ws == nil {
		return false, ""
	}
	if r.cfg.Auth == AuthAll && ws.AuthedPublicKey == "" {
		return true, "auth-required: this relay serves only authenticated clients (NIP-42)"
	}
	if msg := checkFilterShape(f); msg != "" {
		return true, msg
	}
	if !r.readsLeft(ctx) {
		r.pace(ctx, r.ipReads, r.connIP(ctx))
		return true, refusedReads
	}
	if eventstore.IsNegentropySession(ctx) {
		ip := r.connIP(ctx)
		if ip == "" || r.ipNegs.allow(ip, r.now()) {
			return false, ""
		}
		r.pace(ctx, r.ipNegs, ip)
		return true, "rate-limited: too many negentropy syncs from your address; slow down"
	}
	subID := khatru.GetSubscriptionID(ctx)
	if len(subID) > r.cfg.MaxSubIDLength {
		return true, fmt.Sprintf("invalid: subscription id is %d characters; the limit is %d", len(subID), r.cfg.MaxSubIDLength)
	}
	reason, first := r.subs.admit(ctx, ws, subID, r.cfg.MaxSubscriptions, r.cfg.MaxFilters)
	if reason != "" {
		return true, reason
	}
	if first && !r.allowReq(ctx) {
		r.pace(ctx, r.ipReqs, r.connIP(ctx))
		return true, "rate-limited: too many requests from your address; slow down"
	}
	return false, ""
}

// rejectCountFilter applies the same rules to NIP-45 COUNT, which opens no
// subscription; each filter of a COUNT takes a token of the REQ rate limit.
func (r *Relay) rejectCountFilter(ctx context.Context, f nostr.Filter) (bool, string) {
	ws := khatru.GetConnection(ctx)
	if ws == nil {
		return false, ""
	}
	if r.cfg.Auth == AuthAll && ws.AuthedPublicKey == "" {
		return true, "auth-required: this relay serves only authenticated clients (NIP-42)"
	}
	if msg := checkFilterShape(f); msg != "" {
		return true, msg
	}
	if !r.readsLeft(ctx) {
		r.pace(ctx, r.ipReads, r.connIP(ctx))
		return true, refusedReads
	}
	if r.allowReq(ctx) {
		return false, ""
	}
	r.pace(ctx, r.ipReqs, r.connIP(ctx))
	return true, "rate-limited: too many requests from your address; slow down"
}

func (r *Relay) allowReq(ctx context.Context) bool {
	ip := r.connIP(ctx)
	return ip == "" || r.ipReqs.allow(ip, r.now())
}

const refusedReads = "rate-limited: your address made the relay read too many stored events; slow down"

// readsLeft reports whether the client behind ctx has read budget left
// (Config.IPReadRate); internal calls always have.
func (r *Relay) readsLeft(ctx context.Context) bool {
	ip := r.connIP(ctx)
	return ip == "" || r.ipReads.ready(ip, r.now())
}

// chargeReads charges n stored events read to the client behind ctx.
func (r *Relay) chargeReads(ctx context.Context, n int) {
	if ip := r.connIP(ctx); ip != "" {
		r.ipReads.charge(ip, r.now(), n)
	}
}

// checkFilterShape refuses filters the store cannot answer exactly: tag
// filters are defined by NIP-01 for single-letter tag names only.
func checkFilterShape(f nostr.Filter) string {
	for name := range f.Tags {
		if len(name) != 1 {
			return fmt.Sprintf("invalid: tag filter %q: only single-letter tags are indexed (#a to #z, #A to #Z)", "#"+name)
		}
	}
	if f.Search != "" {
		return "invalid: this relay does not support NIP-50 search"
	}
	return ""
}
