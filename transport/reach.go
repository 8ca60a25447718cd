package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// defaultDialTimeout bounds a dial started by reach when Config.DialTimeout
// is not set: libp2p's own bound for a public address.
const defaultDialTimeout = 15 * time.Second

// dialState is where reach's dial to one provider stands.
type dialState int8

const (
	dialPending dialState = iota // dialling
	dialUp                       // connected
	dialDown                     // the dial failed
)

// reach dials the providers of a file at once, concurrently, and tracks
// which have connected. A stripe is read from the providers that are up
// and never waits on one still dialling (a dead host's dial takes up to
// the dial timeout to fail) while those up hold enough of its shards to
// rebuild it; the one still dialling is used for later stripes once up.
type reach struct {
	mu      sync.Mutex
	state   map[peer.ID]dialState
	errs    map[peer.ID]error
	changed chan struct{} // closed at each change, then replaced
}

// dialAll starts a dial to each of peers not dialled by r yet (r nil: a
// new reach). A peer connected already is up at once. Each dial is bounded
// by the host's dial timeout; its goroutine is owned by wg and ends with
// ctx or with the dial.
func (t *Host) dialAll(ctx context.Context, r *reach, peers []peer.ID, wg *sync.WaitGroup) *reach {
	if r == nil {
		r = &reach{state: map[peer.ID]dialState{}, errs: map[peer.ID]error{}, changed: make(chan struct{})}
	}
	d := t.cfg.DialTimeout
	if d <= 0 {
		d = defaultDialTimeout
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range peers {
		if _, ok := r.state[p]; ok {
			continue
		}
		if t.h.Network().Connectedness(p) == network.Connected {
			r.state[p] = dialUp
			continue
		}
		r.state[p] = dialPending
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(network.WithDialPeerTimeout(ctx, d), d)
			defer cancel()
			err := t.h.Connect(dctx, peer.AddrInfo{ID: p})
			if err != nil && ctx.Err() != nil {
				return // the read is over: nothing waits for this dial
			}
			r.set(p, err)
		}()
	}
	return r
}

// set records the end of the dial to p.
func (r *reach) set(p peer.ID, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.state[p], r.errs[p] = dialDown, fmt.Errorf("transport: connect %s: %w", p, err)
	} else {
		r.state[p] = dialUp
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns the state of each of peers and a channel closed at the
// next change.
func (r *reach) snapshot(peers []peer.ID) ([]dialState, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := make([]dialState, len(peers))
	for i, p := range peers {
		st[i] = r.state[p]
	}
	return st, r.changed
}

// err returns why the dial to p failed (nil: it did not, or not yet).
func (r *reach) err(p peer.ID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[p]
}

// waitUp waits until the dial to p has ended and returns its error.
func (r *reach) waitUp(ctx context.Context, p peer.ID) error {
	for {
		st, changed := r.snapshot([]peer.ID{p})
		switch st[0] {
		case dialUp:
			return nil
		case dialDown:
			return r.err(p)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// skipFor returns which provider slots (indexes in peers) stripe s of man
// is not read from: the lost ones (dead, or down in r), and those still
// dialling as long as the providers up hold at least DataShards of the
// stripe's shards. While they do not, it waits for a dial to end. With r
// nil it is dead alone.
func (r *reach) skipFor(ctx context.Context, man *chunk.Manifest, s int, peers []peer.ID, dead []atomic.Bool) ([]bool, error) {
	skip := make([]bool, len(peers))
	for i := range dead {
		skip[i] = dead[i].Load()
	}
	if r == nil {
		return skip, nil
	}
	k := int(man.DataShards)
	cids := man.Stripes[s]
	for {
		st, changed := r.snapshot(peers)
		avail, pending := 0, false
		for j, c := range cids {
			pi := man.ProviderOf(s, j)
			switch {
			case j < k && c.IsZero():
				avail++ // an empty data shard is not read
			case skip[pi] || st[pi] == dialDown:
			case st[pi] == dialUp:
				avail++
			default:
				pending = true
			}
		}
		if avail >= k || !pending {
			for i := range skip {
				skip[i] = skip[i] || st[i] != dialUp
			}
			return skip, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// upFirst waits until one of peers is up in r, or none is dialling, and
// returns peers reordered: those up first, then those dialling, then
// those down, each group in its order in peers. With r nil it is peers.
func (r *reach) upFirst(ctx context.Context, peers []peer.ID) ([]peer.ID, error) {
	if r == nil {
		return peers, nil
	}
	for {
		st, changed := r.snapshot(peers)
		var up, pending, down []peer.ID
		for i, p := range peers {
			switch st[i] {
			case dialUp:
				up = append(up, p)
			case dialPending:
				pending = append(pending, p)
			default:
				down = append(down, p)
			}
		}
		if len(up) > 0 || len(pending) == 0 {
			return append(append(up, pending...), down...), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
