package buyer

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/transport"
)

// standIn holds a dead provider's TCP address: it accepts connections and
// never answers (a host gone without refusing: hung, or its packets
// dropped), so a dial to it lasts until the dialler gives up. It counts the
// connections it accepted and those the dialler ended.
type standIn struct {
	accepted atomic.Int32
	ended    atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

// tcpAddr returns the provider p's TCP address (host:port).
func tcpAddr(t *testing.T, p *runningProvider) string {
	t.Helper()
	var hostport string
	for _, a := range p.Node.Host.Addrs() {
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil {
			continue
		}
		ip, err := a.ValueForProtocol(ma.P_IP4)
		if err != nil {
			continue
		}
		hostport = net.JoinHostPort(ip, port)
	}
	if hostport == "" {
		t.Fatalf("provider %s has no TCP address", p.Node.Key.Pubkey)
	}
	return hostport
}

// holdAddr starts a standIn on hostport, the TCP address of a provider
// that is dead (its listener closed); it stops with the test.
func holdAddr(t *testing.T, hostport string) *standIn {
	t.Helper()
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		t.Fatalf("stand-in on %s: %v", hostport, err)
	}
	s := &standIn{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(io.Discard, c) // until the dialler ends it, or Cleanup
				s.ended.Add(1)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// watchWriter records, at each write, how many of the stand-in's
// connections had ended by then.
type watchWriter struct {
	buf   bytes.Buffer
	s     *standIn
	ended int32 // at the last write
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.ended = w.s.ended.Load()
	return w.buf.Write(p)
}

// TestGetDoesNotWaitOnDeadProvider: a file on 3 providers (2+1) whose
// first provider dies, its address held by a stand-in that accepts and
// never answers, and the buyer's dial timeout set long: the get dials the
// dead provider (the stand-in accepts) and writes the whole file from the
// two others while that dial is still held, never waiting for it to fail.
func TestGetDoesNotWaitOnDeadProvider(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	var provs []*runningProvider
	for i, price := range []uint64{2_000_000, 3_000_000, 4_000_000} {
		provs = append(provs, startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(price), killable(i == 0)))
	}
	bn := net.NodeWith(t, "buyer", 5000, func(c *agentd.Config) { c.DialTimeout = 10 * time.Minute })
	b, err := New(ctx, bn, Config{StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+4321)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "blob.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Providers) != 3 || e.Providers[0] != provs[0].Node.Key.Pubkey {
		t.Fatalf("put on %v, want the cheapest provider first of 3", e.Providers)
	}
	dead := provs[0]
	deadID, err := transport.PeerIDFromNostrPubkey(dead.Node.Key.Pubkey)
	if err != nil {
		t.Fatal(err)
	}
	addr := tcpAddr(t, dead)
	dead.Kill()
	hold := holdAddr(t, addr)
	// The buyer has seen the put's connection to it close.
	for deadline := time.Now().Add(10 * time.Second); bn.Host.LibP2P().Network().Connectedness(deadID) == network.Connected; {
		if time.Now().After(deadline) {
			t.Fatal("the buyer still holds a connection to the killed provider")
		}
		time.Sleep(10 * time.Millisecond)
	}

	w := &watchWriter{s: hold}
	if _, err := b.Get(ctx, e.Root, w, nil); err != nil {
		t.Fatalf("get with a provider dead: %v", err)
	}
	if !bytes.Equal(w.buf.Bytes(), data) {
		t.Fatal("file differs")
	}
	if w.ended != 0 {
		t.Fatalf("the get wrote its last bytes after %d dials to the dead provider had ended: it waited on them", w.ended)
	}
	// It did dial the dead provider (the case under test happened).
	for deadline := time.Now().Add(10 * time.Second); hold.accepted.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the get never dialled the dead provider")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
