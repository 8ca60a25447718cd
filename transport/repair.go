package transport

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/klauspost/reedsolomon"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// ErrNoParity reports a file put without parity: a lost shard of it cannot
// be rebuilt.
var ErrNoParity = errors.New("transport: file has no parity shards")

// placement returns the peer holding each provider slot of man: the
// manifest's Providers as put, except that when ref.Providers has one entry
// per slot it is the current placement (a repair moved the shards of a lost
// slot to a new provider; the sealed manifest, and so the root, never
// change).
func placement(ref Ref, man *chunk.Manifest) ([]peer.ID, error) {
	if len(ref.Providers) == len(man.Providers) {
		return append([]peer.ID(nil), ref.Providers...), nil
	}
	peers := make([]peer.ID, len(man.Providers))
	for i, pk := range man.Providers {
		var err error
		if peers[i], err = peerIDFromKey(pk); err != nil {
			return nil, err
		}
	}
	return peers, nil
}

// RepairStats says what Repair stored.
type RepairStats struct {
	// Shards and Bytes stored per new provider (the manifest included).
	Shards map[peer.ID]int
	Bytes  map[peer.ID]int64
}

// Repair rebuilds every shard held by the provider slots in moves (index
// in the placement -> new provider) from the other providers, stores each
// on the slot's new provider, and stores the manifest there too. Stripes
// are fetched and decoded as Get does (fetchStripe, with the lost slots
// never asked), re-sealed and re-encoded as Put does; every rebuilt shard
// is checked against its CID before it is sent, so the new provider holds
// exactly the bytes the manifest names and its precomputed storage proofs
// still hold. After Repair, a Ref whose Providers has the new peers in
// those slots reads the file.
func (t *Host) Repair(ctx context.Context, ref Ref, man *chunk.Manifest, moves map[int]peer.ID, opt GetOptions) (RepairStats, error) {
	stats := RepairStats{Shards: map[peer.ID]int{}, Bytes: map[peer.ID]int64{}}
	if len(moves) == 0 {
		return stats, nil
	}
	peers, err := placement(ref, man)
	if err != nil {
		return stats, err
	}
	k, m, S := int(man.DataShards), int(man.ParityShards), int(man.ChunkSize)
	if m == 0 {
		return stats, fmt.Errorf("transport: repair: %w", ErrNoParity)
	}
	if len(moves) > m {
		return stats, fmt.Errorf("%w: %d providers lost, the code survives %d", ErrUnrecoverable, len(moves), m)
	}
	for i := range moves {
		if i < 0 || i >= len(peers) {
			return stats, fmt.Errorf("transport: repair: provider slot %d of %d", i, len(peers))
		}
	}
	ciph, err := chunk.NewCipher(ref.Key)
	if err != nil {
		return stats, err
	}
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return stats, fmt.Errorf("transport: repair: %w", err)
	}
	// The manifest chunk, from a surviving provider (its CID is checked).
	var mct []byte
	var errs []error
	for i, p := range peers {
		if _, lost := moves[i]; lost {
			continue
		}
		if mct, err = t.Storage(p, opt.Payer).Get(ctx, ref.Root, nil); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if mct == nil {
		return stats, fmt.Errorf("%w: no surviving provider served manifest %s: %w", ErrUnrecoverable, ref.Root, errors.Join(errs...))
	}
	dead := make([]atomic.Bool, len(peers))
	for i := range moves {
		dead[i].Store(true)
	}
	streams := opt.Streams
	if streams <= 0 {
		streams = defaultStreams
	}
	sems := make([]chan struct{}, len(peers))
	for i := range sems {
		sems[i] = make(chan struct{}, streams)
	}
	shardSize := S + chunk.Overhead
	workers := max(1, min(4, stripeDepth((k+m)*shardSize)))
	pool := make(chan *stripe, workers)
	for range workers {
		pool <- newStripeBuf(k, m, shardSize)
	}
	var shards, bytes = make([]atomic.Int64, len(peers)), make([]atomic.Int64, len(peers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for s := range man.Stripes {
		var lost []int
		for j, c := range man.Stripes[s] {
			if _, ok := moves[man.ProviderOf(s, j)]; ok && !c.IsZero() {
				lost = append(lost, j)
			}
		}
		if len(lost) == 0 {
			continue
		}
		g.Go(func() error {
			var st *stripe
			select {
			case st = <-pool:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { pool <- st }()
			st.index = s
			if err := t.fetchStripe(gctx, man, peers, dead, nil, sems, enc, ciph, st, opt.Payer, nil); err != nil {
				return fmt.Errorf("transport: repair: %w", err)
			}
			// fetchStripe leaves the data shards' plaintext: seal them
			// again (deterministic under the file key and index) and
			// recompute the parity, as Put did.
			cids := man.Stripes[s]
			for j := range k {
				if cids[j].IsZero() {
					clear(st.shards[j])
					continue
				}
				ciph.Seal(st.shards[j][:0], st.shards[j][:S], chunk.KindData, uint64(s)*uint64(k)+uint64(j))
			}
			if err := enc.Encode(st.shards); err != nil {
				return fmt.Errorf("transport: repair: erasure code: %w", err)
			}
			for _, j := range lost {
				if chunk.Sum(st.shards[j]) != cids[j] {
					return fmt.Errorf("%w: rebuilt shard %d of stripe %d", ErrCIDMismatch, j, s)
				}
				pi := man.ProviderOf(s, j)
				to := moves[pi]
				if err := t.Storage(to, opt.Payer).Put(gctx, cids[j], st.shards[j]); err != nil {
					return fmt.Errorf("transport: repair: put to %s: %w", to, err)
				}
				shards[pi].Add(1)
				bytes[pi].Add(int64(len(st.shards[j])))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return stats, err
	}
	for i, to := range moves {
		if err := t.Storage(to, opt.Payer).Put(ctx, ref.Root, mct); err != nil {
			return stats, fmt.Errorf("transport: repair: put manifest to %s: %w", to, err)
		}
		stats.Shards[to] = int(shards[i].Load()) + 1
		stats.Bytes[to] = bytes[i].Load() + int64(len(mct))
	}
	return stats, nil
}
