package khatru

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"
	"unsafe"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
	"github.com/puzpuzpuz/xsync/v3"
	"github.com/rs/cors"
)

// ServeHTTP implements http.Handler interface.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	corsMiddleware := cors.New(cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{
			http.MethodHead,
			http.MethodGet,
			http.MethodPost,
			http.MethodPut,
			http.MethodPatch,
			http.MethodDelete,
		},
		AllowedHeaders: []string{"Authorization", "*"},
		MaxAge:         86400,
	})

	if r.Header.Get("Upgrade") == "websocket" {
		rl.HandleWebsocket(w, r)
	} else if r.Header.Get("Accept") == "application/nostr+json" {
		corsMiddleware.Handler(http.HandlerFunc(rl.HandleNIP11)).ServeHTTP(w, r)
	} else if r.Header.Get("Content-Type") == "application/nostr+json+rpc" {
		corsMiddleware.Handler(http.HandlerFunc(rl.HandleNIP86)).ServeHTTP(w, r)
	} else {
		corsMiddleware.Handler(rl.serveMux).ServeHTTP(w, r)
	}
}

func (rl *Relay) HandleWebsocket(w http.ResponseWriter, r *http.Request) {
	for _, reject := range rl.RejectConnection {
		if reject(r) {
			w.WriteHeader(429) // Too many requests
			return
		}
	}

	// sovmesh patch: the connection is hijacked through batchHijacker, so a
	// REQ's stored events can share network writes (batch.go).
	hj := &batchHijacker{ResponseWriter: w}
	conn, err := rl.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		rl.Log.Printf("failed to upgrade websocket: %v\n", err)
		return
	}

	// NIP-42 challenge
	challenge := make([]byte, 8)
	rand.Read(challenge)

	ws := &WebSocket{
		conn:               conn,
		batch:              hj.conn,
		Request:            r,
		Challenge:          hex.EncodeToString(challenge),
		negentropySessions: xsync.NewMapOf[string, *NegentropySession](),
		// sovmesh patch: see sendqueue.go
		queue: newSendQueue(rl.SendQueueMessages, rl.SendQueueBytes),
	}
	ws.Context, ws.cancel = context.WithCancel(context.Background())
	ws.onDrop = func(reason, detail string) {
		for _, f := range rl.OnConnectionDropped {
			f(ws, reason, detail)
		}
	}

	rl.clientsMutex.Lock()
	rl.clients[ws] = make([]listenerSpec, 0, 2)
	rl.clientsMutex.Unlock()

	ctx, cancel := context.WithCancel(
		context.WithValue(
			context.Background(),
			wsKey, ws,
		),
	)

	// sovmesh patch: kill runs once, when the read loop ends (a failed
	// write closes the connection, which ends the read loop).
	kill := func() {
		for _, ondisconnect := range rl.OnDisconnect {
			ondisconnect(ctx)
		}

		cancel()
		ws.cancel()
		ws.queue.close()
		ws.conn.Close()

		rl.removeClientAndListeners(ws)
	}

	// sovmesh patch: one goroutine writes everything, with deadlines, and
	// sends the pings (sendqueue.go).
	go ws.writeLoop(rl.WriteWait, rl.PingPeriod)

	go func() {
		defer kill()

		ws.conn.SetReadLimit(rl.MaxMessageSize)
		// sovmesh patch: the read deadline is PongWait from the last
		// complete message or the last pong that answers our ping (not
		// any pong), and a message must arrive whole within
		// MaxMessageAssembly of its first frame (readMessage). Client
		// pings are answered through the send queue.
		assembling := false
		ws.conn.SetReadDeadline(time.Now().Add(rl.PongWait))
		ws.conn.SetPongHandler(func(data string) error {
			if !assembling && ws.pongAnswersPing(data) {
				ws.conn.SetReadDeadline(time.Now().Add(rl.PongWait))
			}
			return nil
		})
		ws.conn.SetPingHandler(func(data string) error {
			ws.WriteMessage(websocket.PongMessage, []byte(data))
			return nil
		})

		for _, onconnect := range rl.OnConnect {
			onconnect(ctx)
		}

		smp := nostr.NewMessageParser()

		for {
			typ, msgb, err := rl.readMessage(ws, &assembling)
			if err != nil {
				if websocket.IsUnexpectedCloseError(
					err,
					websocket.CloseNormalClosure,    // 1000
					websocket.CloseGoingAway,        // 1001
					websocket.CloseNoStatusReceived, // 1005
					websocket.CloseAbnormalClosure,  // 1006
					4537,                            // some client seems to send many of these
				) && !errors.Is(err, errMessageTimeout) {
					rl.Log.Printf("unexpected close error from %s: %v\n", GetIPFromRequest(r), err)
				}
				ws.cancel()
				return
			}

			// sovmesh patch: NIP-01 messages are JSON text; a binary
			// frame is refused, never processed.
			if typ == websocket.BinaryMessage {
				ws.WriteJSON(nostr.NoticeEnvelope("invalid: binary messages are not accepted; send JSON text"))
				continue
			}

			// sovmesh patch: a sender over a rate limit is paused
			// (pause.go); until then this message waits and nothing
			// more is read. Shutdown ends the wait.
			if err := ws.waitPause(ws.Context); err != nil {
				ws.cancel()
				return
			}

			// this is safe because ReadMessage() will always create a new slice
			message := unsafe.String(unsafe.SliceData(msgb), len(msgb))

			// parse messages sequentially otherwise sonic breaks
			envelope, err := smp.ParseMessage(message)

			// then delegate to the goroutine
			go rl.handleMessage(ctx, ws, r, message, envelope, err)
		}
	}()
}
