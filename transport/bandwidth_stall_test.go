package transport_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/sovmesh/sovmesh/transport"
)

// TestBandwidthStalledBuyer: a buyer that sends nothing, or stops inside a
// frame, is cut off by the provider's deadline (the stream timeout inside
// a frame and before CONNECT, the idle timeout between frames); the
// session's metering is closed and so is the target connection.
func TestBandwidthStalledBuyer(t *testing.T) {
	// The idle timeout is well above the stream timeout plus the slack
	// allowed, so each case shows which deadline fired.
	const stream, idle, slack = 300 * time.Millisecond, 3 * time.Second, 2 * time.Second
	echo := echoServer(t)
	silent, ended := silentServer(t)
	hdr := func(n uint32) []byte { return u64(uint64(n))[4:] }
	tests := []struct {
		name     string
		session  bool
		send     [][]byte
		deadline time.Duration // the provider's deadline that cuts the buyer off
	}{
		{"silent before CONNECT", false, nil, stream},
		{"half a CONNECT", false, [][]byte{hdr(30), {fConnect}, []byte("127.")}, stream},
		{"silent in session", true, nil, idle},
		{"half a DATA frame", true, [][]byte{hdr(101), {fData}, []byte("abc")}, stream},
	}
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov, gate, logs := bwProvider(t, 1<<20, transport.WithTimeouts(stream, idle, 0))
			s := rawProtoStream(t, buyer, prov, transport.BandwidthProtocol)
			if tc.session {
				openSession(t, s, silent)
				send(t, s, frameOf(fWant, u64(100)))
				if typ, body, err := readAnswer(t, s); err != nil || typ != fGrant {
					t.Fatalf("WANT answered %#x %q: %v", typ, body, err)
				}
			}
			send(t, s, tc.send...)
			took := expectEnd(t, s)
			if took < tc.deadline/2 || took > tc.deadline+slack {
				t.Fatalf("stream ended after %v, deadline %v", took, tc.deadline)
			}
			if logged := logs.wait(t, "bandwidth session ended"); !isTimeout(logged) {
				t.Fatalf("provider logged %v, want a timeout", logged)
			}
			if tc.session {
				if n := len(gate.Closed()); n != 1 {
					t.Fatalf("%d metered sessions closed, want 1", n)
				}
				select {
				case <-ended:
				case <-time.After(5 * time.Second):
					t.Fatal("target connection still open")
				}
			}
			checkBandwidth(t, buyer, prov.ID(), echo)
		})
	}
}

// dripServer is a TCP target on 127.0.0.1 that, on each connection, sends
// n bytes one at a time, every gap, then closes, reading nothing.
func dripServer(t *testing.T, n int, gap time.Duration) string {
	t.Helper()
	return tcpServer(t, func(c net.Conn) {
		for i := range n {
			time.Sleep(gap)
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				return
			}
		}
	})
}

// TestBandwidthOneWayOutlivesIdleTimeout: the idle timeout is for a
// session with no traffic either way. A download during which the buyer
// sends nothing, and an upload to a target that answers nothing, both
// last longer than the idle timeout and complete.
func TestBandwidthOneWayOutlivesIdleTimeout(t *testing.T) {
	const idle = 600 * time.Millisecond
	const n, gap = 12, 100 * time.Millisecond // 1.2 s of traffic, 2 idle timeouts
	prov, _, _ := bwProvider(t, 1<<20, transport.WithTimeouts(0, idle, 0))
	buyer := newHost(t, transport.WithTimeouts(0, idle, 0))
	pid := connect(t, buyer, prov)
	t.Run("download", func(t *testing.T) {
		conn, err := buyer.DialBandwidth(t.Context(), pid, dripServer(t, n, gap), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil || len(got) != n {
			t.Fatalf("downloaded %d of %d bytes: %v", len(got), n, err)
		}
	})
	t.Run("upload", func(t *testing.T) {
		silent, ended := silentServer(t)
		conn, err := buyer.DialBandwidth(t.Context(), pid, silent, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for i := range n {
			time.Sleep(gap)
			if _, err := conn.Write([]byte{byte(i)}); err != nil {
				t.Fatalf("write %d after %v: %v", i, time.Duration(i)*gap, err)
			}
		}
		if err := conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("target never saw the end of the upload")
		}
	})
}

// TestBandwidthStalledProvider: the buyer's deadlines bound a provider that
// never answers CONNECT (the stream timeout) and one that goes silent after
// it (the idle timeout): Dial, Read and Write fail with a timeout.
func TestBandwidthStalledProvider(t *testing.T) {
	const stream, idle = 300 * time.Millisecond, 600 * time.Millisecond
	prov := newHost(t)
	answer := false
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	var mu sync.Mutex
	prov.LibP2P().SetStreamHandler(transport.BandwidthProtocol, func(s network.Stream) {
		mu.Lock()
		ok := answer
		mu.Unlock()
		if ok {
			_, _ = s.Write(frameOf(fOK, u64(1<<20)))
		}
		<-block
		_ = s.Reset()
	})
	buyer := newHost(t, transport.WithTimeouts(stream, idle, 0))
	pid := connect(t, buyer, prov)
	const target = "127.0.0.1:9"
	// The test's own bounds (5 s) are well past the deadlines under test.
	t.Run("no answer to CONNECT", func(t *testing.T) {
		start := time.Now()
		_, err := buyer.DialBandwidth(ctxTimeout(t, 5*time.Second), pid, target, nil)
		if !isTimeout(err) || time.Since(start) > stream+2*time.Second {
			t.Fatalf("dial: %v after %v", err, time.Since(start))
		}
	})
	t.Run("silent after CONNECT", func(t *testing.T) {
		mu.Lock()
		answer = true
		mu.Unlock()
		conn, err := buyer.DialBandwidth(t.Context(), pid, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Write waits for a GRANT that never comes, until the idle timeout.
		start := time.Now()
		_, err = conn.Write([]byte("hello"))
		if !isTimeout(err) || time.Since(start) > idle+2*time.Second {
			t.Fatalf("write: %v after %v", err, time.Since(start))
		}
		start = time.Now()
		if _, err := conn.Read(make([]byte, 10)); !isTimeout(err) || time.Since(start) > time.Second {
			t.Fatalf("read: %v after %v", err, time.Since(start))
		}
	})
}
