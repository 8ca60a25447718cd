package httpserve_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/httpserve"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// Serve answers until its context ends, lets a request under way finish
// within the grace, and returns nil once stopped.
func TestServeStopsWithContext(t *testing.T) {
	ln := listen(t)
	started, finish := make(chan struct{}), make(chan struct{})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-finish
		_, _ = io.WriteString(w, "done")
	}), ReadHeaderTimeout: time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- httpserve.Serve(ctx, ln, hs, 10*time.Second) }()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	cancel()
	close(finish)
	if got := <-body; got != "done" {
		t.Fatalf("request under way at shutdown answered %q", got)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
}

// A listener that fails ends Serve with its error at once.
func TestServeReturnsServeError(t *testing.T) {
	ln := listen(t)
	ln.Close()
	err := httpserve.Serve(t.Context(), ln, &http.Server{ReadHeaderTimeout: time.Second}, time.Second)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve on a closed listener: %v", err)
	}
}
