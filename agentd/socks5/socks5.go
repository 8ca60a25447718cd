// Package socks5 is a small SOCKS5 server (RFC 1928): no authentication,
// CONNECT only, IPv4, IPv6 and domain targets. Each accepted connection is
// handed to a Dial function (agentd: a bandwidth session bought on the
// market) and the bytes are copied both ways.
package socks5

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Protocol constants.
const (
	version      = 5
	methodNone   = 0
	methodNoAcc  = 0xff
	cmdConnect   = 1
	atypIPv4     = 1
	atypDomain   = 3
	atypIPv6     = 4
	repSuccess   = 0
	repFailure   = 1
	repCmd       = 7
	repAtyp      = 8
	repHostUnrch = 4
)

// ErrProtocol means the client spoke something else than SOCKS5 CONNECT.
var ErrProtocol = errors.New("socks5: protocol error")

// Dialer opens the outgoing connection for a target "host:port".
type Dialer func(ctx context.Context, target string) (net.Conn, error)

// Server serves SOCKS5.
type Server struct {
	Dial Dialer
	Log  *slog.Logger
	// HandshakeTimeout bounds the SOCKS handshake (default 10 s).
	HandshakeTimeout time.Duration

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Listen starts serving on addr (e.g. 127.0.0.1:1080) in a goroutine the
// server owns; Shutdown stops it.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("socks5: %w", err)
	}
	s.mu.Lock()
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				if err := s.handle(s.ctx, c); err != nil && s.Log != nil {
					s.Log.Debug("socks connection ended", "err", err)
				}
			}()
		}
	}()
	return ln.Addr(), nil
}

// Shutdown closes the listener and every connection and waits.
func (s *Server) Shutdown() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ReadRequest reads a client's greeting and CONNECT request from r,
// writing the method choice to w. It returns the target "host:port".
func ReadRequest(r io.Reader, w io.Writer) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	if hdr[0] != version || hdr[1] == 0 {
		return "", fmt.Errorf("%w: version %d, %d methods", ErrProtocol, hdr[0], hdr[1])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return "", err
	}
	ok := false
	for _, m := range methods {
		ok = ok || m == methodNone
	}
	if !ok {
		_, _ = w.Write([]byte{version, methodNoAcc})
		return "", fmt.Errorf("%w: client offers no unauthenticated method", ErrProtocol)
	}
	if _, err := w.Write([]byte{version, methodNone}); err != nil {
		return "", err
	}
	var req [4]byte
	if _, err := io.ReadFull(r, req[:]); err != nil {
		return "", err
	}
	if req[0] != version {
		return "", fmt.Errorf("%w: request version %d", ErrProtocol, req[0])
	}
	if req[1] != cmdConnect {
		_ = reply(w, repCmd)
		return "", fmt.Errorf("%w: command %d (only CONNECT)", ErrProtocol, req[1])
	}
	var host string
	switch req[3] {
	case atypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case atypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return "", err
		}
		host = net.IP(a[:]).String()
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", err
		}
		if l[0] == 0 {
			return "", fmt.Errorf("%w: empty domain", ErrProtocol)
		}
		d := make([]byte, l[0])
		if _, err := io.ReadFull(r, d); err != nil {
			return "", err
		}
		if !validDomain(d) {
			_ = reply(w, repAtyp)
			return "", fmt.Errorf("%w: domain name with characters outside [A-Za-z0-9.-_]", ErrProtocol)
		}
		host = string(d)
	default:
		_ = reply(w, repAtyp)
		return "", fmt.Errorf("%w: address type %d", ErrProtocol, req[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return "", err
	}
	port := binary.BigEndian.Uint16(p[:])
	if port == 0 {
		return "", fmt.Errorf("%w: port 0", ErrProtocol)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

func reply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{version, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

func (s *Server) handle(ctx context.Context, c net.Conn) error {
	to := s.HandshakeTimeout
	if to <= 0 {
		to = 10 * time.Second
	}
	_ = c.SetDeadline(time.Now().Add(to))
	target, err := ReadRequest(c, c)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	out, err := s.Dial(dctx, target)
	cancel()
	if err != nil {
		_ = reply(c, repHostUnrch)
		return err
	}
	defer out.Close()
	_ = c.SetDeadline(time.Time{})
	if err := reply(c, repSuccess); err != nil {
		return err
	}
	done := make(chan struct{}, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(out, c)
		if cw, ok := out.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, out)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	select {
	case <-done:
		select {
		case <-done:
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	// Closing both ends stops whichever copy is still running.
	out.Close()
	c.Close()
	wg.Wait()
	return nil
}

// validDomain accepts host names of letters, digits, '.', '-' and '_'.
func validDomain(d []byte) bool {
	for _, c := range d {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
