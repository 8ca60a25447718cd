package transport_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// rawStream opens a storage stream from a to b without the client, to send
// malformed frames.
func rawStream(t *testing.T, a, b *transport.Host) network.Stream {
	t.Helper()
	connect(t, a, b)
	s, err := a.LibP2P().NewStream(t.Context(), b.ID(), transport.StorageProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s
}

// readErrFrame reads the provider's answer, which must be an ERR frame, or
// the stream's end.
func readAnswer(t *testing.T, s network.Stream) (typ byte, body []byte, err error) {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
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
