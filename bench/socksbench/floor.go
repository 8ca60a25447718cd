package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The floor: the same three hops as a SOCKS5 download through the session
// (client -> proxy over loopback, proxy -> exit over the veth, exit ->
// server over loopback), carried by the least a secure carrier must do:
// one TLS 1.3 connection per carried connection (AES-GCM, as the libp2p
// connection negotiates), copies with 256 KiB buffers, the records of one
// copy step written to the socket at once. No multiplexing, framing,
// metering or payment. What the session costs above it is sovmesh's and
// libp2p's; what the floor costs above a direct download is the hops.
//
//	near: socksbench floor -near -listen 127.0.0.1:1081 -to FAR:9443  (a SOCKS5 server, CONNECT only)
//	far:  socksbench floor -listen FAR:9443                           (dials the target it is sent)

const floorBuf = 256 << 10

func floor(args []string) {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	near := fs.Bool("near", false, "near side: a SOCKS5 server that carries each connection to -to over TLS")
	listen := fs.String("listen", "", "address")
	to := fs.String("to", "", "near side: the far side's address")
	_ = fs.Parse(args)
	var cfg *tls.Config
	if *near {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // a benchmark's own pair, on a veth
	} else {
		cfg = &tls.Config{Certificates: []tls.Certificate{selfSigned()}, MinVersion: tls.VersionTLS13}
	}
	serveEach(*listen, "floor listening", func(c net.Conn) {
		var err error
		if *near {
			err = floorNear(c, *to, cfg)
		} else {
			err = floorFar(c, cfg)
		}
		if err != nil {
			log.Print(err)
		}
	})
}

// floorNear answers a SOCKS5 CONNECT (no authentication) by carrying the
// connection to the far side over TLS.
func floorNear(c net.Conn, to string, cfg *tls.Config) error {
	target, err := socks5Accept(c)
	if err != nil {
		return err
	}
	raw, err := net.Dial("tcp", to)
	if err != nil {
		return err
	}
	hw := newHeldConn(raw)
	t := tls.Client(hw, cfg)
	defer t.Close()
	if _, err := t.Write([]byte(target + "\n")); err != nil {
		return err
	}
	if err := hw.Flush(); err != nil {
		return err
	}
	// Success, bound to 0.0.0.0:0.
	if _, err := c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	return pipe(c, t, hw)
}

// floorFar reads the target's address and carries the connection to it.
func floorFar(c net.Conn, cfg *tls.Config) error {
	hw := newHeldConn(c)
	t := tls.Server(hw, cfg)
	defer t.Close()
	br := bufio.NewReaderSize(t, 512)
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	target, err := net.Dial("tcp", strings.TrimSpace(line))
	if err != nil {
		return err
	}
	if br.Buffered() > 0 {
		return errors.New("floor: data before the target answered")
	}
	return pipe(target, t, hw)
}

// pipe copies both ways between the plain connection p and the TLS
// connection t, whose records hw holds until each copy step's Flush.
func pipe(p net.Conn, t *tls.Conn, hw *heldConn) error {
	errc := make(chan error, 1)
	go func() {
		err := copyFlush(t, p, hw.Flush)
		if err == nil {
			err = t.CloseWrite()
			_ = hw.Flush()
		}
		errc <- err
	}()
	_, err := io.CopyBuffer(struct{ io.Writer }{p}, struct{ io.Reader }{t}, make([]byte, floorBuf))
	if tc, ok := p.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	if err2 := <-errc; err == nil && !errors.Is(err2, net.ErrClosed) {
		err = err2
	}
	return err
}

// copyFlush copies src to dst with a 256 KiB buffer, calling flush after
// each write.
func copyFlush(dst io.Writer, src io.Reader, flush func() error) error {
	buf := make([]byte, floorBuf)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// heldConn holds what TLS writes until flushed (handshake messages are
// flushed by the first Read, which waits for the peer's answer).
type heldConn struct {
	net.Conn
	mu sync.Mutex
	w  *bufio.Writer
}

func newHeldConn(c net.Conn) *heldConn {
	return &heldConn{Conn: c, w: bufio.NewWriterSize(c, floorBuf+floorBuf/8)}
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.w.Write(p)
}

func (h *heldConn) Flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.w.Flush()
}

func (h *heldConn) Read(p []byte) (int, error) {
	if err := h.Flush(); err != nil {
		return 0, err
	}
	return h.Conn.Read(p)
}

// socks5Accept reads a SOCKS5 greeting (no authentication) and a CONNECT
// request, and returns its target host:port.
func socks5Accept(c net.Conn) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return "", fmt.Errorf("floor: socks5 greeting: %v", err)
	}
	if _, err := io.ReadFull(c, make([]byte, hdr[1])); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return "", err
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return "", fmt.Errorf("floor: socks5 request %v: %v", req, err)
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		if _, err := io.ReadFull(c, ip); err != nil {
			return "", err
		}
		host = net.IP(ip).String()
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return "", err
		}
		name := make([]byte, l[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return "", err
		}
		host = string(name)
	default:
		return "", fmt.Errorf("floor: socks5 address type %d", req[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
