package agentdtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a server (the mint) that a test takes
// down, closing its port and every connection through it, and brings back
// on the same port: a mint that cannot be reached, then is again.
type Proxy struct {
	// URL is the target's URL with the proxy's host and port.
	URL string

	t      testing.TB
	target string // host:port
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// StartProxy runs a proxy to the server at targetURL (http://host:port) on
// 127.0.0.1. It is closed when the test ends.
func StartProxy(t testing.TB, targetURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(targetURL)
	if err != nil || u.Host == "" {
		t.Fatalf("agentdtest: proxy target %q: %v", targetURL, err)
	}
	p := &Proxy{t: t, target: u.Host, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.mu.Lock()
	p.listen()
	p.mu.Unlock()
	u.Host = p.addr
	p.URL = u.String()
	t.Cleanup(func() {
		p.SetDown(true)
		p.wg.Wait()
	})
	return p
}

// SetDown closes the proxy's port and its connections (true) or opens the
// port again (false).
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case down && p.ln != nil:
		_ = p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	case !down && p.ln == nil:
		p.listen()
	}
}

// listen opens the port (the same one after the first time); p.mu held.
func (p *Proxy) listen() {
	var ln net.Listener
	var err error
	for range 50 { // the old port may take a moment to be free again
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("agentdtest: proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.pipe(ln, c) }()
		}
	}()
}

// pipe carries one connection to the target, unless ln was closed
// meanwhile.
func (p *Proxy) pipe(ln net.Listener, c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln {
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}
