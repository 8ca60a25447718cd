package relay_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func TestEventRejections(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.MaxEventTags = 5
		c.MaxContentLength = 100
		c.MaxTagValueBytes = 50
		c.MaxMessageLength = 2000
		c.MaxFuture = time.Minute
		c.MaxPast = time.Hour
	})
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	now := nostr.Now()
	manyTags := nostr.Tags{}
	for i := range 6 {
		manyTags = append(manyTags, nostr.Tag{"t", fmt.Sprint(i)})
	}
	bigTags := nostr.Tags{}
	for range 5 {
		bigTags = append(bigTags, nostr.Tag{"t", strings.Repeat("x", 49), strings.Repeat("y", 49), strings.Repeat("z", 49), strings.Repeat("w", 49), strings.Repeat("v", 49), strings.Repeat("u", 49), strings.Repeat("s", 49), strings.Repeat("q", 49)})
	}
	tests := []struct {
		name   string
		evt    func() *nostr.Event
		prefix string
		says   string
	}{
		{"bad id", func() *nostr.Event {
			e := signed(t, sk, 1, now, nil, "x")
			e.ID = strings.Repeat("0", 64)
			return e
		}, "invalid:", "id"},
		{"bad signature", func() *nostr.Event {
			e := signed(t, sk, 1, now, nil, "x")
			other := signed(t, sk, 1, now, nil, "y")
			e.Sig = other.Sig
			return e
		}, "invalid:", "signature"},
		{"signature not hex", func() *nostr.Event {
			e := signed(t, sk, 1, now, nil, "z")
			e.Sig = "zz" + e.Sig[2:]
			return e
		}, "invalid:", "malformed key or signature: signature"},
		{"future", func() *nostr.Event { return signed(t, sk, 1, now+3600, nil, "") }, "invalid:", "future"},
		{"past", func() *nostr.Event { return signed(t, sk, 1, now-7200, nil, "") }, "invalid:", "past"},
		{"too many tags", func() *nostr.Event { return signed(t, sk, 1, now, manyTags, "") }, "invalid:", "6 tags"},
		{"content too long", func() *nostr.Event { return signed(t, sk, 1, now, nil, strings.Repeat("a", 101)) }, "invalid:", "content"},
		{"tag value too long", func() *nostr.Event { return signed(t, sk, 1, now, nostr.Tags{{"t", strings.Repeat("a", 51)}}, "") }, "invalid:", "tag value"},
		{"message too large", func() *nostr.Event { return signed(t, sk, 1, now, bigTags, "") }, "invalid:", "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := publish(t, rl, tc.evt())
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, "msg: "+tc.prefix) || !strings.Contains(msg, tc.says) {
				t.Fatalf("reason %q, want prefix %q mentioning %q", msg, tc.prefix, tc.says)
			}
		})
	}
	// Every refusal is counted by reason, khatru's own ones included.
	metrics := getBody(t, srv.HTTP+"/metrics")
	for reason, n := range map[string]int{"bad_id": 1, "bad_signature": 2, "created_at": 2, "too_large": 4} {
		want := fmt.Sprintf(`sovmesh_events_rejected_total{reason=%q} %d`, reason, n)
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Nothing refused was stored.
	if n, _, err := rl.Count(t.Context(), nostr.Filters{{Kinds: []int{1}}}); err != nil || n != 0 {
		t.Fatalf("%d refused events stored (%v)", n, err)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilterAndSubscriptionLimits(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.MaxFilters = 2
		c.MaxSubscriptions = 3
		c.MaxSubIDLength = 64
	})
	t.Run("too many filters", func(t *testing.T) {
		rl := connect(t, srv.URL)
		reason := closedReason(t, rl, nostr.Filters{{Kinds: []int{1}}, {Kinds: []int{2}}, {Kinds: []int{3}}})
		if !strings.HasPrefix(reason, "invalid:") || !strings.Contains(reason, "filters") {
			t.Fatalf("reason %q", reason)
		}
		// Two filters are fine.
		sub, err := rl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{1}}, {Kinds: []int{2}}})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.EndOfStoredEvents:
		case r := <-sub.ClosedReason:
			t.Fatalf("two filters closed: %s", r)
		case <-time.After(5 * time.Second):
			t.Fatal("no EOSE")
		}
	})
	t.Run("too many subscriptions", func(t *testing.T) {
		rl := connect(t, srv.URL)
		var subs []*nostr.Subscription
		for range 3 {
			sub, err := rl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{1}}})
			if err != nil {
				t.Fatal(err)
			}
			<-sub.EndOfStoredEvents
			subs = append(subs, sub)
		}
		reason := closedReason(t, rl, nostr.Filters{{Kinds: []int{1}}})
		if !strings.HasPrefix(reason, "blocked:") || !strings.Contains(reason, "subscriptions") {
			t.Fatalf("reason %q", reason)
		}
		// Closing one makes room again.
		subs[0].Unsub()
		waitFor(t, 5*time.Second, "a free subscription slot", func() bool {
			sub, err := rl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{1}}})
			if err != nil {
				return false
			}
			select {
			case <-sub.EndOfStoredEvents:
				return true
			case <-sub.ClosedReason:
				return false
			case <-time.After(2 * time.Second):
				return false
			}
		})
	})
	t.Run("unknown multi-letter tag filter", func(t *testing.T) {
		rl := connect(t, srv.URL)
		reason := closedReason(t, rl, nostr.Filters{{Tags: nostr.TagMap{"title": {"x"}}}})
		if !strings.HasPrefix(reason, "invalid:") {
			t.Fatalf("reason %q", reason)
		}
	})
}

func TestRateLimits(t *testing.T) {
	t.Run("per ip", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.IPEventRate, c.IPEventBurst = 0.01, 3 })
		rl := connect(t, srv.URL)
		var got error
		for i := range 10 {
			if err := publish(t, rl, signed(t, nostr.GeneratePrivateKey(), 1, nostr.Now(), nil, fmt.Sprint(i))); err != nil {
				got = err
				break
			}
		}
		if got == nil || !strings.Contains(got.Error(), "msg: rate-limited:") {
			t.Fatalf("after the burst: %v, want rate-limited", got)
		}
	})
	t.Run("per pubkey", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.PubkeyEventRate, c.PubkeyBurst = 0.01, 2 })
		rl := connect(t, srv.URL)
		sk := nostr.GeneratePrivateKey()
		mustPublish(t, rl, signed(t, sk, 1, nostr.Now(), nil, "1"), signed(t, sk, 1, nostr.Now(), nil, "2"))
		wantRejected(t, rl, signed(t, sk, 1, nostr.Now(), nil, "3"), "rate-limited:")
		// Another key is not affected.
		mustPublish(t, rl, signed(t, nostr.GeneratePrivateKey(), 1, nostr.Now(), nil, "4"))
	})
	t.Run("req per ip", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.IPReqRate, c.IPReqBurst = 0.01, 2 })
		rl := connect(t, srv.URL)
		query(t, rl, nostr.Filter{Kinds: []int{1}})
		query(t, rl, nostr.Filter{Kinds: []int{1}})
		reason := closedReason(t, rl, nostr.Filters{{Kinds: []int{1}}})
		if !strings.HasPrefix(reason, "rate-limited:") {
			t.Fatalf("reason %q", reason)
		}
	})
}

func TestNegentropySyncBetweenRelays(t *testing.T) {
	a := relaytest.New(t, nil)
	b := relaytest.New(t, nil)
	ca, cb := connect(t, a.URL), connect(t, b.URL)
	sk := nostr.GeneratePrivateKey()
	var all []string
	for i := range 120 {
		evt := signed(t, sk, 1, nostr.Now()-nostr.Timestamp(i), nil, fmt.Sprint(i))
		all = append(all, evt.ID)
		switch i % 3 {
		case 0:
			mustPublish(t, ca, evt)
		case 1:
			mustPublish(t, cb, evt)
		default:
			mustPublish(t, ca, evt)
			mustPublish(t, cb, evt)
		}
	}
	if err := a.Sync(t.Context(), b.URL, nostr.Filter{Kinds: []int{1}}, relay.SyncBoth); err != nil {
		t.Fatalf("sync: %v", err)
	}
	for name, rl := range map[string]*nostr.Relay{"a": ca, "b": cb} {
		waitFor(t, 10*time.Second, "relay "+name+" to hold every event", func() bool {
			n, _, err := rl.Count(t.Context(), nostr.Filters{{Kinds: []int{1}}})
			return err == nil && n == int64(len(all))
		})
	}
}
