package transport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// rawStream opens a storage stream from a to b without the client, to send
// malformed frames: it names no market session (SESSION, empty) and reads
// the provider's OK.
func rawStream(t *testing.T, a, b *transport.Host) network.Stream {
	t.Helper()
	s := rawProtoStream(t, a, b, transport.StorageProtocol)
	if typ, body, err := readAnswer(t, s); err != nil || typ != fOK || len(body) != 0 {
		t.Fatalf("SESSION answered %#x %q: %v", typ, body, err)
	}
	return s
}

// rawProtoStream opens a stream for proto from a to b without the client;
// on the storage and bandwidth protocols it sends the SESSION frame that
// opens the stream (empty: no market session).
func rawProtoStream(t *testing.T, a, b *transport.Host, proto protocol.ID) network.Stream {
	t.Helper()
	s := rawSessionStream(t, a, b, proto)
	if proto == transport.StorageProtocol || proto == transport.BandwidthProtocol {
		send(t, s, frameOf(fSession))
	}
	return s
}

// rawSessionStream opens a stream for proto from a to b and sends nothing.
func rawSessionStream(t *testing.T, a, b *transport.Host, proto protocol.ID) network.Stream {
	t.Helper()
	connect(t, a, b)
	s, err := a.LibP2P().NewStream(t.Context(), b.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s
}

// Frame types, as the wire carries them (see the protocols' docs).
const (
	fPay     byte = 0x10
	fSession byte = 0x11
	fConnect byte = 0x20
	fData    byte = 0x21
	fEOF     byte = 0x22
	fWant    byte = 0x23
	fInfer   byte = 0x30
	fChunk   byte = 0x31
	fOK      byte = 0x80
	fErr     byte = 0x82
	fNeedPay byte = 0x83
	fCredit  byte = 0x84
	fGrant   byte = 0x88
)

// frameOf encodes one frame: length (type included), type, body.
func frameOf(typ byte, body ...[]byte) []byte {
	n := 1
	for _, b := range body {
		n += len(b)
	}
	out := append(binary.BigEndian.AppendUint32(nil, uint32(n)), typ)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// send writes raw bytes to s.
func send(t *testing.T, s network.Stream, parts ...[]byte) {
	t.Helper()
	_ = s.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for _, p := range parts {
		if _, err := s.Write(p); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

// readRemoteErr reads the provider's frames up to its ERR frame, skipping
// frames of the types in skip, and returns the error the frame carries. It
// fails the test on any other frame, or if the stream ends first.
func readRemoteErr(t *testing.T, s network.Stream, skip ...byte) error {
	t.Helper()
	for range 1000 {
		typ, body, err := readAnswer(t, s)
		if err != nil {
			t.Fatalf("stream ended without an ERR frame: %v", err)
		}
		if typ == fErr {
			if len(body) == 0 {
				t.Fatal("empty ERR frame")
			}
			return &transport.RemoteError{Code: body[0], Msg: string(body[1:])}
		}
		if !slices.Contains(skip, typ) {
			t.Fatalf("frame %#x %q where ERR was due", typ, body)
		}
	}
	t.Fatal("no ERR frame in 1000 frames")
	return nil
}

// expectEnd checks that the remote ends s (closes or resets it) within a
// few seconds, with nothing more sent, and returns how long it took.
func expectEnd(t *testing.T, s network.Stream) time.Duration {
	t.Helper()
	start := time.Now()
	typ, body, err := readAnswer(t, s)
	if err == nil {
		t.Fatalf("stream still open: frame %#x %q", typ, body)
	}
	if isTimeout(err) {
		t.Fatalf("stream not ended after %v: %v", time.Since(start), err)
	}
	return time.Since(start)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// logRecorder is a slog.Handler that keeps each record's message and "err"
// attribute, to check what a provider logs when a session ends.
type logRecorder struct {
	mu     sync.Mutex
	recs   []loggedErr
	logged chan struct{} // closed and replaced at each record
}

type loggedErr struct {
	msg string
	err error
}

// newLogRecorder returns a recorder and the option that makes a host log to it.
func newLogRecorder() (*logRecorder, transport.Option) {
	l := &logRecorder{logged: make(chan struct{})}
	return l, transport.WithLogger(slog.New(l))
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := loggedErr{msg: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(error); ok && a.Key == "err" {
			rec.err = e
		}
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	close(l.logged)
	l.logged = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// wait returns the error of the first record logged with msg, waiting for
// one for a few seconds.
func (l *logRecorder) wait(t *testing.T, msg string) error {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		for _, r := range l.recs {
			if r.msg == msg {
				l.mu.Unlock()
				return r.err
			}
		}
		next := l.logged
		l.mu.Unlock()
		select {
		case <-next:
		case <-timeout.C:
			t.Fatalf("nothing logged as %q", msg)
		}
	}
}

// readAnswer reads the provider's next frame, or the stream's end.
func readAnswer(t *testing.T, s network.Stream) (typ byte, body []byte, err error) {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > 16<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes from the provider", n)
	}
	body = make([]byte, n-1)
	_, err = io.ReadFull(s, body)
	return hdr[4], body, err
}

func TestStorageBadFrames(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		// wantErr: the provider answers ERR; otherwise it drops the stream.
		wantErr bool
	}{
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 64<<20), true},
		{"empty frame", binary.BigEndian.AppendUint32(nil, 0), true},
		{"short request", append(binary.BigEndian.AppendUint32(nil, 4), 0x02, 1, 2, 3), true},
		{"unknown type", append(binary.BigEndian.AppendUint32(nil, 33), append([]byte{0x7f}, make([]byte, 32)...)...), true},
		{"payment outside pause", append(binary.BigEndian.AppendUint32(nil, 33), append([]byte{0x10}, make([]byte, 32)...)...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov, st := newProvider(t, 0, nil)
			s := rawStream(t, newHost(t), prov)
			if _, err := s.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			typ, body, err := readAnswer(t, s)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if typ != 0x82 {
				t.Fatalf("answer %#x %q, want ERR", typ, body)
			}
			// The provider ends the stream after a malformed frame.
			if _, _, err := readAnswer(t, s); err == nil {
				t.Fatal("stream still open after malformed frame")
			}
			if st.Used() != 0 {
				t.Fatal("something was stored")
			}
		})
	}
}

func TestStorageTruncatedPutKeepsNothing(t *testing.T) {
	prov, st := newProvider(t, 0, nil)
	s := rawStream(t, newHost(t), prov)
	data := bytes.Repeat([]byte{1}, 100000)
	c := chunk.Sum(data)
	frame := binary.BigEndian.AppendUint32(nil, uint32(1+32+len(data)))
	frame = append(frame, 0x01)
	frame = append(frame, c[:]...)
	frame = append(frame, data[:50000]...) // half the body, then EOF
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	if _, _, err := readAnswer(t, s); err == nil {
		t.Fatal("truncated put was answered")
	}
	if st.Used() != 0 {
		t.Fatalf("stored %d bytes of a truncated put", st.Used())
	}
	if ok, _ := st.Has(c); ok {
		t.Fatal("truncated chunk present")
	}
}

func TestStorageStalledBuyer(t *testing.T) {
	// A buyer that sends half a frame and stops is cut off within the
	// provider's stream timeout.
	prov, st := newProvider(t, 0, nil, transport.WithTimeouts(300*time.Millisecond, time.Second, 0))
	s := rawStream(t, newHost(t), prov)
	frame := append(binary.BigEndian.AppendUint32(nil, 1000), 0x01, 1, 2, 3)
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err := readAnswer(t, s)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("stalled buyer: %v after %v", err, time.Since(start))
	}
	if st.Used() != 0 {
		t.Fatal("stored bytes from a stalled put")
	}
}

func TestStorageStalledProvider(t *testing.T) {
	// A "provider" that accepts the stream and never answers.
	prov := newHost(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	prov.LibP2P().SetStreamHandler(transport.StorageProtocol, func(s network.Stream) {
		<-block
		_ = s.Reset()
	})
	buyer := newHost(t, transport.WithTimeouts(300*time.Millisecond, 0, 0))
	pid := connect(t, buyer, prov)
	start := time.Now()
	_, err := buyer.Storage(pid, nil).Get(t.Context(), chunk.CID{1}, nil)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("stalled provider: %v after %v", err, time.Since(start))
	}
}

func TestStorageRemoteErrors(t *testing.T) {
	prov, _ := newProvider(t, 20000, nil)
	buyer := newHost(t)
	sc := buyer.Storage(connect(t, buyer, prov), nil)
	ctx := t.Context()
	a := bytes.Repeat([]byte{1}, 15000)
	b := bytes.Repeat([]byte{2}, 15000)
	if err := sc.Put(ctx, chunk.Sum(a), a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"wrong cid on put", func() error { return sc.Put(ctx, chunk.Sum(a), b) }, transport.ErrCIDMismatch},
		{"quota full", func() error { return sc.Put(ctx, chunk.Sum(b), b) }, transport.ErrQuotaExceeded},
		{"unknown cid", func() error { _, err := sc.Get(ctx, chunk.Sum(b), nil); return err }, transport.ErrNotFound},
		{"prove unknown", func() error { _, err := sc.Prove(ctx, chunk.CID{9}, [32]byte{}); return err }, transport.ErrNotFound},
		{"chunk too large", func() error {
			big := make([]byte, chunk.MaxSize+chunk.Overhead+1)
			return sc.Put(ctx, chunk.Sum(big), big)
		}, transport.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// The session still works after remote errors.
	if ok, err := sc.Has(ctx, chunk.Sum(a)); err != nil || !ok {
		t.Fatalf("has after errors: %v %v", ok, err)
	}
}

func TestStorageMetering(t *testing.T) {
	gate := &meter.Gate{Initial: 10000, MaxStep: 1 << 20}
	prov, _ := newProvider(t, 0, gate)
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	data := randomBytes(t, 300*1024)
	payer := &meter.Payer{Step: 64 << 10}
	ref, _, err := buyer.Put(t.Context(), bytes.NewReader(data), []peer.ID{pid}, transport.PutOptions{ChunkSize: chunk.MinSize * 4, Payer: payer})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := buyer.Get(t.Context(), ref, &out, transport.GetOptions{Payer: payer}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("data differs")
	}
	paid, n := payer.Paid()
	if n == 0 || gate.Paid() != paid {
		t.Fatalf("payer paid %d in %d steps, gate got %d", paid, n, gate.Paid())
	}
	// Without a payer, a session with no credit left stops at the pause point.
	broke := newHost(t)
	bpid := connect(t, broke, prov)
	_, _, err = broke.Put(t.Context(), bytes.NewReader(data), []peer.ID{bpid}, transport.PutOptions{ChunkSize: chunk.MinSize * 4})
	if !errors.Is(err, transport.ErrPaymentRefused) {
		t.Fatalf("unpaid put: %v", err)
	}
	// A payer whose tokens the gate refuses gets a clear error.
	_, _, err = broke.Put(t.Context(), bytes.NewReader(data), []peer.ID{bpid}, transport.PutOptions{ChunkSize: chunk.MinSize * 4, Payer: &meter.Payer{Step: 2 << 20}})
	if !errors.Is(err, transport.ErrPaymentRefused) {
		t.Fatalf("refused token: %v", err)
	}
}

// TestStorageIdleStreamClosedByProvider: a pooled storage stream that the
// provider ended while it sat idle (its idle timeout) is not reused: the
// next request goes over a new stream and succeeds, over TCP (yamux) and
// QUIC alike.
func TestStorageIdleStreamClosedByProvider(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prov, _ := newProvider(t, 0, nil, transport.WithListenAddrs(tc.listen), transport.WithTimeouts(0, 200*time.Millisecond, 0))
			buyer := newHost(t, transport.WithListenAddrs(tc.listen))
			sc := buyer.Storage(connect(t, buyer, prov), nil)
			ctx := t.Context()
			a := bytes.Repeat([]byte{1}, 15000)
			b := bytes.Repeat([]byte{2}, 15000)
			if err := sc.Put(ctx, chunk.Sum(a), a); err != nil {
				t.Fatal(err)
			}
			// The stream is back in the pool; the provider gives up on it.
			time.Sleep(600 * time.Millisecond)
			for i, step := range []func() error{
				func() error { return sc.Put(ctx, chunk.Sum(b), b) },
				func() error { _, err := sc.Get(ctx, chunk.Sum(a), nil); return err },
			} {
				if err := step(); err != nil {
					t.Fatalf("request %d after the provider closed the idle stream: %v", i, err)
				}
			}
		})
	}
}

// TestRefusedPutNotCharged (issue 12, point 4): a put the provider refuses
// (wrong CID, over quota) uses none of the units the buyer paid for at its
// pause point: they stay the buyer's credit, and the next put that is
// stored is paid with them, no new payment.
func TestRefusedPutNotCharged(t *testing.T) {
	gate := &meter.Gate{MaxStep: 1 << 20}
	prov, _ := newProvider(t, 20000, gate)
	buyer := newHost(t)
	payer := &needRecorder{p: &meter.Payer{Step: 1}} // pays exactly what each put lacks
	sc := buyer.Storage(connect(t, buyer, prov), payer)
	ctx := t.Context()
	a := bytes.Repeat([]byte{1}, 15000)
	b := bytes.Repeat([]byte{2}, 15000)
	c := bytes.Repeat([]byte{3}, 4000)
	if err := sc.Put(ctx, chunk.Sum(a), a); err != nil {
		t.Fatal(err)
	}
	if err := sc.Put(ctx, chunk.Sum(a), b); !errors.Is(err, transport.ErrCIDMismatch) {
		t.Fatalf("wrong CID: %v", err)
	}
	if err := sc.Put(ctx, chunk.Sum(b), b); !errors.Is(err, transport.ErrQuotaExceeded) {
		t.Fatalf("over quota: %v", err)
	}
	paid := payer.needed()
	if err := sc.Put(ctx, chunk.Sum(c), c); err != nil {
		t.Fatal(err)
	}
	// (A payment ahead, which the provider may ask for once a put is
	// stored, is not a charge: only what a pause point needed counts.)
	if after := payer.needed(); after != paid {
		t.Fatalf("put after two refused puts needed %d more units: the refused puts were charged", after-paid)
	}
	if paid > uint64(len(a)+2*len(b)) {
		t.Fatalf("paid %d units for puts of %d bytes", paid, len(a)+2*len(b))
	}
}

// needRecorder is a payer that sums the units its pause points needed
// (Invoice.Need), leaving out payments ahead.
type needRecorder struct {
	p   transport.Payer
	mu  sync.Mutex
	sum uint64
}

func (r *needRecorder) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	r.mu.Lock()
	r.sum += inv.Need
	r.mu.Unlock()
	return r.p.Pay(ctx, inv)
}

func (r *needRecorder) needed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}
