package transport

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// countedConn is a real TCP connection that counts its writes.
type countedConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tlsPair runs the TLS handshake of the security transport over a real TCP
// connection on 127.0.0.1: the client side is tlsOneWrite, the server side
// libp2p's plain TLS (the wire format must not change). It returns both
// secure connections and the client's counted TCP connection.
func tlsPair(t *testing.T) (client, server sec.SecureConn, raw *countedConn) {
	t.Helper()
	newKey := func() (crypto.PrivKey, peer.ID) {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, id
	}
	ck, _ := newKey()
	sk, sid := newKey()
	ct, err := newTLSOneWrite(libp2ptls.ID, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := libp2ptls.New(libp2ptls.ID, sk, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		wg     sync.WaitGroup
		srvErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		server, srvErr = st.SecureInbound(t.Context(), c, "")
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw = &countedConn{Conn: c}
	client, err = ct.SecureOutbound(t.Context(), raw, sid)
	wg.Wait()
	if err != nil || srvErr != nil {
		t.Fatalf("handshake: client %v, server %v", err, srvErr)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server, raw
}

// TestTLSOneWrite checks that a Write of several TLS records reaches the
// socket in one write (crypto/tls alone makes one per 16 KiB record), and
// that the peer, running libp2p's unchanged TLS, reads the same bytes.
func TestTLSOneWrite(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		wantWrites int64
	}{
		{"one record", 1000, 1},
		{"a 64 KiB yamux message, four records", 64 << 10, 1},
		{"over the hold limit", maxHeldWrite + 100<<10, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server, raw := tlsPair(t)
			msg := make([]byte, tt.size)
			if _, err := rand.Read(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, tt.size)
			done := make(chan error, 1)
			go func() {
				_, err := io.ReadFull(server, got)
				done <- err
			}()
			before := raw.writes.Load()
			if n, err := client.Write(msg); err != nil || n != tt.size {
				t.Fatalf("write: %d, %v", n, err)
			}
			if w := raw.writes.Load() - before; w != tt.wantWrites {
				t.Errorf("socket writes for one Write of %d bytes: %d, want %d", tt.size, w, tt.wantWrites)
			}
			if err := <-done; err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("the peer read other bytes")
			}
		})
	}
}

// TestTLSOneWriteFailsAfterSocketError checks that once the socket fails,
// the Write fails and so does every later one (the records after a lost
// one would not decrypt).
func TestTLSOneWriteFailsAfterSocketError(t *testing.T) {
	client, _, raw := tlsPair(t)
	if err := raw.Conn.Close(); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64<<10)
	for i := range 2 {
		if _, err := client.Write(msg); err == nil {
			t.Fatalf("write %d on a closed socket succeeded", i)
		} else if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write %d: %v, want net.ErrClosed", i, err)
		}
	}
}
