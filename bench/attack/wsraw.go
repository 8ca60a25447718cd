package attack

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// ErrRefused is returned by Dial when the relay answers the upgrade with an
// HTTP status other than 101; the error text carries the status, and
// errors.As finds a *RefusedError with the status and body.
var ErrRefused = errors.New("upgrade refused")

// RefusedError is the HTTP answer to a refused upgrade (its body is cut at
// 512 bytes). It matches ErrRefused.
type RefusedError struct {
	Status int
	Body   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: HTTP %d %s", ErrRefused, e.Status, e.Body)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Conn is a websocket client that writes frames exactly as told: fragments,
// unsolicited control frames and invalid UTF-8 included. A library client
// would refuse to send most of what an attacker sends.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// DialOptions shape a connection.
type DialOptions struct {
	// Header is sent with the upgrade request (X-Forwarded-For, Host, ...).
	Header http.Header
	// LocalIP, if set, is the source address (another 127.0.0.0/8 address
	// lets a test tell attackers from honest clients by IP).
	LocalIP net.IP
	// ReadBuffer, if positive, sets the socket's receive buffer, so a client
	// that never reads fills it (and the relay's send buffer) quickly.
	ReadBuffer int
}

// Dial opens a websocket to a ws:// URL.
func Dial(ctx context.Context, wsURL string, o DialOptions) (*Conn, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("attack: only ws:// URLs, got %q", wsURL)
	}
	var d net.Dialer
	if o.LocalIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: o.LocalIP}
	}
	if o.ReadBuffer > 0 {
		// Set before connecting, so the TCP window offered stays small.
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.ReadBuffer)
			})
			return errors.Join(err, serr)
		}
	}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	} else {
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	keyb := make([]byte, 16)
	_, _ = rand.Read(keyb)
	key := base64.StdEncoding.EncodeToString(keyb)
	path := u.RequestURI()
	var req strings.Builder
	host := u.Host
	if h := o.Header.Get("Host"); h != "" {
		host = h
	}
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	for k, vs := range o.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		nc.Close()
		return nil, &RefusedError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		nc.Close()
		return nil, errors.New("attack: bad Sec-WebSocket-Accept")
	}
	_ = nc.SetDeadline(time.Time{})
	return &Conn{nc: nc, br: br}, nil
}

// Close closes the TCP connection without a closing handshake.
func (c *Conn) Close() error { return c.nc.Close() }

// WriteFrame writes one masked frame. fin=false starts or continues a
// fragmented message.
func (c *Conn) WriteFrame(fin bool, op byte, payload []byte) error {
	hdr := make([]byte, 0, 14)
	b0 := op & 0x0f
	if fin {
		b0 |= 0x80
	}
	hdr = append(hdr, b0)
	n := len(payload)
	switch {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	buf := make([]byte, len(hdr)+n)
	copy(buf, hdr)
	for i, b := range payload {
		buf[len(hdr)+i] = b ^ mask[i%4]
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(buf)
	return err
}

// WriteText sends s as one text message.
func (c *Conn) WriteText(s string) error { return c.WriteFrame(true, OpText, []byte(s)) }

// Frame is one message read from the relay.
type Frame struct {
	Op      byte
	Payload []byte
}

// Read returns the next data or close frame, answering pings; it gives up at
// the deadline. Fragmented messages from the relay are reassembled.
func (c *Conn) Read(deadline time.Time) (Frame, error) {
	_ = c.nc.SetReadDeadline(deadline)
	var msg []byte
	var msgOp byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return Frame{}, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return Frame{}, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return Frame{}, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 {
			return Frame{}, errors.New("attack: masked frame from the server")
		}
		if n > 64<<20 {
			return Frame{}, fmt.Errorf("attack: frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return Frame{}, err
		}
		switch op {
		case OpPing:
			if err := c.WriteFrame(true, OpPong, p); err != nil {
				return Frame{}, err
			}
			continue
		case OpPong:
			continue
		case OpClose:
			return Frame{Op: OpClose, Payload: p}, nil
		case OpContinuation:
			msg = append(msg, p...)
		default:
			msgOp, msg = op, p
		}
		if fin {
			return Frame{Op: msgOp, Payload: msg}, nil
		}
	}
}
