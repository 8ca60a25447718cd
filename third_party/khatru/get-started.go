package khatru

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/rs/cors"
)

func (rl *Relay) Router() *http.ServeMux {
	return rl.serveMux
}

func (rl *Relay) SetRouter(mux *http.ServeMux) {
	rl.serveMux = mux
}

// Start creates an http server and starts listening on given host and port.
func (rl *Relay) Start(host string, port int, started ...chan bool) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}

	rl.Addr = ln.Addr().String()
	rl.httpServer = &http.Server{
		Handler:      cors.Default().Handler(rl),
		Addr:         addr,
		WriteTimeout: 2 * time.Second,
		ReadTimeout:  2 * time.Second,
		IdleTimeout:  30 * time.Second,
	}

	// notify caller that we're starting
	for _, started := range started {
		close(started)
	}

	if err := rl.httpServer.Serve(ln); err == http.ErrServerClosed {
		return nil
	} else if err != nil {
		return err
	} else {
		return nil
	}
}

// Shutdown sends a websocket close control message to all connected clients.
//
// sovmesh patch: the close message is queued (a client that does not read
// cannot block Shutdown); the connections are closed once the queued
// messages were written or WriteWait has passed.
func (rl *Relay) Shutdown(ctx context.Context) {
	rl.httpServer.Shutdown(ctx)
	rl.clientsMutex.Lock()
	conns := make([]*WebSocket, 0, len(rl.clients))
	for ws := range rl.clients {
		conns = append(conns, ws)
	}
	clear(rl.clients)
	rl.clientsMutex.Unlock()
	rl.listeners.clear()

	for _, ws := range conns {
		ws.WriteMessage(websocket.CloseMessage, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, rl.WriteWait)
	defer cancel()
	for _, ws := range conns {
		select {
		case <-ws.queue.drained():
		case <-ctx.Done():
		}
		ws.cancel()
		ws.conn.Close()
	}
}
