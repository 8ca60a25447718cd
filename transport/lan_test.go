package transport_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// lanKeeper is a LANHandler that keeps what it is pushed and answers
// queries with its events.
type lanKeeper struct {
	mu     sync.Mutex
	got    []*nostr.Event
	from   []string
	refuse string
	own    []*nostr.Event
}

func (k *lanKeeper) LANEvent(_ context.Context, from string, ev *nostr.Event) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refuse != "" {
		return errors.New(k.refuse)
	}
	k.got, k.from = append(k.got, ev), append(k.from, from)
	return nil
}

func (k *lanKeeper) LANQuery(_ context.Context, _ string, f nostr.Filter) []*nostr.Event {
	var out []*nostr.Event
	for _, ev := range k.own {
		if f.Matches(ev) {
			out = append(out, ev)
		}
	}
	return out
}

func TestLANPushAndQuery(t *testing.T) {
	a, b := newHost(t), newHost(t)
	own := &nostr.Event{Kind: nips.KindOffer, Content: "offer", Tags: nostr.Tags{}}
	k := &lanKeeper{own: []*nostr.Event{own, {Kind: nips.KindPresence, Tags: nostr.Tags{}}}}
	b.ServeLAN(k)
	connect(t, a, b)
	if got := a.LANPeers(); len(got) != 1 || got[0] != b.NostrPubkey() {
		t.Fatalf("LAN peers %v, want %s", got, b.NostrPubkey())
	}
	ev := &nostr.Event{Kind: nips.KindBid, Content: "bid", Tags: nostr.Tags{{"p", b.NostrPubkey()}}}
	if err := a.PushLAN(t.Context(), b.NostrPubkey(), ev); err != nil {
		t.Fatal(err)
	}
	if len(k.got) != 1 || k.got[0].Content != "bid" || k.from[0] != a.NostrPubkey() {
		t.Fatalf("pushed %v from %v", k.got, k.from)
	}
	k.refuse = "invalid: not for us"
	if err := a.PushLAN(t.Context(), b.NostrPubkey(), ev); !errors.Is(err, transport.ErrLANRefused) || !strings.Contains(err.Error(), "invalid: not for us") {
		t.Fatalf("refused push: %v", err)
	}
	evs, err := a.QueryLAN(t.Context(), b.NostrPubkey(), nostr.Filter{Kinds: []int{nips.KindOffer}})
	if err != nil || len(evs) != 1 || evs[0].Content != "offer" {
		t.Fatalf("query: %v %v", evs, err)
	}
}

// TestLANHostilePeer: malformed, oversized and stalled requests get a
// refusal or a reset, bounded in time, and the host keeps serving others.
func TestLANHostilePeer(t *testing.T) {
	a, b, c := newHost(t), newHost(t), newHost(t)
	k := &lanKeeper{}
	b.ServeLAN(k)
	t.Run("malformed", func(t *testing.T) {
		for _, body := range []string{`{"type":"EVENT"}`, `not json`, `{"type":"REQ","filter":{"kinds":[` + strings.Repeat("1,", 500) + `1]}}`} {
			s := rawSessionStream(t, a, b, transport.LANProtocol)
			send(t, s, frameOf('L', []byte(body)))
			typ, ans, err := readAnswer(t, s)
			if err != nil || typ != 'L' {
				t.Fatalf("%q answered %#x: %v", body, typ, err)
			}
			m, err := nips.ParseLANMessage(ans)
			if err != nil || m.Type != nips.LANOK || m.OK || !strings.HasPrefix(m.Reason, "invalid:") {
				t.Fatalf("%q answered %+v (%v)", body, m, err)
			}
		}
	})
	t.Run("oversized", func(t *testing.T) {
		s := rawSessionStream(t, a, b, transport.LANProtocol)
		var hdr [5]byte
		binary.BigEndian.PutUint32(hdr[:4], 64<<20)
		hdr[4] = 'L'
		send(t, s, hdr[:])
		if _, _, err := readAnswer(t, s); err == nil {
			t.Fatal("a 64 MiB frame was answered")
		}
	})
	t.Run("wrong frame type", func(t *testing.T) {
		s := rawSessionStream(t, a, b, transport.LANProtocol)
		send(t, s, frameOf('X', []byte(`{"type":"OK"}`)))
		if _, _, err := readAnswer(t, s); err == nil {
			t.Fatal("a frame of another type was answered")
		}
	})
	t.Run("stalled streams do not block others", func(t *testing.T) {
		for range 8 { // over the per-peer bound: the extra ones are reset
			s := rawSessionStream(t, a, b, transport.LANProtocol)
			send(t, s, []byte{0, 0}) // half a length, then nothing
		}
		connect(t, c, b)
		ev := &nostr.Event{Kind: nips.KindBid, Tags: nostr.Tags{}}
		if err := c.PushLAN(t.Context(), b.NostrPubkey(), ev); err != nil {
			t.Fatalf("another peer's push while a stalls: %v", err)
		}
	})
}
