package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// provingStore is a provider's store counting the storage proofs it served.
type provingStore struct {
	*store.Store
	proved atomic.Int32
}

func (s *provingStore) Prove(c chunk.CID, challenge [32]byte) ([32]byte, error) {
	p, err := s.Store.Prove(c, challenge)
	s.proved.Add(1)
	return p, err
}

// holder holds a dead host's TCP address: it accepts connections and never
// answers (a host gone without refusing), so a dial to it lasts until the
// dialler gives up. It counts the connections accepted and those ended.
type holder struct {
	accepted, ended atomic.Int32
	mu              sync.Mutex
	conns           []net.Conn
	wg              sync.WaitGroup
}

// holdTCP starts a holder on a new loopback port and returns its address;
// it stops with the test.
func holdTCP(t *testing.T) (*holder, ma.Multiaddr) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	addr, err := manet.FromNetAddr(ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	h := &holder{}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				_, _ = io.Copy(io.Discard, c) // until the dialler ends it, or Cleanup
				h.ended.Add(1)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		h.mu.Lock()
		for _, c := range h.conns {
			_ = c.Close()
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h, addr
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAuditDeadProviderHoldsUpNoOther: a file on 3 providers with 8
// audited shards each, the first audited provider dead and an address of
// it held by a stand-in that never answers. With the buyer's dial timeout
// long, the two live providers serve every challenge while the dial to the
// dead one is still held (on main their challenges queued behind the dead
// one's). With it short, the audit ends with the dead provider's shards
// failed and the others proved.
func TestAuditDeadProviderHoldsUpNoOther(t *testing.T) {
	buyer := newHost(t, transport.WithDialTimeout(10*time.Minute))
	var hosts []*transport.Host
	var stores []*provingStore
	var ids []peer.ID
	for range 3 {
		st, err := store.Open(t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		ps := &provingStore{Store: st}
		h := newHost(t, transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
		h.ServeStorage(ps, nil)
		hosts, stores = append(hosts, h), append(stores, ps)
		ids = append(ids, connect(t, buyer, h))
	}
	data := randomBytes(t, 24*chunk.MinSize)
	ref, man, err := buyer.Put(t.Context(), bytes.NewReader(data), ids,
		transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 2, ParityShards: 1, AuditShards: 8, AuditRounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	a0 := man.Audits[0]
	deadSlot := man.ProviderOf(int(a0.Stripe), int(a0.Shard))
	perProvider := len(man.Audits) / 3
	if perProvider < 8 {
		t.Fatalf("%d audits, want 8 per provider", len(man.Audits))
	}
	addrs := hosts[deadSlot].Addrs()
	_ = hosts[deadSlot].Close()
	// Its own port refuses; a second address of it accepts and never
	// answers.
	hold, held := holdTCP(t)
	addrs = append(addrs, held)
	buyer.AddAddrs(ids[deadSlot], addrs, time.Hour)
	waitFor(t, "the buyer sees the dead provider gone", func() bool {
		return buyer.LibP2P().Network().Connectedness(ids[deadSlot]) != network.Connected
	})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type audit struct {
		res []transport.AuditResult
		err error
	}
	done := make(chan audit, 1)
	go func() {
		res, err := buyer.Audit(ctx, ref, man, 0, nil)
		done <- audit{res, err}
	}()
	for i, st := range stores {
		if i != deadSlot {
			waitFor(t, "the live providers serve their challenges", func() bool { return int(st.proved.Load()) >= perProvider })
		}
	}
	if n := hold.ended.Load(); n != 0 {
		t.Fatalf("the live providers served their challenges after %d dials to the dead one had ended: held up by it", n)
	}
	waitFor(t, "the audit dials the dead provider", func() bool { return hold.accepted.Load() > 0 })
	cancel()
	<-done

	// A bounded dial: the audit ends, reporting the dead provider.
	quick := newHost(t, transport.WithDialTimeout(time.Second))
	for i, h := range hosts {
		if i != deadSlot {
			connect(t, quick, h)
		}
	}
	quick.AddAddrs(ids[deadSlot], addrs, time.Hour)
	res, err := quick.Audit(t.Context(), ref, man, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if dead := r.Provider == ids[deadSlot]; dead != (r.Err != nil) {
			t.Fatalf("audit of %s (dead: %v): %v", r.Provider, dead, r.Err)
		}
	}
}

// gatedProxy forwards TCP connections to target, each only once open is
// closed: a provider that is alive but slow to connect.
type gatedProxy struct {
	addr     ma.Multiaddr
	open     chan struct{}
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func newGatedProxy(t *testing.T, target []ma.Multiaddr) *gatedProxy {
	t.Helper()
	var to string
	for _, a := range target {
		port, err1 := a.ValueForProtocol(ma.P_TCP)
		ip, err2 := a.ValueForProtocol(ma.P_IP4)
		if err1 == nil && err2 == nil {
			to = net.JoinHostPort(ip, port)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedProxy{open: make(chan struct{})}
	p.addr = ma.StringCast("/ip4/127.0.0.1/tcp/" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			p.accepted.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				select {
				case <-p.open:
				case <-done:
					return
				}
				up, err := net.Dial("tcp", to)
				if err != nil {
					_ = c.Close()
					return
				}
				track(up)
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					_, _ = io.Copy(up, c)
					_ = up.Close()
				}()
				_, _ = io.Copy(c, up)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// TestGetWaitsForSlowProviderWhenNeeded: a get skips a provider still
// dialling only while the others can rebuild the stripe. The file is on 3
// providers (2+1); the one holding data shard 0 of stripe 0 is reachable
// only through a proxy that holds each connection until the test opens
// it. When another provider is dead, or fails to serve its shard of stripe
// 0, the get waits for the slow one and reads the file.
func TestGetWaitsForSlowProviderWhenNeeded(t *testing.T) {
	tests := []struct {
		name string
		// lose makes the provider in slot b unable to serve stripe 0; it
		// returns a channel closed once it has failed (nil: at once).
		lose func(t *testing.T, h *transport.Host, dir string, c chunk.CID, served <-chan struct{}) <-chan struct{}
	}{
		{"another provider dead", func(t *testing.T, h *transport.Host, _ string, _ chunk.CID, _ <-chan struct{}) <-chan struct{} {
			_ = h.Close()
			return nil
		}},
		{"another provider fails its shard", func(t *testing.T, _ *transport.Host, dir string, c chunk.CID, served <-chan struct{}) <-chan struct{} {
			if err := os.Remove(filepath.Join(dir, c.String()[:2], c.String()+".chunk")); err != nil {
				t.Fatal(err)
			}
			return served
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writer := newHost(t)
			var hosts []*transport.Host
			var dirs []string
			var stores []*askedStore
			var ids []peer.ID
			for range 3 {
				dir := t.TempDir()
				st, err := store.Open(dir, 0)
				if err != nil {
					t.Fatal(err)
				}
				as := &askedStore{Store: st, asked: make(chan struct{})}
				h := newHost(t, transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
				h.ServeStorage(as, nil)
				hosts, dirs, stores = append(hosts, h), append(dirs, dir), append(stores, as)
				ids = append(ids, connect(t, writer, h))
			}
			data := randomBytes(t, 6*chunk.MinSize+99)
			ref, man, err := writer.Put(t.Context(), bytes.NewReader(data), ids,
				transport.PutOptions{ChunkSize: chunk.MinSize, DataShards: 2, ParityShards: 1})
			if err != nil {
				t.Fatal(err)
			}
			slow, lost := man.ProviderOf(0, 0), man.ProviderOf(0, 1)
			stores[lost].watch = man.Stripes[0][1]
			reader := newHost(t, transport.WithDialTimeout(time.Minute))
			proxy := newGatedProxy(t, hosts[slow].Addrs())
			for i, h := range hosts {
				addrs := h.Addrs()
				if i == slow {
					addrs = []ma.Multiaddr{proxy.addr}
				}
				reader.AddAddrs(ids[i], addrs, time.Hour)
			}
			failed := tc.lose(t, hosts[lost], dirs[lost], man.Stripes[0][1], stores[lost].asked)

			var out bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- reader.Get(t.Context(), ref, &out, transport.GetOptions{}) }()
			waitFor(t, "the get dials the slow provider", func() bool { return proxy.accepted.Load() > 0 })
			if failed != nil {
				select {
				case <-failed:
				case err := <-done:
					t.Fatalf("get ended before the failing provider was asked: %v", err)
				}
			}
			close(proxy.open)
			if err := <-done; err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("file differs")
			}
		})
	}
}

// askedStore is a provider's store that closes asked once chunk watch has
// been asked for and not served.
type askedStore struct {
	*store.Store
	watch chunk.CID
	asked chan struct{}
	once  sync.Once
}

func (s *askedStore) Get(c chunk.CID, buf []byte) ([]byte, error) {
	b, err := s.Store.Get(c, buf)
	if err != nil && c == s.watch {
		s.once.Do(func() { close(s.asked) })
	}
	return b, err
}

// GetFramed is how a provider serves a GET from a *store.Store (the
// embedded method would skip Get's watch).
func (s *askedStore) GetFramed(c chunk.CID, room int, buf []byte, send func(frame []byte) error) ([]byte, error) {
	b, err := s.Store.GetFramed(c, room, buf, send)
	if err != nil && c == s.watch {
		s.once.Do(func() { close(s.asked) })
	}
	return b, err
}
