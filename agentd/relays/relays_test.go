package relays

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
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

// blackhole accepts TCP connections and never answers on them. Each
// accepted connection is sent on the returned channel.
func blackhole(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			select {
			case accepted <- c:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return "ws://" + ln.Addr().String(), accepted
}

// refused returns the URL of a port nothing listens on.
func refused(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "ws://" + addr
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func signed(t *testing.T, content string) nostr.Event {
	t.Helper()
	ev := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: content, Tags: nostr.Tags{}}
	if err := ev.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	return ev
}

// A relay that accepts TCP but never answers, and one whose port is
// closed, are listed before a healthy relay: Publish returns once the
// healthy relay has stored the event, while the dial to the silent relay
// (given an hour) is still in flight. The pool's sequential publish waited
// for each relay in turn, 10 s for the silent one.
func TestPublishDoesNotWaitForDeadRelays(t *testing.T) {
	hole, accepted := blackhole(t)
	healthy := relaytest.Start(t)
	p, err := New([]string{hole, refused(t), healthy}, nil, WithTimeouts(time.Hour, time.Hour, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ev := signed(t, fmt.Sprint("publish ", i))
		published := make(chan error, 1)
		go func() { published <- p.Publish(t.Context(), ev) }()
		select {
		case err := <-published:
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("publish %d waits for the silent relay", i)
		}
		p.mu.Lock()
		inFlight := p.conns[hole].dialing != nil
		p.mu.Unlock()
		if !inFlight {
			t.Fatalf("publish %d: the dial to the silent relay ended before Publish returned", i)
		}
		rl, err := nostr.RelayConnect(t.Context(), healthy)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rl.QuerySync(t.Context(), nostr.Filter{IDs: []string{ev.ID}})
		rl.Close()
		if err != nil || len(got) != 1 {
			t.Fatalf("publish %d: healthy relay holds %d, %v", i, len(got), err)
		}
	}
	// One dial to the silent relay, shared by every publish.
	<-accepted
	select {
	case <-accepted:
		t.Fatal("the silent relay was dialled again while its first dial was in flight")
	default:
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close does not end the dial in flight")
	}
}

// A relay whose dial failed is not dialled again until its backoff (read
// from the pool's clock) has passed; a dropped connection is redialled.
func TestDeadRelayBacksOffAndReconnects(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	hole, accepted := blackhole(t)
	down := refused(t)
	healthy := relaytest.Start(t)
	p, err := New([]string{hole, down, healthy}, nil, WithClock(clock.Now), WithTimeouts(50*time.Millisecond, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tc := range []struct {
		name     string
		advance  time.Duration
		wantDown bool // the dead relays answer ErrRelayDown: not dialled
	}{
		{"first dial", 0, false},
		{"within the backoff", minBackoff / 2, true},
		{"after the backoff", minBackoff, false},
		{"within the doubled backoff", minBackoff + minBackoff/2, true},
		{"after the doubled backoff", minBackoff, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.Add(tc.advance)
			for _, u := range []string{hole, down} {
				_, err := p.relay(t.Context(), u)
				if err == nil || errors.Is(err, ErrRelayDown) != tc.wantDown {
					t.Fatalf("%s: %v, want down=%v", u, err, tc.wantDown)
				}
			}
			if !tc.wantDown {
				<-accepted // the silent relay was dialled
			}
			if err := p.Publish(t.Context(), signed(t, tc.name)); err != nil {
				t.Fatal(err)
			}
		})
	}
	select {
	case <-accepted:
		t.Fatal("a dial within the backoff")
	default:
	}
	// The healthy relay's connection drops: the next publish redials.
	p.mu.Lock()
	r := p.conns[healthy].r
	p.mu.Unlock()
	r.Close()
	if err := p.Publish(t.Context(), signed(t, "after the drop")); err != nil {
		t.Fatalf("publish after the connection dropped: %v", err)
	}
}

// WithClock sets the clock the reconnect backoff reads (tests).
func WithClock(now func() time.Time) Option { return func(p *Pool) { p.now = now } }

// WithTimeouts sets how long a dial, and a publish or query at one relay,
// may take. A zero value keeps the default.
func WithTimeouts(dial, publish, query time.Duration) Option {
	return func(p *Pool) {
		if dial > 0 {
			p.dialTimeout = dial
		}
		if publish > 0 {
			p.publishTimeout = publish
		}
		if query > 0 {
			p.queryTimeout = query
		}
	}
}
