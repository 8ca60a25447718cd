package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// LANProtocol carries nips LAN messages between peers of one LAN: one
// request (a pushed event or a query) and one answer per stream, each a
// single frame of type lanFrame holding the JSON message.
const LANProtocol = "/sovmesh/lan/1.0.0"

const (
	lanFrame = 'L'
	// lanTimeout bounds a whole LAN exchange (open, request, answer).
	lanTimeout = 5 * time.Second
	// lanPerPeer and lanTotal bound the LAN requests served at once, per
	// peer and in all: more are reset unread.
	lanPerPeer = 4
	lanTotal   = 32
)

// ErrLANRefused means the peer refused a pushed event; the error says why.
var ErrLANRefused = errors.New("transport: LAN event refused")

// LANHandler answers LAN requests. from is the sender's Nostr pubkey
// (proved by the connection's handshake).
type LANHandler interface {
	// LANEvent takes an event pushed to us. Its error (NIP-01 prefixed)
	// goes back to the sender.
	LANEvent(ctx context.Context, from string, ev *nostr.Event) error
	// LANQuery returns our own events matching f (at most
	// nips.MaxLANEvents).
	LANQuery(ctx context.Context, from string, f nostr.Filter) []*nostr.Event
}

// ServeLAN answers the LAN protocol with h.
func (t *Host) ServeLAN(h LANHandler) {
	var mu sync.Mutex
	busy := map[peer.ID]int{}
	total := 0
	t.h.SetStreamHandler(LANProtocol, func(s network.Stream) {
		p := s.Conn().RemotePeer()
		mu.Lock()
		if busy[p] >= lanPerPeer || total >= lanTotal {
			mu.Unlock()
			_ = s.Reset()
			return
		}
		busy[p]++
		total++
		mu.Unlock()
		t.wg.Add(1)
		defer func() {
			mu.Lock()
			busy[p]--
			if busy[p] == 0 {
				delete(busy, p)
			}
			total--
			mu.Unlock()
			t.wg.Done()
		}()
		t.serveLAN(s, p, h)
	})
}

func (t *Host) serveLAN(s network.Stream, p peer.ID, h LANHandler) {
	from, err := NostrPubkeyFromPeerID(p)
	if err != nil {
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, lanTimeout)
	defer cancel()
	c := newConn(s, nips.MaxLANMessage+1, lanTimeout)
	stop := c.watch(ctx)
	defer stop()
	typ, body, err := c.read(lanTimeout)
	if err != nil || typ != lanFrame {
		t.log.Debug("lan request unreadable", "peer", p, "err", err)
		_ = s.Reset()
		return
	}
	m, err := nips.ParseLANMessage(body)
	var ans nips.LANMessage
	switch {
	case err != nil:
		ans = nips.LANMessage{Type: nips.LANOK, Reason: "invalid: " + err.Error()}
	case m.Type == nips.LANEvent:
		ans = nips.LANMessage{Type: nips.LANOK, OK: true}
		if err := h.LANEvent(ctx, from, m.Event); err != nil {
			ans = nips.LANMessage{Type: nips.LANOK, Reason: err.Error()}
		}
	case m.Type == nips.LANReq:
		evs := h.LANQuery(ctx, from, *m.Filter)
		if len(evs) > nips.MaxLANEvents {
			evs = evs[:nips.MaxLANEvents]
		}
		ans = nips.LANMessage{Type: nips.LANEvents, Events: evs}
	default:
		ans = nips.LANMessage{Type: nips.LANOK, Reason: "invalid: not a request"}
	}
	if len(ans.Reason) > 400 {
		ans.Reason = ans.Reason[:400]
	}
	out, err := ans.Encode()
	for err != nil && len(ans.Events) > 0 {
		// Over the message size: answer with fewer events.
		ans.Events = ans.Events[:len(ans.Events)/2]
		out, err = ans.Encode()
	}
	if err != nil {
		_ = s.Reset()
		return
	}
	if err := c.write(lanFrame, out); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// lanRequest sends m to the peer of Nostr pubkey to and reads its answer.
func (t *Host) lanRequest(ctx context.Context, to string, m nips.LANMessage) (nips.LANMessage, error) {
	id, err := PeerIDFromNostrPubkey(to)
	if err != nil {
		return nips.LANMessage{}, err
	}
	body, err := m.Encode()
	if err != nil {
		return nips.LANMessage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, lanTimeout)
	defer cancel()
	s, err := t.newStream(ctx, id, LANProtocol)
	if err != nil {
		return nips.LANMessage{}, err
	}
	defer s.Close()
	c := newConn(s, nips.MaxLANMessage+1, lanTimeout)
	stop := c.watch(ctx)
	defer stop()
	if err := c.write(lanFrame, body); err != nil {
		_ = s.Reset()
		return nips.LANMessage{}, fmt.Errorf("transport: lan send to %s: %w", to, err)
	}
	_ = s.CloseWrite()
	typ, ans, err := c.read(lanTimeout)
	if err != nil || typ != lanFrame {
		_ = s.Reset()
		return nips.LANMessage{}, fmt.Errorf("transport: lan answer from %s: %w", to, errors.Join(err, ErrProtocol))
	}
	a, err := nips.ParseLANMessage(ans)
	if err != nil {
		return nips.LANMessage{}, fmt.Errorf("transport: lan answer from %s: %w", to, err)
	}
	return a, nil
}

// PushLAN sends ev to the LAN peer of Nostr pubkey to (already connected,
// or found by mDNS), which checks it as a relay would.
func (t *Host) PushLAN(ctx context.Context, to string, ev *nostr.Event) error {
	a, err := t.lanRequest(ctx, to, nips.LANMessage{Type: nips.LANEvent, Event: ev})
	if err != nil {
		return err
	}
	if a.Type != nips.LANOK {
		return fmt.Errorf("transport: lan answer from %s: %w: %s instead of OK", to, ErrProtocol, a.Type)
	}
	if !a.OK {
		return fmt.Errorf("%w by %s: %s", ErrLANRefused, to, strings.ToValidUTF8(a.Reason, "?"))
	}
	return nil
}

// QueryLAN asks the LAN peer of Nostr pubkey from for its own events
// matching f. Events are returned unverified: check them with
// nips.CheckLANEvent.
func (t *Host) QueryLAN(ctx context.Context, from string, f nostr.Filter) ([]*nostr.Event, error) {
	a, err := t.lanRequest(ctx, from, nips.LANMessage{Type: nips.LANReq, Filter: &f})
	if err != nil {
		return nil, err
	}
	if a.Type != nips.LANEvents {
		return nil, fmt.Errorf("transport: lan answer from %s: %w: %s instead of EVENTS", from, ErrProtocol, a.Type)
	}
	return a.Events, nil
}

// LANPeers returns the Nostr pubkeys of the peers connected now.
func (t *Host) LANPeers() []string {
	var out []string
	for _, p := range t.h.Network().Peers() {
		if pk, err := NostrPubkeyFromPeerID(p); err == nil {
			out = append(out, pk)
		}
	}
	return out
}
