package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// ErrUnrecoverable reports a stripe with fewer than DataShards shards
// retrievable: more providers were lost than the code tolerates.
var ErrUnrecoverable = errors.New("transport: file unrecoverable")

// GetOptions tune Get and Audit. Zero values take defaults.
type GetOptions struct {
	// Window is the number of stripes fetched ahead (default: about 64 MiB).
	Window int
	// Streams is the number of parallel streams per provider (default 8).
	Streams int
	// Payer answers providers' pause points (nil if reads are free).
	Payer Payer
	// Local, if set, is asked first for every chunk, manifest included:
	// chunks imported from a bundle (agentd/chunkbundle) are read from
	// this machine's store and checked as a provider's would be. Get only.
	Local ChunkGetter
}

// ChunkGetter reads chunks held on this machine (*store.Store).
type ChunkGetter interface {
	Get(c chunk.CID, buf []byte) ([]byte, error)
	Has(c chunk.CID) (bool, error)
}

// LocalManifest opens ref's manifest from local, or returns an error
// wrapping store.ErrNotFound when local does not hold the root chunk.
func LocalManifest(local ChunkGetter, ref Ref) (*chunk.Manifest, error) {
	ciph, err := chunk.NewCipher(ref.Key)
	if err != nil {
		return nil, err
	}
	ct, err := local.Get(ref.Root, nil)
	if err != nil {
		return nil, err
	}
	m, err := chunk.OpenManifest(ciph, ct)
	if err != nil {
		return nil, fmt.Errorf("transport: manifest %s: %w", ref.Root, err)
	}
	return m, nil
}

// LocalComplete reports whether local holds enough shards of every
// stripe of man (DataShards of them) to read the file with no provider.
func LocalComplete(local ChunkGetter, man *chunk.Manifest) (bool, error) {
	k := int(man.DataShards)
	for _, cids := range man.Stripes {
		got := 0
		for j, c := range cids {
			if c.IsZero() {
				if j < k {
					got++
				}
				continue
			}
			ok, err := local.Has(c)
			if err != nil {
				return false, err
			}
			if ok {
				got++
			}
		}
		if got < k {
			return false, nil
		}
	}
	return true, nil
}

// manifestStagger is how long FetchManifest waits for a provider to answer
// or fail before it asks the next one too.
const manifestStagger = 500 * time.Millisecond

// FetchManifest fetches the root chunk from ref.Providers and opens it
// with ref.Key. It asks them in order, the next one as soon as the one
// before fails or has not answered within manifestStagger (a dead
// provider's dial can take seconds to fail), and takes the first answer.
//
// Every provider is dialled at once (reach), and those that connect are
// asked first.
func (t *Host) FetchManifest(ctx context.Context, ref Ref, payer Payer) (*chunk.Manifest, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	return t.fetchManifest(ctx, ref, payer, t.dialAll(ctx, nil, ref.Providers, &wg))
}

// fetchManifest is FetchManifest with the providers' dials in r (nil:
// asked in their order).
func (t *Host) fetchManifest(ctx context.Context, ref Ref, payer Payer, r *reach) (*chunk.Manifest, error) {
	ciph, err := chunk.NewCipher(ref.Key)
	if err != nil {
		return nil, err
	}
	if ref.Providers, err = r.upFirst(ctx, ref.Providers); err != nil {
		return nil, err
	}
	type result struct {
		m     *chunk.Manifest
		err   error
		fatal bool // the manifest does not open: no other provider helps
	}
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan result, len(ref.Providers))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	next, pending := 0, 0
	launch := func() {
		p := ref.Providers[next]
		next++
		pending++
		wg.Add(1)
		go func() {
			defer wg.Done()
			ct, err := t.Storage(p, payer).Get(ctx, ref.Root, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			m, err := chunk.OpenManifest(ciph, ct)
			if err != nil {
				results <- result{err: fmt.Errorf("transport: manifest %s: %w", ref.Root, err), fatal: true}
				return
			}
			results <- result{m: m}
		}()
	}
	stagger := time.NewTimer(manifestStagger)
	defer stagger.Stop()
	if len(ref.Providers) > 0 {
		launch()
	}
	var errs []error
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.m != nil {
				return r.m, nil
			}
			if r.fatal {
				return nil, r.err
			}
			errs = append(errs, r.err)
		case <-stagger.C:
		}
		if ctx.Err() == nil && next < len(ref.Providers) {
			launch()
			stagger.Reset(manifestStagger)
		}
	}
	return nil, fmt.Errorf("%w: no provider served manifest %s: %w", ErrUnrecoverable, ref.Root, errors.Join(errs...))
}

// errNoLocal: no local store to read a chunk from.
var errNoLocal = errors.New("transport: no local chunk store")

type stripeResult struct {
	st  *stripe
	err error
}

// Get fetches the file ref names and writes its plaintext to w. Stripes are
// fetched from all providers in parallel, a window ahead of the writer;
// a stripe whose data shards cannot all be fetched is rebuilt from parity.
// Every shard is checked against its CID and every chunk authenticated.
func (t *Host) Get(ctx context.Context, ref Ref, w io.Writer, opt GetOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Cancel first, then wait: on an early return the stripe fetcher may be
	// blocked on a buffer the writer will never hand back, and only the
	// cancel frees it.
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Every provider is dialled at once; stripes are read from those that
	// connect (reach), unless chunks are read locally first.
	var r *reach
	if opt.Local == nil {
		r = t.dialAll(ctx, nil, ref.Providers, &wg)
	}
	var man *chunk.Manifest
	var err error
	if opt.Local != nil {
		man, _ = LocalManifest(opt.Local, ref)
	}
	if man == nil {
		if man, err = t.fetchManifest(ctx, ref, opt.Payer, r); err != nil {
			return err
		}
	}
	ciph, err := chunk.NewCipher(ref.Key)
	if err != nil {
		return err
	}
	k, m, S := int(man.DataShards), int(man.ParityShards), int(man.ChunkSize)
	shardSize := S + chunk.Overhead
	var enc reedsolomon.Encoder
	if m > 0 {
		if enc, err = reedsolomon.New(k, m); err != nil {
			return fmt.Errorf("transport: get: %w", err)
		}
	}
	peers, err := placement(ref, man)
	if err != nil {
		return err
	}
	if r != nil {
		r = t.dialAll(ctx, r, peers, &wg) // the manifest's own, if ref names others
	}
	window := opt.Window
	if window <= 0 {
		window = stripeDepth((k + m) * shardSize)
	}
	pool := make(chan *stripe, window+1)
	for range window + 1 {
		pool <- newStripeBuf(k, m, shardSize)
	}
	dead := make([]atomic.Bool, len(peers))
	streams := opt.Streams
	if streams <= 0 {
		streams = defaultStreams
	}
	sems := make([]chan struct{}, len(peers))
	for i := range sems {
		sems[i] = make(chan struct{}, streams)
	}
	futures := make(chan chan stripeResult, window)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(futures)
		for s := range man.Stripes {
			var st *stripe
			select {
			case st = <-pool:
			case <-ctx.Done():
				return
			}
			st.index = s
			fut := make(chan stripeResult, 1)
			select {
			case futures <- fut:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := t.fetchStripe(ctx, man, peers, dead, r, sems, enc, ciph, st, opt.Payer, opt.Local)
				fut <- stripeResult{st: st, err: err}
			}()
		}
	}()

	remaining := man.FileSize
	for fut := range futures {
		var res stripeResult
		select {
		case res = <-fut:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil {
			return res.err
		}
		for j := 0; j < k && remaining > 0; j++ {
			n := uint64(S)
			if remaining < n {
				n = remaining
			}
			if _, err := w.Write(res.st.shards[j][:n]); err != nil {
				return fmt.Errorf("transport: get: write: %w", err)
			}
			remaining -= n
		}
		pool <- res.st
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if remaining != 0 {
		return fmt.Errorf("transport: get: %d bytes missing", remaining)
	}
	return nil
}

// fetchStripe fills st with the plaintext of stripe st.index.
//
// Data shards are fetched without hashing: each is authenticated by opening
// it (AES-GCM under its index), which also proves it is the shard the CID
// names. A data shard that is missing or fails to open is rebuilt from
// parity; parity shards, having no tag, are checked against their CIDs, and
// so are the rebuilt data shards.
//
// It reads from the providers skipFor leaves: not the dead ones, nor those
// whose dial in r is pending while the others can serve the stripe.
func (t *Host) fetchStripe(ctx context.Context, man *chunk.Manifest, peers []peer.ID, dead []atomic.Bool, r *reach, sems []chan struct{},
	enc reedsolomon.Encoder, ciph *chunk.Cipher, st *stripe, payer Payer, local ChunkGetter) error {
	k := int(man.DataShards)
	s := st.index
	skip, err := r.skipFor(ctx, man, s, peers, dead)
	if err != nil {
		return err
	}
	cids := man.Stripes[s]
	have := make([]bool, len(cids))
	got := 0
	var errs []error
	var mu sync.Mutex
	index := func(j int) uint64 { return uint64(s)*uint64(k) + uint64(j) }
	fetch := func(js []int) {
		var g errgroup.Group
		for _, j := range js {
			g.Go(func() error {
				pi := man.ProviderOf(s, j)
				select {
				case sems[pi] <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
				parity := j >= k
				var buf []byte
				err := errNoLocal
				if local != nil {
					if buf, err = local.Get(cids[j], st.shards[j][:0]); err == nil && parity && chunk.Sum(buf) != cids[j] {
						err = ErrCIDMismatch
					}
				}
				if err != nil {
					buf, err = t.Storage(peers[pi], payer).get(ctx, cids[j], st.shards[j][:0], parity)
				}
				<-sems[pi]
				if err == nil && len(buf) != len(st.shards[j]) {
					err = fmt.Errorf("%w: shard %d of stripe %d has %d bytes", ErrCIDMismatch, j, s, len(buf))
				}
				if err == nil && !parity {
					// Open in place; the ciphertext is recomputed by Seal
					// if the stripe must be rebuilt.
					if _, oerr := ciph.Open(st.shards[j][:0], st.shards[j], chunk.KindData, index(j)); oerr != nil {
						err = fmt.Errorf("%w: provider %s served shard %d of stripe %d: %w", ErrCIDMismatch, peers[pi], j, s, oerr)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					dead[pi].Store(true)
					errs = append(errs, err)
					return nil
				}
				have[j] = true
				got++
				return nil
			})
		}
		_ = g.Wait()
	}
	var want []int
	for j := range k {
		if cids[j].IsZero() {
			clear(st.shards[j])
			have[j] = true
			got++
			continue
		}
		if !skip[man.ProviderOf(s, j)] && !dead[man.ProviderOf(s, j)].Load() {
			want = append(want, j)
		}
	}
	fetch(want)
	if got == k {
		return ctx.Err() // every data shard fetched and opened
	}
	// Fall back to parity, as many as still needed, from live providers.
	var parity []int
	for j := k; j < len(cids); j++ {
		if !skip[man.ProviderOf(s, j)] && !dead[man.ProviderOf(s, j)].Load() {
			parity = append(parity, j)
		}
	}
	for len(parity) > 0 && got < k {
		n := min(k-got, len(parity))
		fetch(parity[:n])
		parity = parity[n:]
	}
	if got < k && r != nil {
		// Others failed: a provider left out while dialling is needed
		// after all (skipFor waits for its dial now).
		if skip, err = r.skipFor(ctx, man, s, peers, dead); err != nil {
			return err
		}
		var more []int
		for j := range cids {
			if !have[j] && !skip[man.ProviderOf(s, j)] && !dead[man.ProviderOf(s, j)].Load() {
				more = append(more, j)
			}
		}
		fetch(more)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if got < k {
		return fmt.Errorf("%w: stripe %d has %d of %d shards: %w", ErrUnrecoverable, s, got, k, errors.Join(errs...))
	}
	// Reed-Solomon works on ciphertext: re-seal the data shards opened in
	// place (sealing is deterministic under the file key and index).
	for j := range k {
		if have[j] && !cids[j].IsZero() {
			ciph.Seal(st.shards[j][:0], st.shards[j][:len(st.shards[j])-chunk.Overhead], chunk.KindData, index(j))
		}
	}
	shards := make([][]byte, len(cids))
	for j := range shards {
		if have[j] {
			shards[j] = st.shards[j]
		} else {
			shards[j] = st.shards[j][:0]
		}
	}
	if err := enc.ReconstructData(shards); err != nil {
		return fmt.Errorf("transport: get: reconstruct stripe %d: %w", s, err)
	}
	for j := range k {
		if !have[j] && chunk.Sum(shards[j]) != cids[j] {
			return fmt.Errorf("%w: rebuilt shard %d of stripe %d", ErrCIDMismatch, j, s)
		}
	}
	for j := range k {
		if cids[j].IsZero() {
			continue
		}
		if _, err := ciph.Open(st.shards[j][:0], st.shards[j], chunk.KindData, index(j)); err != nil {
			return fmt.Errorf("transport: get: %w", err)
		}
	}
	return nil
}

func peerIDFromKey(pk [32]byte) (peer.ID, error) {
	return PeerIDFromNostrPubkey(fmt.Sprintf("%x", pk[:]))
}
