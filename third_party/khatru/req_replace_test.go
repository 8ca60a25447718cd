package khatru

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
)

// sovmesh patch (REQ replaces): NIP-01 says a REQ whose id is that of an
// open subscription replaces it. khatru kept both: the old filters went on
// delivering under the id, and an event matching both came twice.
func TestReqWithOpenIDReplacesIt(t *testing.T) {
	rl := NewRelay()
	rl.StoreEvent = append(rl.StoreEvent, func(context.Context, *nostr.Event) error { return nil })
	rl.QueryEvents = append(rl.QueryEvents, func(context.Context, nostr.Filter) (chan *nostr.Event, error) {
		ch := make(chan *nostr.Event)
		close(ch)
		return ch, nil
	})
	srv := httptest.NewServer(rl)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial := func() *websocket.Conn {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c *websocket.Conn, msg ...any) {
		t.Helper()
		if err := c.WriteJSON(msg); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the next message other than EOSE, within 10 s.
	next := func(c *websocket.Conn) []json.RawMessage {
		t.Helper()
		for range 100 {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var msg []json.RawMessage
			if err := c.ReadJSON(&msg); err != nil {
				t.Fatal(err)
			}
			if string(msg[0]) != `"EOSE"` {
				return msg
			}
		}
		t.Fatal("only EOSEs")
		return nil
	}
	sub, pub := dial(), dial()
	// khatru handles each message of a connection in its own goroutine,
	// so the second REQ is sent once the first is answered (its EOSE).
	for _, f := range []nostr.Filter{{Kinds: []int{1, 2}}, {Kinds: []int{2}}} {
		send(sub, "REQ", "s", f)
		sub.SetReadDeadline(time.Now().Add(10 * time.Second))
		var msg []json.RawMessage
		if err := sub.ReadJSON(&msg); err != nil {
			t.Fatal(err)
		}
		if string(msg[0]) != `"EOSE"` {
			t.Fatalf("want EOSE, got %s", msg)
		}
	}
	sk := nostr.GeneratePrivateKey()
	var sent []nostr.Event
	for i, kind := range []int{1, 2, 2} {
		ev := nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Content: strings.Repeat("x", i+1), Tags: nostr.Tags{}}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		send(pub, "EVENT", ev)
		if ok := next(pub); string(ok[0]) != `"OK"` || string(ok[2]) != "true" {
			t.Fatalf("publish: %s", ok)
		}
		sent = append(sent, ev)
	}
	// Each event reaches the subscriber's queue before its OK is written,
	// so what the subscriber gets is in publication order: the two kind-2
	// events, each once, and nothing of kind 1.
	for _, want := range sent[1:] {
		msg := next(sub)
		var ev nostr.Event
		if string(msg[0]) != `"EVENT"` || string(msg[1]) != `"s"` || json.Unmarshal(msg[2], &ev) != nil {
			t.Fatalf("got %s, want event %s", msg, want.ID)
		}
		if ev.ID != want.ID {
			t.Fatalf("got kind %d event %q, want kind %d event %q (the replaced subscription still delivers, or twice)", ev.Kind, ev.Content, want.Kind, want.Content)
		}
	}
}
