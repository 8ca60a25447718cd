package relay_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// signed returns an event signed by sk.
func signed(t *testing.T, sk string, kind int, createdAt nostr.Timestamp, tags nostr.Tags, content string) *nostr.Event {
	t.Helper()
	evt := &nostr.Event{Kind: kind, CreatedAt: createdAt, Tags: tags, Content: content}
	if err := evt.Sign(sk); err != nil {
		t.Fatalf("sign: %v", err)
	}
	return evt
}

// connect opens a go-nostr client connection, closed when the test ends.
func connect(t *testing.T, url string) *nostr.Relay {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	rl, err := nostr.RelayConnect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { rl.Close() })
	return rl
}

func publish(t *testing.T, rl *nostr.Relay, evt *nostr.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return rl.Publish(ctx, *evt)
}

func mustPublish(t *testing.T, rl *nostr.Relay, evts ...*nostr.Event) {
	t.Helper()
	for _, evt := range evts {
		if err := publish(t, rl, evt); err != nil {
			t.Fatalf("publish kind %d: %v", evt.Kind, err)
		}
	}
}

// wantRejected publishes evt and checks the OK false reason starts with prefix.
func wantRejected(t *testing.T, rl *nostr.Relay, evt *nostr.Event, prefix string) {
	t.Helper()
	err := publish(t, rl, evt)
	if err == nil {
		t.Fatalf("event kind %d accepted, want %q", evt.Kind, prefix)
	}
	if !strings.Contains(err.Error(), "msg: "+prefix) {
		t.Fatalf("rejection %q, want prefix %q", err, prefix)
	}
}

func query(t *testing.T, rl *nostr.Relay, f nostr.Filter) []*nostr.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	evts, err := rl.QuerySync(ctx, f)
	if err != nil {
		t.Fatalf("query %v: %v", f, err)
	}
	return evts
}

func ids(evts []*nostr.Event) []string {
	out := make([]string, len(evts))
	for i, e := range evts {
		out[i] = e.ID
	}
	return out
}

// expected is what NIP-01 says a filter returns from evts: matching events,
// newest first, ties by lowest id, cut at limit.
func expected(evts []*nostr.Event, f nostr.Filter) []string {
	var m []*nostr.Event
	for _, e := range evts {
		if f.Matches(e) {
			m = append(m, e)
		}
	}
	slices.SortFunc(m, func(a, b *nostr.Event) int {
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(m) > f.Limit {
		m = m[:f.Limit]
	}
	return ids(m)
}

// waitFor polls cond every 20 ms, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
