package khatru

// sovmesh patch: this file is not in upstream khatru. Upstream read with
// ReadMessage under one deadline that any pong extended, so a client could
// send the frames of one message forever (each fragment kept alive by
// unsolicited pongs), holding up to MaxMessageSize per connection.

import (
	"errors"
	"io"
	"time"
)

var errMessageTimeout = errors.New("message not complete within the assembly limit")

// readMessage reads the next message. Waiting for it is bounded by the read
// deadline in force (PongWait since the last message or answered ping); once
// its first frame arrives, the whole message must arrive within
// MaxMessageAssembly, and pongs do not extend that. assembling is true while
// a message is being read (the pong handler looks at it).
func (rl *Relay) readMessage(ws *WebSocket, assembling *bool) (int, []byte, error) {
	typ, rd, err := ws.conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	*assembling = true
	ws.conn.SetReadDeadline(time.Now().Add(rl.MaxMessageAssembly))
	b, err := io.ReadAll(rd)
	*assembling = false
	if err != nil {
		if isTimeout(err) {
			ws.drop(DropMessageTimeout, "message not complete in time")
			return 0, nil, errMessageTimeout
		}
		return 0, nil, err
	}
	ws.conn.SetReadDeadline(time.Now().Add(rl.PongWait))
	return typ, b, nil
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
