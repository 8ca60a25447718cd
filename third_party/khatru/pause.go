package khatru

import (
	"context"
	"time"
)

// sovmesh patch: a connection's read loop can be paused. A relay that refuses
// a message because its sender is over a rate limit calls PauseReading with
// the time until the limit would admit one more, and the connection's next
// message is handed on only after that: a client that waits for each answer
// (most do, and every flood loop of issue 11 did) is held to the rate instead
// of getting its refusals back as fast as it can send, and one that pipelines
// finds its TCP window full. Upstream read and dispatched the next message at
// once, so an attacker over its limits went through its refusals in a burst.

// PauseReading makes the read loop of ws wait d from now (or until an
// earlier pause that ends later) before it hands on the next message.
func (ws *WebSocket) PauseReading(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := ws.pauseUntil.Load()
		if cur >= until || ws.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitPause waits out a pause set by PauseReading, or returns ctx's error if
// ctx ends first.
func (ws *WebSocket) waitPause(ctx context.Context) error {
	for {
		d := time.Until(time.Unix(0, ws.pauseUntil.Load()))
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
