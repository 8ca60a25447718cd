package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/bench/attack"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

const slowDropped = `sovmesh_connections_dropped_total{reason="slow_consumer"}`

// stuckSubscriber subscribes to kind on a connection with a small receive
// buffer and then never reads.
func stuckSubscriber(t *testing.T, srv *relaytest.Server, kind int) *rawClient {
	t.Helper()
	c := dialFrames(t, srv, 4096)
	c.send(fmt.Sprintf(`["REQ","stuck",{"kinds":[%d],"limit":1}]`, kind))
	c.waitFor(`"EOSE"`)
	return c
}

// A subscriber that stops reading must not delay the OKs of publishers it
// matches; it is disconnected and counted instead.
func TestSlowSubscriberDoesNotStallPublishers(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.MaxMessageLength = 128 << 10
		c.SendQueueMessages = 16
		c.SendQueueBytes = 256 << 10
		c.WriteTimeout = 30 * time.Second // the queue limit must do it
	})
	const kind = 20001 // ephemeral: delivered, not stored, so publishing is fast
	stuckSubscriber(t, srv, kind)
	pub := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	content := strings.Repeat("x", 100<<10)
	// 100 KiB each: 200 of them are 20 MiB, more than any socket buffers hold.
	published, after := 0, 0
	for i := 0; i < 200 && after < 10; i++ {
		evt := signed(t, sk, kind, nostr.Now(), nil, content)
		if err := publish(t, pub, evt); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		published++
		if after > 0 || (i%8 == 7 && metric(t, srv.HTTP, slowDropped) >= 1) {
			after++ // publish a few more once the subscriber is gone
		}
	}
	if got := metric(t, srv.HTTP, slowDropped); got != 1 {
		t.Fatalf("%d publishes; %s = %v, want 1", published, slowDropped, got)
	}
	t.Logf("subscriber dropped within %d publishes", published-after+1)
}

// A write that cannot finish within the write timeout drops the client too.
func TestStuckWriteTimesOut(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.SendQueueMessages = 100000
		c.SendQueueBytes = 64 << 20
		c.WriteTimeout = 300 * time.Millisecond
	})
	const kind = 20002
	c := stuckSubscriber(t, srv, kind)
	pub := connect(t, srv.URL)
	sk := nostr.GeneratePrivateKey()
	content := strings.Repeat("y", 100<<10)
	for i := 0; i < 200 && (i%8 != 7 || metric(t, srv.HTTP, slowDropped) < 1); i++ {
		if err := publish(t, pub, signed(t, sk, kind, nostr.Now(), nil, content)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if got := metric(t, srv.HTTP, slowDropped); got != 1 {
		t.Fatalf("%s = %v, want 1", slowDropped, got)
	}
	c.waitClosed(5 * time.Second)
}

// A message sent in fragments, kept alive by pongs nobody asked for, is
// cut off once it has taken longer than MessageTimeout. The drop is counted,
// not logged at Info: a client can make one a connection, hundreds a minute.
func TestSlowMessageIsCutOff(t *testing.T) {
	var logs syncbuf.Buffer
	srv := relaytest.New(t, func(c *relay.Config) { c.MessageTimeout = 300 * time.Millisecond },
		relay.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	c := dialFrames(t, srv, 0)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, err := c.Read(time.Now().Add(10 * time.Second)); err != nil {
				return
			}
		}
	}()
	if err := c.WriteFrame(false, attack.OpText, []byte(`["REQ","slow",{`)); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i == 100 { // 5 s, far past the limit
			t.Fatal("relay still assembling the message after 5 s")
		}
		select {
		case <-closed:
			if got := metric(t, srv.HTTP, `sovmesh_connections_dropped_total{reason="message_timeout"}`); got != 1 {
				t.Fatalf("message_timeout drops = %v, want 1", got)
			}
			if l := logs.String(); strings.Contains(l, "connection dropped") {
				t.Fatalf("the drop was logged at Info or above:\n%s", l)
			}
			return
		case <-tick.C:
		}
		// a pong and one more byte of the message; write errors mean
		// the relay has closed, which the reader reports
		_ = c.WriteFrame(true, attack.OpPong, []byte("unsolicited"))
		_ = c.WriteFrame(false, attack.OpContinuation, []byte(" "))
	}
}

// Idle subscriptions on other kinds are not checked against a published
// event.
func TestBroadcastSkipsFiltersThatCannotMatch(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.MaxSubscriptions = 1000
		c.MaxFilters = 100
	})
	c := dialFrames(t, srv, 0)
	const reqs, filters = 50, 100 // 5 000 filters
	for i := range reqs {
		var f []string
		for j := range filters {
			f = append(f, fmt.Sprintf(`{"kinds":[%d],"limit":1}`, 1000+i*filters+j))
		}
		c.send(fmt.Sprintf(`["REQ","idle%d",%s]`, i, strings.Join(f, ",")))
	}
	c.send(`["REQ","live",{"kinds":[1],"limit":1}]`)
	c.waitFor(`["EOSE","live"]`)

	before := metric(t, srv.HTTP, "sovmesh_broadcast_filters_checked_total")
	if before < 0 {
		t.Fatal("no sovmesh_broadcast_filters_checked_total metric")
	}
	pub := connect(t, srv.URL)
	mustPublish(t, pub, signed(t, nostr.GeneratePrivateKey(), 1, nostr.Now(), nil, "hello"))
	c.waitFor(`["EVENT","live"`)
	checked := metric(t, srv.HTTP, "sovmesh_broadcast_filters_checked_total") - before
	if checked < 1 || checked > 10 {
		t.Fatalf("a broadcast checked %v filters; want the one that can match, not the 5 000 idle ones", checked)
	}
}

// Shutdown ends within its grace period though a client never reads and
// the relay's writes to it are stuck.
func TestShutdownWithStuckClient(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) {
		c.SendQueueMessages = 100000
		c.SendQueueBytes = 64 << 20
		c.MaxMessageLength = 128 << 10
		c.WriteTimeout = time.Minute // the write stays stuck until Shutdown
		c.ShutdownGrace = time.Second
	})
	const kind = 20003
	stuckSubscriber(t, srv, kind)
	pub := dialFrames(t, srv, 0)
	sk := nostr.GeneratePrivateKey()
	content := strings.Repeat("z", 100<<10)
	const n = 100 // 10 MiB
	for range n {
		evt := signed(t, sk, kind, nostr.Now(), nil, content)
		pub.send(`["EVENT",` + evt.String() + `]`)
	}
	// The OKs show the events were handed to the subscriber's queue; on a
	// relay that writes in the publisher's goroutine they never come, and
	// the shutdown below is what the test is about, so do not fail here.
	deadline := time.Now().Add(5 * time.Second)
	for oks := 0; oks < n; {
		f, err := pub.Read(deadline)
		if err != nil {
			t.Logf("%d of %d OKs before shutdown: %v", oks, n, err)
			break
		}
		if bytes.HasPrefix(f.Payload, []byte(`["OK"`)) {
			oks++
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(srv.Config.ShutdownGrace + 2*time.Second):
		t.Fatalf("shutdown still running %v after it started (grace %v)", srv.Config.ShutdownGrace+2*time.Second, srv.Config.ShutdownGrace)
	}
}
