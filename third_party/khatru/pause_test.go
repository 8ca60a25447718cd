package khatru

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
)

// sovmesh patch (read pause): a connection paused by PauseReading hands on
// its next message only once the pause is over, and Shutdown ends the wait.
func TestPauseReading(t *testing.T) {
	tests := []struct {
		name  string
		pause time.Duration
		// shutdown ends the relay while the connection is paused, instead
		// of waiting for the pause to end.
		shutdown bool
	}{
		{name: "next message waits for the pause", pause: 400 * time.Millisecond},
		{name: "shutdown ends the pause", pause: time.Hour, shutdown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := NewRelay()
			rl.QueryEvents = append(rl.QueryEvents, func(context.Context, nostr.Filter) (chan *nostr.Event, error) {
				ch := make(chan *nostr.Event)
				close(ch)
				return ch, nil
			})
			var mu sync.Mutex
			var seen []string
			rl.RejectFilter = append(rl.RejectFilter, func(ctx context.Context, _ nostr.Filter) (bool, string) {
				id := GetSubscriptionID(ctx)
				mu.Lock()
				seen = append(seen, id)
				mu.Unlock()
				if id == "pause" {
					GetConnection(ctx).PauseReading(tt.pause)
				}
				return false, ""
			})
			srv := httptest.NewServer(rl)
			defer srv.Close()
			rl.httpServer = srv.Config // what Start sets; Shutdown stops it
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			eose := func(id string) error {
				t.Helper()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					_, msg, err := c.ReadMessage()
					if err != nil {
						return err
					}
					if string(msg) == `["EOSE","`+id+`"]` {
						return nil
					}
				}
			}
			start := time.Now()
			if err := c.WriteMessage(websocket.TextMessage, []byte(`["REQ","pause",{}]`)); err != nil {
				t.Fatal(err)
			}
			if err := eose("pause"); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(`["REQ","next",{}]`)); err != nil {
				t.Fatal(err)
			}
			if tt.shutdown {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				rl.Shutdown(ctx)
				if err := eose("next"); err == nil {
					t.Fatal("the paused message was handled")
				}
				mu.Lock()
				defer mu.Unlock()
				if len(seen) != 1 {
					t.Fatalf("filters checked: %v, want only the pausing REQ's", seen)
				}
				return
			}
			if err := eose("next"); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < tt.pause {
				t.Fatalf("the next message was answered %v after the pausing one, within its pause of %v", took, tt.pause)
			}
		})
	}
}
