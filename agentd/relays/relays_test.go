package relays

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func TestPublishQuerySubscribe(t *testing.T) {
	ctx := t.Context()
	a, b := relaytest.Start(t), relaytest.Start(t)
	p, err := New([]string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sk := nostr.GeneratePrivateKey()
	pub, _ := nostr.GetPublicKey(sk)
	ev := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "hello", Tags: nostr.Tags{}}
	ev.Sign(sk)
	if err := p.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got, err := p.Query(ctx, nostr.Filter{Authors: []string{pub}})
	if err != nil || len(got) != 1 {
		t.Fatalf("query: %d (deduplicated across relays) %v", len(got), err)
	}
	seen := make(chan string, 10)
	ready := make(chan struct{})
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Subscribe(sctx, nostr.Filters{{Authors: []string{pub}}}, func(e *nostr.Event) { seen <- e.Content }, ready)
	}()
	<-ready
	if c := <-seen; c != "hello" {
		t.Fatalf("stored event %q", c)
	}
	ev2 := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "live", Tags: nostr.Tags{}}
	ev2.Sign(sk)
	p.Publish(ctx, ev2)
	select {
	case c := <-seen:
		if c != "live" {
			t.Fatalf("live event %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("live event not delivered")
	}
	select {
	case c := <-seen:
		t.Fatalf("delivered twice: %q", c)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	<-done
	if _, err := New(nil, nil); !errors.Is(err, ErrNoRelay) {
		t.Fatal("no relays accepted")
	}
	dead, _ := New([]string{"ws://127.0.0.1:1"}, nil)
	if err := dead.Publish(ctx, ev); !errors.Is(err, ErrNoRelay) {
		t.Fatalf("unreachable relay: %v", err)
	}
}
