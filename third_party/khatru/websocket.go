package khatru

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/fasthttp/websocket"
	"github.com/puzpuzpuz/xsync/v3"
)

type WebSocket struct {
	conn *websocket.Conn

	// sovmesh patch: what is written to the client goes through queue,
	// written by one goroutine (sendqueue.go); onDrop reports a connection
	// closed for falling behind or for a slow message.
	queue     *sendQueue
	onDrop    func(reason, detail string)
	dropOnce  sync.Once
	closeSent bool // written by the writer goroutine only
	pingMu    sync.Mutex
	ping      string // data of the last ping sent

	// sovmesh patch: the network connection under conn, which collects the
	// writes of a batch of messages into one (see batch.go); nil if the
	// connection was not hijacked through it.
	batch *batchConn

	// sovmesh patch: the read loop hands on no message before this time
	// (unix nanoseconds; see pause.go).
	pauseUntil atomic.Int64

	// original request
	Request *http.Request

	// this Context will be canceled whenever the connection is closed from the client side or server-side.
	Context context.Context
	cancel  context.CancelFunc

	// nip42
	Challenge       string
	AuthedPublicKey string
	Authed          chan struct{}

	// nip77
	negentropySessions *xsync.MapOf[string, *NegentropySession]

	authLock sync.Mutex
}

// WriteJSON queues v, encoded as JSON, for the client.
//
// sovmesh patch: it does not wait for the network (see sendqueue.go); a
// connection that cannot take it is closed.
func (ws *WebSocket) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return ws.send(outMsg{websocket.TextMessage, b})
}

// WriteMessage queues one message of type t for the client (sovmesh patch:
// as WriteJSON, it does not wait for the network).
func (ws *WebSocket) WriteMessage(t int, b []byte) error {
	return ws.send(outMsg{t, b})
}
