package transport_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// Market session ids as the buyer names them (hex of 32 bytes).
var (
	sessA = strings.Repeat("a1", 32)
	sessB = strings.Repeat("b2", 32)
	sessX = strings.Repeat("ee", 32) // the provider does not know it
)

// sessionGate is a counting gate that knows the market sessions in open
// (anything else is refused with ErrSessionRefused, as agentd's gate does)
// and books what each stream used to the session it named.
type sessionGate struct {
	*meter.Gate
	open map[string]bool

	mu     sync.Mutex
	opened map[string]int    // streams opened per session
	used   map[string]uint64 // units used per session
	paid   map[string]uint64 // units redeemed per session
	closed chan struct{}     // closed and replaced at each stream's Close
}

func newSessionGate(open ...string) *sessionGate {
	g := &sessionGate{Gate: &meter.Gate{MaxStep: 1 << 20}, open: map[string]bool{}, opened: map[string]int{},
		used: map[string]uint64{}, paid: map[string]uint64{}, closed: make(chan struct{})}
	for _, s := range open {
		g.open[s] = true
	}
	return g
}

func (g *sessionGate) Open(ctx context.Context, s transport.Session) (uint64, error) {
	if s.Market != "" && !g.open[s.Market] {
		return 0, transport.ErrSessionRefused
	}
	g.mu.Lock()
	g.opened[s.Market]++
	g.mu.Unlock()
	return g.Gate.Open(ctx, s)
}

func (g *sessionGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	u, err := g.Gate.Redeem(ctx, s, tok)
	g.mu.Lock()
	g.paid[s.Market] += u
	g.mu.Unlock()
	return u, err
}

func (g *sessionGate) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	g.mu.Lock()
	g.used[s.Market] += u.Units
	close(g.closed)
	g.closed = make(chan struct{})
	g.mu.Unlock()
	g.Gate.Close(ctx, s, u)
}

// awaitUsed waits until cond holds of the units used per session (checked
// after each stream's Close), or the test ends.
func (g *sessionGate) awaitUsed(t *testing.T, cond func(opened map[string]int, used map[string]uint64) bool) {
	t.Helper()
	for {
		g.mu.Lock()
		next := g.closed
		g.mu.Unlock()
		opened, used, _ := g.snapshot()
		if cond(opened, used) {
			return
		}
		select {
		case <-next:
		case <-t.Context().Done():
			t.Fatalf("streams not closed: used %v", used)
		}
	}
}

func (g *sessionGate) snapshot() (opened map[string]int, used, paid map[string]uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	opened, used, paid = map[string]int{}, map[string]uint64{}, map[string]uint64{}
	for k, v := range g.opened {
		opened[k] = v
	}
	for k, v := range g.used {
		used[k] = v
	}
	for k, v := range g.paid {
		paid[k] = v
	}
	return opened, used, paid
}

// sessionPayer is a counting payer whose streams name session market.
type sessionPayer struct {
	*meter.Payer
	market string
}

func (p sessionPayer) MarketSession(peer.ID) string { return p.market }

// TestStorageStreamsBookedToTheirSession: streams of two market sessions
// of one buyer, used at once, are paid and booked each to the session it
// names (separate credit accounts), and streams naming no session are
// walk-ins.
func TestStorageStreamsBookedToTheirSession(t *testing.T) {
	gate := newSessionGate(sessA, sessB)
	prov, _ := newProvider(t, 0, gate)
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	ctx := ctxTimeout(t, 30*time.Second)
	sizes := map[string]int{sessA: 3000, sessB: 7000, "": 500}
	var wg sync.WaitGroup
	errs := make(chan error, len(sizes)*4)
	for market, size := range sizes {
		sc := buyer.Storage(pid, sessionPayer{Payer: &meter.Payer{Step: 1000}, market: market})
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := []byte(strings.Repeat(string(rune('a'+i)), size) + market)
				errs <- sc.Put(ctx, chunk.Sum(data), data)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Streams are recorded when they close.
	if err := buyer.Close(); err != nil {
		t.Fatal(err)
	}
	gate.awaitUsed(t, func(opened map[string]int, used map[string]uint64) bool {
		return len(opened) == 3 && used[sessA] > 0 && used[sessB] > 0 && used[""] > 0
	})
	_, used, paid := gate.snapshot()
	for market, size := range sizes {
		want := uint64(4 * (size + len(market)))
		if used[market] != want {
			t.Errorf("session %q: used %d units, want %d (its own puts)", market, used[market], want)
		}
		if paid[market] < want {
			t.Errorf("session %q: %d units paid for %d used", market, paid[market], want)
		}
	}
}

// TestSessionRefused: a stream naming a session the provider's gate
// refuses (unknown, another buyer's, closed) gets ErrSessionRefused before
// any request, on storage and bandwidth; nothing is booked.
func TestSessionRefused(t *testing.T) {
	gate := newSessionGate(sessA)
	prov, st := newProvider(t, 0, gate)
	prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	ctx := ctxTimeout(t, 10*time.Second)
	payer := sessionPayer{Payer: &meter.Payer{Step: 1000}, market: sessX}
	data := []byte("refused")
	err := buyer.Storage(pid, payer).Put(ctx, chunk.Sum(data), data)
	if !errors.Is(err, transport.ErrSessionRefused) {
		t.Fatalf("storage put in an unknown session: %v, want ErrSessionRefused", err)
	}
	if st.Used() != 0 {
		t.Fatalf("stored %d bytes in a refused session", st.Used())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = buyer.DialBandwidth(ctx, pid, ln.Addr().String(), payer)
	if !errors.Is(err, transport.ErrSessionRefused) {
		t.Fatalf("bandwidth in an unknown session: %v, want ErrSessionRefused", err)
	}
	// A malformed session id never leaves the buyer.
	_, err = buyer.DialBandwidth(ctx, pid, ln.Addr().String(), sessionPayer{Payer: &meter.Payer{Step: 1000}, market: "zz"})
	if !errors.Is(err, transport.ErrBadRequest) {
		t.Fatalf("bandwidth with a malformed session id: %v, want ErrBadRequest", err)
	}
	if opened, _, _ := gate.snapshot(); len(opened) != 0 {
		t.Fatalf("gate opened streams %v for refused sessions", opened)
	}
}

// TestSessionFrameBadInput: the frame that opens a storage or bandwidth
// stream must be a well-formed SESSION; anything else gets ERR
// ErrBadRequest naming the problem, and the stream is closed.
func TestSessionFrameBadInput(t *testing.T) {
	prov, _ := newProvider(t, 0, newSessionGate())
	prov.ServeBandwidth(transport.BandwidthConfig{AllowPrivateTargets: true})
	buyer := newHost(t)
	tests := []struct {
		name  string
		proto string
		send  []byte
		msg   string
	}{
		{"storage request first", "storage", frameOf(0x01, make([]byte, 40)), "want SESSION first"},
		{"storage session of 5 bytes", "storage", frameOf(fSession, make([]byte, 5)), "SESSION frame of 5 bytes"},
		{"storage session of 33 bytes", "storage", frameOf(fSession, make([]byte, 33)), "SESSION frame of 33 bytes"},
		{"bandwidth CONNECT first", "bandwidth", frameOf(fConnect, []byte("127.0.0.1:1")), "want SESSION first"},
		{"bandwidth session of 31 bytes", "bandwidth", frameOf(fSession, make([]byte, 31)), "SESSION frame of 31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto := transport.StorageProtocol
			if tt.proto == "bandwidth" {
				proto = transport.BandwidthProtocol
			}
			s := rawSessionStream(t, buyer, prov, proto)
			send(t, s, tt.send)
			if tt.proto == "bandwidth" && !strings.Contains(tt.msg, "want SESSION") {
				send(t, s, frameOf(fConnect, []byte("127.0.0.1:1")))
			}
			typ, body, err := readAnswer(t, s)
			if err != nil || typ != fErr {
				t.Fatalf("answered %#x %q: %v", typ, body, err)
			}
			rerr := &transport.RemoteError{Code: body[0], Msg: string(body[1:])}
			if !errors.Is(rerr, transport.ErrBadRequest) || !strings.Contains(rerr.Msg, tt.msg) {
				t.Fatalf("answered %v, want ErrBadRequest naming %q", rerr, tt.msg)
			}
		})
	}
}

// TestEndSessionReleasesAccount: a buyer done with a session closes its
// idle storage streams, so the provider ends the session's account (and
// records its usage, keeping unused credit for the buyer) without waiting
// for the streams' idle timeout; the buyer's other sessions are untouched.
func TestEndSessionReleasesAccount(t *testing.T) {
	gate := newSessionGate(sessA, sessB)
	prov, _ := newProvider(t, 0, gate)
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	ctx := ctxTimeout(t, 10*time.Second)
	for _, market := range []string{sessA, sessB} {
		data := []byte("chunk of " + market)
		if err := buyer.Storage(pid, sessionPayer{Payer: &meter.Payer{Step: 1000}, market: market}).Put(ctx, chunk.Sum(data), data); err != nil {
			t.Fatal(err)
		}
	}
	buyer.EndSession(pid, sessA)
	gate.awaitUsed(t, func(_ map[string]int, used map[string]uint64) bool { return used[sessA] > 0 })
	_, used, _ := gate.snapshot()
	if want := uint64(len("chunk of " + sessA)); used[sessA] != want || used[sessB] != 0 {
		t.Fatalf("usage recorded %v, want %d for the ended session only", used, want)
	}
	// The ended session's storage is reachable again on a fresh stream.
	data := []byte("again")
	if err := buyer.Storage(pid, sessionPayer{Payer: &meter.Payer{Step: 1000}, market: sessA}).Put(ctx, chunk.Sum(data), data); err != nil {
		t.Fatal(err)
	}
}
