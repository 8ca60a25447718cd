package transport_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
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

// TestBandwidthBadFrames sends malformed and out-of-protocol frames on a
// raw bandwidth stream, before and after CONNECT. Each gets an ERR frame
// naming the problem, then the provider closes the stream, logs the error,
// closes the session's metering, and goes on serving.
func TestBandwidthBadFrames(t *testing.T) {
	echo := echoServer(t)
	silent, _ := silentServer(t)
	hdr := func(n uint32) []byte { return u64(uint64(n))[4:] }
	tests := []struct {
		name string
		// session: CONNECT to a target first; the frames go to the session.
		session bool
		// unpaid: no free credit, so the session stops at a pause point
		// at once (NEEDPAY).
		unpaid     bool
		payTimeout time.Duration
		send       [][]byte
		closeWrite bool
		want       error
		msg        string // the ERR message names the problem
	}{
		{name: "oversized frame before CONNECT", send: [][]byte{hdr(1 << 20)}, want: transport.ErrTooLarge, msg: "too large"},
		{name: "empty frame before CONNECT", send: [][]byte{hdr(0)}, want: transport.ErrProtocol, msg: "empty"},
		{name: "truncated CONNECT", send: [][]byte{hdr(30), {fConnect}, []byte("127.0.0.1")}, closeWrite: true, want: transport.ErrProtocol, msg: "truncated"},
		{name: "unknown frame before CONNECT", send: [][]byte{frameOf(0x7f, []byte("x"))}, want: transport.ErrBadRequest, msg: "want CONNECT"},
		{name: "DATA before CONNECT", send: [][]byte{frameOf(fData, []byte("x"))}, want: transport.ErrBadRequest, msg: "want CONNECT"},
		{name: "CONNECT without a port", send: [][]byte{frameOf(fConnect, []byte("127.0.0.1"))}, want: transport.ErrBadRequest, msg: "missing port"},
		{name: "CONNECT target too long", send: [][]byte{frameOf(fConnect, bytes.Repeat([]byte("a"), 301))}, want: transport.ErrBadRequest, msg: "at most 300"},
		{name: "oversized frame", session: true, send: [][]byte{hdr(1 << 20)}, want: transport.ErrTooLarge, msg: "too large"},
		{name: "empty frame", session: true, send: [][]byte{hdr(0)}, want: transport.ErrProtocol, msg: "empty"},
		{name: "truncated DATA", session: true, send: [][]byte{frameOf(fWant, u64(100)), hdr(101), {fData}, []byte("abc")}, closeWrite: true, want: transport.ErrProtocol, msg: "truncated"},
		{name: "unknown frame", session: true, send: [][]byte{frameOf(0x7f, []byte("x"))}, want: transport.ErrProtocol, msg: "frame 0x7f"},
		{name: "short WANT", session: true, send: [][]byte{frameOf(fWant, []byte{0, 0, 0, 1})}, want: transport.ErrProtocol, msg: "WANT frame of 4 bytes"},
		{name: "long WANT", session: true, send: [][]byte{frameOf(fWant, u64(1), []byte{0})}, want: transport.ErrProtocol, msg: "WANT frame of 9 bytes"},
		{name: "DATA without a grant", session: true, send: [][]byte{frameOf(fData, []byte("hello"))}, want: transport.ErrProtocol, msg: "past its grant: 5 bytes of 0 granted"},
		{name: "DATA past the grant", session: true, send: [][]byte{frameOf(fWant, u64(5)), frameOf(fData, []byte("0123456789"))}, want: transport.ErrProtocol, msg: "past its grant: 10 bytes of 5 granted"},
		{name: "DATA past the grant in steps", session: true, send: [][]byte{frameOf(fWant, u64(5)), frameOf(fData, []byte("01234")), frameOf(fData, []byte("5"))}, want: transport.ErrProtocol, msg: "past its grant: 6 bytes of 5 granted"},
		{name: "DATA after EOF", session: true, send: [][]byte{frameOf(fWant, u64(5)), frameOf(fEOF), frameOf(fData, []byte("x"))}, want: transport.ErrProtocol, msg: "data after EOF"},
		{name: "bad payment token", session: true, unpaid: true, send: [][]byte{frameOf(fPay, []byte("not a token"))}, want: transport.ErrPaymentRefused, msg: "malformed token"},
		{name: "no payment at pause point", session: true, unpaid: true, payTimeout: 300 * time.Millisecond, want: transport.ErrPayTimeout, msg: "no payment"},
	}
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			initial := uint64(1 << 20)
			if tc.unpaid {
				initial = 0
			}
			prov, gate, logs := bwProvider(t, initial, transport.WithTimeouts(0, 0, tc.payTimeout))
			s := rawProtoStream(t, buyer, prov, transport.BandwidthProtocol)
			if tc.session {
				openSession(t, s, silent)
			}
			send(t, s, tc.send...)
			if tc.closeWrite {
				_ = s.CloseWrite()
			}
			err := readRemoteErr(t, s, fGrant, fNeedPay, fCredit)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("provider answered %v, want %v naming %q", err, tc.want, tc.msg)
			}
			expectEnd(t, s)
			if logged := logs.wait(t, "bandwidth session ended"); !errors.Is(logged, tc.want) {
				t.Fatalf("provider logged %v, want %v", logged, tc.want)
			}
			// The meter opens at CONNECT; a session that opened one closed it.
			wantClosed := 0
			if tc.session {
				wantClosed = 1
			}
			if n := len(gate.Closed()); n != wantClosed {
				t.Fatalf("%d metered sessions closed, want %d", n, wantClosed)
			}
			checkBandwidth(t, buyer, prov.ID(), echo)
		})
	}
}
