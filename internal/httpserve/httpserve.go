// Package httpserve runs an http.Server for as long as a context lives:
// the one lifecycle of agentd's local HTTP servers (Blossom, Routstr, the
// dashboard, MCP over HTTP).
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves hs on ln until ctx ends, then shuts it down, giving open
// requests grace to finish before it closes their connections. It returns
// once the server has stopped: nil after a shutdown, or the error that
// stopped it first.
func Serve(ctx context.Context, ln net.Listener, hs *http.Server, grace time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
