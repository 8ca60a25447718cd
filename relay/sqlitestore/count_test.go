package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

func TestCountUnion(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	a, b := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	pa, _ := nostr.GetPublicKey(a)
	// a: three kind 1 (tagged t=x), one kind 7; b: two kind 7.
	for i, e := range []struct {
		sk   string
		kind int
	}{{a, 1}, {a, 1}, {a, 1}, {a, 7}, {b, 7}, {b, 7}} {
		evt := &nostr.Event{Kind: e.kind, CreatedAt: nostr.Now() - nostr.Timestamp(i), Content: fmt.Sprint(i)}
		if e.kind == 1 {
			evt.Tags = nostr.Tags{{"t", "x"}, {"t", "y"}}
		}
		if err := evt.Sign(e.sk); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEvent(t.Context(), evt); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		filters []nostr.Filter
		max     int64
		want    int64
		tooMany bool
	}{
		{"one filter", []nostr.Filter{{Kinds: []int{7}}}, 10, 3, false},
		{"tag values counted once", []nostr.Filter{{Tags: nostr.TagMap{"t": {"x", "y"}}}}, 10, 3, false},
		{"overlap counted once", []nostr.Filter{{Kinds: []int{7}}, {Authors: []string{pa}}}, 10, 6, false},
		{"overlapping tag filters", []nostr.Filter{{Tags: nostr.TagMap{"t": {"x"}}}, {Tags: nostr.TagMap{"t": {"y"}}}}, 10, 3, false},
		{"limit ignored", []nostr.Filter{{Kinds: []int{7}, Limit: 1}}, 10, 3, false},
		{"empty list matches nothing", []nostr.Filter{{Kinds: []int{}}}, 10, 0, false},
		{"at max", []nostr.Filter{{}}, 6, 6, false},
		{"one filter over max", []nostr.Filter{{}}, 5, 0, true},
		{"union over max", []nostr.Filter{{Kinds: []int{1}}, {Kinds: []int{7}}}, 5, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.CountUnion(t.Context(), tc.filters, tc.max)
			if tc.tooMany {
				if !errors.Is(err, ErrTooMany) {
					t.Fatalf("got %d, %v; want ErrTooMany", n, err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("got %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

// TestPingWithReadersBusy: /healthz's probe answers while every reader
// connection is held by a query nobody drains.
func TestPingWithReadersBusy(t *testing.T) {
	s, _ := openTemp(t, WithReaders(1))
	defer s.Close()
	sk := nostr.GeneratePrivateKey()
	for i := range 3 * queryBuffer {
		evt := &nostr.Event{Kind: 1, CreatedAt: nostr.Now() - nostr.Timestamp(i), Content: fmt.Sprint(i)}
		if err := evt.Sign(sk); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEvent(t.Context(), evt); err != nil {
			t.Fatal(err)
		}
	}
	qctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := s.QueryEvents(qctx, nostr.Filter{}) // holds the one reader: its channel is full
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	ctx, cancelPing := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelPing()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping with the reader busy: %v", err)
	}
	cancel()
	for range ch {
	}
}
