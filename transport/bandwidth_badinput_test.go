package transport_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// silentServer is a TCP target on 127.0.0.1 that never sends. It reads what
// arrives and reports on ended each time a connection's other side closes
// it, keeping its own side open until the test ends.
func silentServer(t *testing.T) (addr string, ended <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 64)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
				select {
				case ch <- struct{}{}:
				default:
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// bwProvider starts a host serving bandwidth to private targets, metered
// by a gate that grants initial free units per session, logging to the
// returned recorder.
func bwProvider(t *testing.T, initial uint64, opts ...transport.Option) (*transport.Host, *meter.Gate, *logRecorder) {
	t.Helper()
	logs, logOpt := newLogRecorder()
	prov := newHost(t, append([]transport.Option{logOpt}, opts...)...)
	gate := &meter.Gate{Initial: initial}
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	return prov, gate, logs
}

// checkBandwidth shows that the provider pid still carries connections:
// one round trip to the echo target through it.
func checkBandwidth(t *testing.T, buyer *transport.Host, pid peer.ID, echo string) {
	t.Helper()
	conn, err := buyer.DialBandwidth(t.Context(), pid, echo, &meter.Payer{Step: 1 << 10})
	if err != nil {
		t.Fatalf("provider unhealthy: dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("provider unhealthy: write: %v", err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "ping" {
		t.Fatalf("provider unhealthy: read %q: %v", got, err)
	}
}

// openSession sends CONNECT target on s and reads the provider's OK.
func openSession(t *testing.T, s network.Stream, target string) {
	t.Helper()
	send(t, s, frameOf(fConnect, []byte(target)))
	typ, body, err := readAnswer(t, s)
	if err != nil || typ != fOK || len(body) != 8 {
		t.Fatalf("CONNECT answered %#x %q: %v", typ, body, err)
	}
}
