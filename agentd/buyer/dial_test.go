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
	manet "github.com/multiformats/go-multiaddr/net"

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
	from     []string // each accepted connection's remote address, and whether it ended
}

// report lists the connections accepted: from where, and which ended.
func (s *standIn) report() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.from...)
}

// holdAddr starts a standIn on a new loopback port; it stops with the
// test.
func holdAddr(t *testing.T) (*standIn, ma.Multiaddr) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stand-in: %v", err)
	}
	addr, err := manet.FromNetAddr(ln.Addr())
	if err != nil {
		t.Fatal(err)
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
			i := len(s.from)
			s.from = append(s.from, c.RemoteAddr().String())
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, _ = io.Copy(io.Discard, c) // until the dialler ends it, or Cleanup
				s.ended.Add(1)
				s.mu.Lock()
				s.from[i] += " (ended)"
				s.mu.Unlock()
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
	return s, addr
}

// watchWriter records, at each write, how many connections the stand-in
// had accepted and how many of them had ended by then.
type watchWriter struct {
	buf             bytes.Buffer
	s               *standIn
	accepted, ended int32 // at the last write
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.ended = w.s.ended.Load()
	w.accepted = w.s.accepted.Load()
	return w.buf.Write(p)
}

// TestGetDoesNotWaitOnDeadProvider: a file on 3 providers (2+1) whose
// first provider dies, an address of it held by a stand-in that accepts
// and never answers, and the buyer's dial timeout set long: the get dials the
// dead provider and writes the whole file from the two others while that
// dial is still held (the stand-in holds a connection open), never waiting
// for it to fail.
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
	dead.Kill()
	// The dead provider's own port refuses; a second address of it, which
	// the buyer learns too, accepts and never answers (as a dead host's
	// QUIC port, or any address of a host gone off the network).
	hold, addr := holdAddr(t)
	bn.Host.AddAddrs(deadID, []ma.Multiaddr{addr}, time.Hour)
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
	// A dial to the dead provider was still held when the get wrote its
	// last bytes: the get did not wait for it to fail. (Counting open
	// connections, not ended ones: a dial by anything else on the machine
	// that reaches the stand-in's port and gives up does not count.)
	t.Logf("at the last write: %d accepted, %d ended; connections from %v", w.accepted, w.ended, hold.report())
	if w.accepted-w.ended < 1 {
		t.Fatalf("when the get wrote its last bytes, no dial to the dead provider was held (%d accepted, %d ended): it waited for them to fail; connections from %v, the buyer listens on %v",
			w.accepted, w.ended, hold.report(), bn.Host.ListenAddrs())
	}
}
