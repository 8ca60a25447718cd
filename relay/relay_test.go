package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func TestPublishQueryAndLiveSubscription(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	now := nostr.Now()

	first := signed(t, sk, 1, now-10, nostr.Tags{{"t", "hello"}}, "first")
	mustPublish(t, rl, first)
	if got := ids(query(t, rl, nostr.Filter{IDs: []string{first.ID}})); !slices.Equal(got, []string{first.ID}) {
		t.Fatalf("query by id: %v", got)
	}
	// Publishing the same event again is acknowledged (duplicate).
	mustPublish(t, rl, first)

	sub, err := rl.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{1}, Tags: nostr.TagMap{"t": {"hello"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsub()
	select {
	case evt := <-sub.Events:
		if evt.ID != first.ID {
			t.Fatalf("stored event %s, want %s", evt.ID, first.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stored event not delivered")
	}
	select {
	case <-sub.EndOfStoredEvents:
	case <-time.After(5 * time.Second):
		t.Fatal("no EOSE")
	}
	second := signed(t, sk, 1, now, nostr.Tags{{"t", "hello"}}, "second")
	other := signed(t, sk, 1, now, nostr.Tags{{"t", "other"}}, "not for this subscription")
	mustPublish(t, connect(t, srv.URL), other, second)
	select {
	case evt := <-sub.Events:
		if evt.ID != second.ID {
			t.Fatalf("live event %s (%q), want %s", evt.ID, evt.Content, second.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("live event not delivered")
	}
}

func TestFilterFields(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	keys := []string{nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()}
	base := nostr.Now() - 1000
	var all []*nostr.Event
	for i := range 60 {
		sk := keys[i%3]
		tags := nostr.Tags{{"t", fmt.Sprintf("tag%d", i%12)}, {"e", strings.Repeat(fmt.Sprintf("%x", i%4), 64)}}
		if i%5 == 0 {
			tags = append(tags, nostr.Tag{"g", "u0"}, nostr.Tag{"R", "upper"})
		}
		// Several events share a created_at so id tie-breaks are exercised.
		evt := signed(t, sk, []int{1, 7, 1111}[i%3], base+nostr.Timestamp(i/3), tags, fmt.Sprint(i))
		all = append(all, evt)
	}
	mustPublish(t, rl, all...)
	pk := func(i int) string { p, _ := nostr.GetPublicKey(keys[i]); return p }
	ts := func(d int) *nostr.Timestamp { v := base + nostr.Timestamp(d); return &v }

	tests := []struct {
		name string
		f    nostr.Filter
	}{
		{"ids", nostr.Filter{IDs: []string{all[3].ID, all[17].ID, all[59].ID}}},
		{"authors", nostr.Filter{Authors: []string{pk(0), pk(2)}}},
		{"kinds", nostr.Filter{Kinds: []int{7, 1111}}},
		{"single tag", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}}},
		{"tag values OR", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1", "tag11"}}}},
		{"two tags AND", nostr.Filter{Tags: nostr.TagMap{"t": {"tag0"}, "g": {"u0"}}}},
		{"uppercase tag", nostr.Filter{Tags: nostr.TagMap{"R": {"upper"}}}},
		{"e tag", nostr.Filter{Tags: nostr.TagMap{"e": {strings.Repeat("2", 64)}}}},
		{"since", nostr.Filter{Since: ts(15)}},
		{"until", nostr.Filter{Until: ts(4)}},
		{"since and until inclusive", nostr.Filter{Since: ts(5), Until: ts(7)}},
		{"limit with ties", nostr.Filter{Limit: 7}},
		{"authors kinds limit", nostr.Filter{Authors: []string{pk(1)}, Kinds: []int{7}, Limit: 4}},
		{"everything", nostr.Filter{Kinds: []int{1, 7, 1111}, Authors: []string{pk(0), pk(1), pk(2)}, Tags: nostr.TagMap{"t": {"tag0", "tag3", "tag6", "tag9"}}, Since: ts(0), Until: ts(19), Limit: 3}},
		{"no match", nostr.Filter{Kinds: []int{30000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// go-nostr's client may deliver a subscription's events out of
			// order, so the set is compared here; the store suite checks order.
			got := ids(query(t, rl, tc.f))
			want := expected(all, tc.f)
			if tc.f.Limit == 0 && len(want) > srv.Config.DefaultLimit {
				want = want[:srv.Config.DefaultLimit]
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("filter %v\n got  %v\n want %v", tc.f, got, want)
			}
		})
	}
}

func TestTagExactnessWithLimit(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	now := nostr.Now()
	var want []*nostr.Event
	// Newer events tagged tag10..tag19 would crowd out tag1 in a substring match.
	for i := range 10 {
		mustPublish(t, rl, signed(t, sk, 1, now-nostr.Timestamp(i), nostr.Tags{{"t", fmt.Sprintf("tag1%d", i)}}, ""))
	}
	for i := range 5 {
		evt := signed(t, sk, 1, now-100-nostr.Timestamp(i), nostr.Tags{{"t", "tag1"}}, "")
		mustPublish(t, rl, evt)
		want = append(want, evt)
	}
	got := ids(query(t, rl, nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}, Limit: 5}))
	slices.Sort(got)
	wantIDs := ids(want)
	slices.Sort(wantIDs)
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("#t tag1 limit 5 returned %d events %v, want exactly the 5 tagged tag1", len(got), got)
	}
	// A value in another tag letter does not match either.
	if got := query(t, rl, nostr.Filter{Tags: nostr.TagMap{"p": {"tag1"}}}); len(got) != 0 {
		t.Fatalf("#p tag1 matched %d events", len(got))
	}
}

func TestReplaceableAndAddressable(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	now := nostr.Now()

	t.Run("replaceable newest wins", func(t *testing.T) {
		old := signed(t, sk, 0, now-20, nil, `{"name":"old"}`)
		mid := signed(t, sk, 0, now-10, nil, `{"name":"mid"}`)
		mustPublish(t, rl, old, mid)
		older := signed(t, sk, 0, now-30, nil, `{"name":"older"}`)
		_ = publish(t, rl, older) // a stale version: accepted or refused, but never served
		got := query(t, rl, nostr.Filter{Kinds: []int{0}, Authors: []string{pk}})
		if len(got) != 1 || got[0].ID != mid.ID {
			t.Fatalf("got %v, want only %s", ids(got), mid.ID)
		}
	})
	t.Run("equal created_at lowest id wins", func(t *testing.T) {
		a := signed(t, sk, 10002, now, nostr.Tags{{"r", "wss://a"}}, "")
		b := signed(t, sk, 10002, now, nostr.Tags{{"r", "wss://b"}}, "")
		mustPublish(t, rl, a)
		_ = publish(t, rl, b)
		want := min(a.ID, b.ID)
		got := query(t, rl, nostr.Filter{Kinds: []int{10002}, Authors: []string{pk}})
		if len(got) != 1 || got[0].ID != want {
			t.Fatalf("got %v, want only %s", ids(got), want)
		}
	})
	t.Run("addressable keyed by d", func(t *testing.T) {
		x1 := signed(t, sk, 30078, now-5, nostr.Tags{{"d", "x"}}, "x1")
		y1 := signed(t, sk, 30078, now-5, nostr.Tags{{"d", "y"}}, "y1")
		x2 := signed(t, sk, 30078, now, nostr.Tags{{"d", "x"}}, "x2")
		mustPublish(t, rl, x1, y1, x2)
		got := ids(query(t, rl, nostr.Filter{Kinds: []int{30078}, Authors: []string{pk}}))
		want := []string{x2.ID, y1.ID}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func TestDeletion(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	now := nostr.Now()

	t.Run("by e", func(t *testing.T) {
		note := signed(t, sk, 1, now-10, nil, "regret")
		mustPublish(t, rl, note)
		mustPublish(t, rl, signed(t, sk, 5, now, nostr.Tags{{"e", note.ID}}, ""))
		if got := query(t, rl, nostr.Filter{IDs: []string{note.ID}}); len(got) != 0 {
			t.Fatal("deleted event still served")
		}
		wantRejected(t, rl, note, "blocked:")
	})
	t.Run("by a", func(t *testing.T) {
		offer := signed(t, sk, 30402, now-10, nostr.Tags{{"d", "gone"}}, "v1")
		mustPublish(t, rl, offer)
		mustPublish(t, rl, signed(t, sk, 5, now-5, nostr.Tags{{"a", fmt.Sprintf("30402:%s:gone", pk)}}, ""))
		if got := query(t, rl, nostr.Filter{Kinds: []int{30402}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {"gone"}}}); len(got) != 0 {
			t.Fatal("deleted address still served")
		}
		// A version older than the deletion stays deleted; a newer one is new.
		wantRejected(t, rl, signed(t, sk, 30402, now-7, nostr.Tags{{"d", "gone"}}, "v0"), "blocked:")
		again := signed(t, sk, 30402, now, nostr.Tags{{"d", "gone"}}, "v2")
		mustPublish(t, rl, again)
		if got := query(t, rl, nostr.Filter{Kinds: []int{30402}, Authors: []string{pk}}); len(got) != 1 || got[0].ID != again.ID {
			t.Fatalf("got %v, want the newer version", ids(got))
		}
	})
	t.Run("survives a restart", func(t *testing.T) {
		dir := t.TempDir()
		inDir := func(c *relay.Config) { c.DataDir = dir }
		note := signed(t, sk, 1, now-10, nil, "gone for good")
		first := relaytest.New(t, inDir)
		c1 := connect(t, first.URL)
		mustPublish(t, c1, note, signed(t, sk, 5, now, nostr.Tags{{"e", note.ID}}, ""))
		c1.Close()
		if err := first.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		second := relaytest.New(t, inDir)
		wantRejected(t, connect(t, second.URL), note, "blocked:")
	})
	t.Run("not the author", func(t *testing.T) {
		note := signed(t, sk, 1, now-10, nil, "mine")
		mustPublish(t, rl, note)
		wantRejected(t, rl, signed(t, nostr.GeneratePrivateKey(), 5, now, nostr.Tags{{"e", note.ID}}, ""), "blocked:")
		if got := query(t, rl, nostr.Filter{IDs: []string{note.ID}}); len(got) != 1 {
			t.Fatal("someone else's deletion removed the event")
		}
	})
}

func TestExpiration(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	now := nostr.Now()
	wantRejected(t, rl, signed(t, sk, 1, now-10, nostr.Tags{{"expiration", fmt.Sprint(now - 1)}}, ""), "invalid:")
	wantRejected(t, rl, signed(t, sk, 1, now, nostr.Tags{{"expiration", "soon"}}, ""), "invalid:")

	short := signed(t, sk, 1, now, nostr.Tags{{"expiration", fmt.Sprint(now + 2)}}, "brief")
	mustPublish(t, rl, short)
	if got := query(t, rl, nostr.Filter{IDs: []string{short.ID}}); len(got) != 1 {
		t.Fatal("unexpired event not served")
	}
	waitFor(t, 10*time.Second, "the event to expire", func() bool {
		return len(query(t, rl, nostr.Filter{IDs: []string{short.ID}})) == 0
	})
	n, _, err := rl.Count(t.Context(), nostr.Filters{{IDs: []string{short.ID}}})
	if err != nil || n != 0 {
		t.Fatalf("count of expired event: %d %v", n, err)
	}
}

func TestEphemeralDeliveredNotStored(t *testing.T) {
	srv := relaytest.New(t, nil)
	sk := nostr.GeneratePrivateKey()
	listener := connect(t, srv.URL)
	sub, err := listener.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{20001}}})
	if err != nil {
		t.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	evt := signed(t, sk, 20001, nostr.Now(), nil, "now you see me")
	pub := connect(t, srv.URL)
	mustPublish(t, pub, evt)
	select {
	case got := <-sub.Events:
		if got.ID != evt.ID {
			t.Fatalf("got %s", got.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ephemeral event not delivered")
	}
	if got := query(t, pub, nostr.Filter{IDs: []string{evt.ID}}); len(got) != 0 {
		t.Fatal("ephemeral event was stored")
	}
}

func TestCount(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	for i := range 7 {
		mustPublish(t, rl, signed(t, sk, 1, nostr.Now()-nostr.Timestamp(i), nostr.Tags{{"t", fmt.Sprint(i % 2)}}, ""))
	}
	tests := []struct {
		f    nostr.Filter
		want int64
	}{
		{nostr.Filter{Kinds: []int{1}}, 7},
		{nostr.Filter{Tags: nostr.TagMap{"t": {"0"}}}, 4},
		{nostr.Filter{Kinds: []int{2}}, 0},
	}
	for _, tc := range tests {
		n, _, err := rl.Count(t.Context(), nostr.Filters{tc.f})
		if err != nil || n != tc.want {
			t.Fatalf("count %v = %d (%v), want %d", tc.f, n, err, tc.want)
		}
	}
}

func TestAuth(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	t.Run("writes", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.Auth = relay.AuthWrites })
		rl := connect(t, srv.URL)
		evt := signed(t, sk, 1, nostr.Now(), nil, "hi")
		wantRejected(t, rl, evt, "auth-required:")
		// Reads stay open.
		query(t, rl, nostr.Filter{Kinds: []int{1}})
		authenticate(t, rl, sk)
		mustPublish(t, rl, evt)
	})
	t.Run("all", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.Auth = relay.AuthAll })
		rl := connect(t, srv.URL)
		reason := closedReason(t, rl, nostr.Filters{{Kinds: []int{1}}})
		if !strings.HasPrefix(reason, "auth-required:") {
			t.Fatalf("REQ without AUTH closed with %q", reason)
		}
		authenticate(t, rl, sk)
		query(t, rl, nostr.Filter{Kinds: []int{1}})
	})
	t.Run("wrong challenge", func(t *testing.T) {
		srv := relaytest.New(t, func(c *relay.Config) { c.Auth = relay.AuthWrites })
		rl := connect(t, srv.URL)
		evt := signed(t, sk, 22242, nostr.Now(), nostr.Tags{{"relay", srv.URL}, {"challenge", "not-the-one"}}, "")
		raw, _ := json.Marshal([]any{"AUTH", evt})
		if err := <-rl.Write(raw); err != nil {
			t.Fatal(err)
		}
		wantRejected(t, rl, signed(t, sk, 1, nostr.Now(), nil, "x"), "auth-required:")
	})
}

// authenticate waits for the relay's challenge and answers it.
func authenticate(t *testing.T, rl *nostr.Relay, sk string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "an AUTH challenge", func() bool { return rl.Auth(ctx, func(e *nostr.Event) error { return e.Sign(sk) }) == nil })
}

// closedReason opens a subscription and returns the CLOSED reason.
func closedReason(t *testing.T, rl *nostr.Relay, filters nostr.Filters) string {
	t.Helper()
	sub, err := rl.Subscribe(t.Context(), filters)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-sub.ClosedReason:
		return reason
	case <-sub.EndOfStoredEvents:
		t.Fatalf("subscription %v was accepted", filters)
	case <-time.After(5 * time.Second):
		t.Fatal("no CLOSED")
	}
	return ""
}

func TestNIP11(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) { c.Contact = "ops@example.org" })
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.HTTP, nil)
	req.Header.Set("Accept", "application/nostr+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/nostr+json" {
		t.Fatalf("content type %q", ct)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("NIP-11 without CORS header")
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "description", "pubkey", "contact", "supported_nips", "software", "version", "limitation"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("NIP-11 document lacks %q", k)
		}
	}
	if doc["pubkey"] != srv.PublicKey() || len(srv.PublicKey()) != 64 {
		t.Errorf("pubkey %v, relay key %s", doc["pubkey"], srv.PublicKey())
	}
	lim, _ := doc["limitation"].(map[string]any)
	for _, k := range []string{"max_message_length", "max_subscriptions", "max_filters", "max_limit", "max_event_tags",
		"max_content_length", "created_at_lower_limit", "created_at_upper_limit", "auth_required", "payment_required", "restricted_writes"} {
		if _, ok := lim[k]; !ok {
			t.Errorf("limitation lacks %q", k)
		}
	}
	var nips []int
	for _, n := range doc["supported_nips"].([]any) {
		nips = append(nips, int(n.(float64)))
	}
	for _, n := range []int{1, 9, 11, 40, 42, 45, 77} {
		if !slices.Contains(nips, n) {
			t.Errorf("supported_nips %v lacks %d", nips, n)
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	srv := relaytest.New(t, nil)
	rl := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	mustPublish(t, rl, signed(t, sk, 1, nostr.Now(), nil, "counted"))
	wantRejected(t, rl, signed(t, sk, 1, nostr.Now()+3600, nil, "future"), "invalid:")
	query(t, rl, nostr.Filter{Kinds: []int{1}})

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("Connections() = %d, want 1", n)
	}
	if got := srv.RejectedByReason(); got["created_at"] != 1 || len(got) != 1 {
		t.Errorf("RejectedByReason() = %v, want created_at: 1", got)
	}
	for _, want := range []string{
		`sovmesh_events_accepted_total{class="regular"} 1`,
		`sovmesh_events_rejected_total{reason="created_at"} 1`,
		`sovmesh_connections 1`,
		`sovmesh_store_seconds_bucket{op="save"`,
		`sovmesh_store_seconds_count{op="query"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
