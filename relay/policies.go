package relay

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip40"
)

// EventPolicy decides whether an incoming event is refused. It returns "" to
// accept, or a NIP-01 OK message with its machine-readable prefix
// ("invalid: ...", "blocked: ...", "rate-limited: ...", "auth-required: ...",
// "payment-required: ..."). Policies run in order; the first refusal wins.
type EventPolicy func(ctx context.Context, evt *nostr.Event) string

// namedPolicy pairs a policy with the reason label its refusals are counted
// under in sovmesh_events_rejected_total.
type namedPolicy struct {
	reason string
	fn     EventPolicy
}

// eventPolicies are the relay's own checks, in the order they run: cheap
// shape checks first, then authentication, then rate limits.
func (r *Relay) eventPolicies() []namedPolicy {
	return []namedPolicy{
		{"kind", checkKind},
		{"created_at", r.checkCreatedAt},
		{"expired", r.checkNotExpired},
		{"too_large", r.checkSize},
		{"auth", r.checkAuthWrite},
		{"rate_ip", r.checkIPRate},
		{"rate_pubkey", r.checkPubkeyRate},
	}
}

// checkKind refuses kinds outside NIP-01's range, 0 to 65535.
func checkKind(_ context.Context, evt *nostr.Event) string {
	if evt.Kind < 0 || evt.Kind > 65535 {
		return fmt.Sprintf("invalid: kind %d is outside 0-65535 (NIP-01)", evt.Kind)
	}
	return ""
}

func (r *Relay) checkCreatedAt(_ context.Context, evt *nostr.Event) string {
	now := r.now()
	ts := evt.CreatedAt.Time()
	if d := ts.Sub(now); d > r.cfg.MaxFuture {
		return fmt.Sprintf("invalid: created_at is %s in the future; this relay accepts at most %s ahead",
			d.Round(time.Second), r.cfg.MaxFuture)
	}
	if d := now.Sub(ts); d > r.cfg.MaxPast {
		return fmt.Sprintf("invalid: created_at is %s in the past; this relay accepts events up to %s old",
			d.Round(time.Second), r.cfg.MaxPast)
	}
	return ""
}

func (r *Relay) checkNotExpired(_ context.Context, evt *nostr.Event) string {
	tag := evt.Tags.Find("expiration")
	if tag == nil {
		return ""
	}
	if _, err := strconv.ParseInt(tag[1], 10, 64); err != nil {
		return "invalid: expiration tag must be a unix timestamp"
	}
	if exp := nip40.GetExpiration(evt.Tags); exp != -1 && exp.Time().Compare(r.now()) <= 0 {
		return "invalid: event has already expired (NIP-40)"
	}
	return ""
}

// checkSize enforces the tag, content and message limits. The message size is
// the event's JSON size as NIP-01 serializes it, computed without serializing.
func (r *Relay) checkSize(_ context.Context, evt *nostr.Event) string {
	if n := len(evt.Tags); n > r.cfg.MaxEventTags {
		return fmt.Sprintf("invalid: event has %d tags; the limit is %d", n, r.cfg.MaxEventTags)
	}
	if n := len(evt.Content); n > r.cfg.MaxContentLength {
		return fmt.Sprintf("invalid: content is %d bytes; the limit is %d", n, r.cfg.MaxContentLength)
	}
	size := len(`["EVENT",{"id":"","pubkey":"","created_at":,"kind":,"tags":[],"content":"","sig":""}]`) +
		64 + 64 + 128 + 20 + len(evt.Content)
	for _, tag := range evt.Tags {
		size += 3
		for _, v := range tag {
			if len(v) > r.cfg.MaxTagValueBytes {
				return fmt.Sprintf("invalid: a tag value is %d bytes; the limit is %d", len(v), r.cfg.MaxTagValueBytes)
			}
			size += len(v) + 3
		}
	}
	if size > r.cfg.MaxMessageLength {
		return fmt.Sprintf("invalid: event is about %d bytes; the limit is %d", size, r.cfg.MaxMessageLength)
	}
	return ""
}

func (r *Relay) checkAuthWrite(ctx context.Context, _ *nostr.Event) string {
	if r.cfg.Auth == AuthNone || khatru.GetAuthed(ctx) != "" {
		return ""
	}
	if khatru.GetConnection(ctx) == nil {
		return "" // an internal publication (the relay's own events)
	}
	return "auth-required: this relay accepts events only from authenticated clients (NIP-42)"
}

func (r *Relay) checkIPRate(ctx context.Context, _ *nostr.Event) string {
	ip := r.connIP(ctx)
	if ip == "" || r.ipEvents.allow(ip, r.now()) {
		return ""
	}
	r.pace(ctx, r.ipEvents, ip)
	return "rate-limited: too many events from your address; slow down"
}

func (r *Relay) checkPubkeyRate(ctx context.Context, evt *nostr.Event) string {
	if khatru.GetConnection(ctx) == nil || r.pubkeyEvents.allow(evt.PubKey, r.now()) {
		return ""
	}
	r.pace(ctx, r.pubkeyEvents, evt.PubKey)
	return "rate-limited: too many events from this key; slow down (trusted keys get higher limits)"
}
