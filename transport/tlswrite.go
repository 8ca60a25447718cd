package transport

import (
	"context"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// maxHeldWrite bounds what one coalesced write holds before it is sent:
// the largest yamux message (maxMuxMessage) is sixteen TLS records of 16
// KiB plus 22 bytes of record overhead each, under it.
const maxHeldWrite = 320 << 10

// tlsOneWrite is libp2p's TLS 1.3 security transport whose connections send
// each Write in one write to the TCP socket. crypto/tls seals a Write of
// more than 16 KiB as several records and writes each record to the socket
// on its own, so yamux's 64 KiB messages cost four sendmsg calls, each a
// trip through the TCP stack (and, on loopback or a veth, through the
// receiver's). Here the records of one Write are gathered and written
// together. The wire bytes are the same records in the same order: peers
// of either kind interoperate.
type tlsOneWrite struct{ inner *libp2ptls.Transport }

var _ sec.SecureTransport = (*tlsOneWrite)(nil)

// newTLSOneWrite is the constructor libp2p.Security calls (it injects the
// protocol id, the host key and the muxers, as for libp2ptls.New).
func newTLSOneWrite(id protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*tlsOneWrite, error) {
	t, err := libp2ptls.New(id, key, muxers)
	if err != nil {
		return nil, err
	}
	return &tlsOneWrite{inner: t}, nil
}

// ID is TLS's protocol id.
func (t *tlsOneWrite) ID() protocol.ID { return t.inner.ID() }

// SecureInbound runs the TLS handshake as a server.
func (t *tlsOneWrite) SecureInbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	raw := &heldWriter{Conn: insecure}
	c, err := t.inner.SecureInbound(ctx, raw, p)
	if err != nil {
		return nil, err
	}
	return &oneWriteConn{SecureConn: c, raw: raw}, nil
}

// SecureOutbound runs the TLS handshake as a client.
func (t *tlsOneWrite) SecureOutbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	raw := &heldWriter{Conn: insecure}
	c, err := t.inner.SecureOutbound(ctx, raw, p)
	if err != nil {
		return nil, err
	}
	return &oneWriteConn{SecureConn: c, raw: raw}, nil
}

// oneWriteConn is a TLS connection whose Write reaches the socket in one
// write.
type oneWriteConn struct {
	sec.SecureConn
	wmu sync.Mutex // one Write at a time holds the socket's writes
	raw *heldWriter
}

// Write seals b as crypto/tls does and sends its records together.
func (c *oneWriteConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.hold()
	n, err := c.SecureConn.Write(b)
	if ferr := c.raw.release(); err == nil && ferr != nil {
		// crypto/tls counted the records as sent; they are not, and the
		// connection cannot go on (heldWriter fails every later write).
		return 0, ferr
	}
	return n, err
}

// heldWriter is the TCP connection under TLS. While held it gathers what
// TLS writes and sends it on release; otherwise (the handshake, alerts,
// a key update written from the read side) it writes through. A failed
// write fails every later one: the records after it would not decrypt.
type heldWriter struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
	err  error
}

func (w *heldWriter) hold() {
	w.mu.Lock()
	w.held = true
	w.mu.Unlock()
}

// Write gathers p while held (sending early past maxHeldWrite) or writes
// it through.
func (w *heldWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if !w.held {
		n, err := w.Conn.Write(p)
		w.err = err
		return n, err
	}
	if len(w.buf)+len(p) > maxHeldWrite {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// release sends what was gathered and stops holding.
func (w *heldWriter) release() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	return w.flushLocked()
}

func (w *heldWriter) flushLocked() error {
	if w.err != nil {
		w.buf = w.buf[:0]
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.Conn.Write(w.buf)
	w.buf = w.buf[:0]
	w.err = err
	return err
}
