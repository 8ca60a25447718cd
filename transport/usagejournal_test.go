package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// journalGate is a meter.Gate that is a transport.UsageJournal: it keeps,
// per stream, the usage told at each pause point and the usage it closed
// with.
type journalGate struct {
	*meter.Gate
	mu       sync.Mutex
	told     map[string][]uint64
	redeems  map[string]int
	final    map[string]uint64
	closedCh chan struct{}
}

func newJournalGate() *journalGate {
	return &journalGate{Gate: &meter.Gate{}, told: map[string][]uint64{}, redeems: map[string]int{},
		final: map[string]uint64{}, closedCh: make(chan struct{}, 64)}
}

func (g *journalGate) Progress(_ context.Context, s transport.Session, u transport.Usage) {
	g.mu.Lock()
	g.told[s.ID] = append(g.told[s.ID], u.Units)
	g.mu.Unlock()
}

func (g *journalGate) Redeem(ctx context.Context, s transport.Session, tok []byte) (uint64, error) {
	g.mu.Lock()
	g.redeems[s.ID]++
	g.mu.Unlock()
	return g.Gate.Redeem(ctx, s, tok)
}

func (g *journalGate) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	g.mu.Lock()
	g.final[s.ID] = u.Units
	g.mu.Unlock()
	g.Gate.Close(ctx, s, u)
	g.closedCh <- struct{}{}
}

// TestUsageToldAtEachPausePoint: the provider tells a UsageJournal gate
// the stream's usage before each payment it redeems, so a gate booking it
// with the payment (agentd's metering) loses at most the usage since the
// last step when the provider is killed with the stream open. The usage
// told last is never more than two steps (a step paid ahead, half a step
// left when it was asked) behind the usage the stream closed with. On
// main no usage was told before Close.
func TestUsageToldAtEachPausePoint(t *testing.T) {
	const step = 128 << 10
	const size = 2 << 20
	data := make([]byte, size)
	_, _ = rand.Read(data)
	for _, c := range []struct {
		name string
		run  func(t *testing.T, gate *journalGate)
	}{
		{"a bandwidth download", func(t *testing.T, gate *journalGate) {
			target := tcpServer(t, func(c net.Conn) { _, _ = c.Write(data) })
			prov := newHost(t)
			prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
			buyer := newHost(t)
			conn, err := buyer.DialBandwidth(t.Context(), connect(t, buyer, prov), target, &meter.Payer{Step: step})
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(conn)
			if err != nil || len(got) != size {
				t.Fatalf("read %d bytes: %v", len(got), err)
			}
			_ = conn.Close()
		}},
		{"a storage put over parallel streams", func(t *testing.T, gate *journalGate) {
			prov, _ := newProvider(t, 0, gate)
			buyer := newHost(t)
			if _, _, err := buyer.Put(t.Context(), bytes.NewReader(data), []peer.ID{connect(t, buyer, prov)},
				transport.PutOptions{ChunkSize: 64 << 10, Streams: 4, Payer: &meter.Payer{Step: step}, AuditShards: -1}); err != nil {
				t.Fatal(err)
			}
			if err := prov.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gate := newJournalGate()
			c.run(t, gate)
			select {
			case <-gate.closedCh:
			case <-time.After(10 * time.Second):
				t.Fatal("the provider did not close the stream")
			}
			gate.mu.Lock()
			defer gate.mu.Unlock()
			paying := 0
			for id, final := range gate.final {
				told := gate.told[id]
				if len(told) != gate.redeems[id] {
					t.Fatalf("stream %s: usage told %d times for %d payments", id, len(told), gate.redeems[id])
				}
				if final == 0 { // a stream that carried nothing
					continue
				}
				if gate.redeems[id] < 4 {
					t.Fatalf("stream %s: %d payments for %d units in steps of %d", id, gate.redeems[id], final, step)
				}
				paying++
				for i := 1; i < len(told); i++ {
					if told[i] < told[i-1] {
						t.Fatalf("stream %s: usage told went down: %v", id, told)
					}
				}
				if last := told[len(told)-1]; last > final || final-last > 2*step {
					t.Fatalf("stream %s: usage told last %d, closed with %d (steps of %d)", id, last, final, step)
				}
			}
			if paying == 0 {
				t.Fatal("no stream carried the data")
			}
		})
	}
}
