package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/reedsolomon"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// Ref is what an owner keeps to find and read a file again: the root CID,
// the file key (a secret: never log it) and the providers holding it.
type Ref struct {
	Root      chunk.CID
	Key       chunk.Key
	Providers []peer.ID
}

// PutOptions tune Put. Zero values take the documented defaults.
type PutOptions struct {
	// ChunkSize is the plaintext chunk size (default chunk.DefaultSize, 1 MiB).
	ChunkSize int
	// DataShards and ParityShards set the Reed-Solomon code: the file
	// survives the loss of any ParityShards providers. Defaults: one
	// provider: 1+0; n providers: (n-1)+1. DataShards+ParityShards must not
	// exceed the number of providers.
	DataShards, ParityShards int
	// AuditShards is how many shards per provider get precomputed storage
	// proofs in the manifest (default 4), AuditRounds how many challenges
	// each (default 4). Negative disables audits.
	AuditShards, AuditRounds int
	// Streams is the number of parallel streams per provider (default 8).
	Streams int
	// Payer answers providers' pause points (nil if storage is free).
	Payer Payer
	// Key, if set, seals the file under it instead of a fresh key (a
	// resumed put: see PutJournal).
	Key *chunk.Key
	// Journal, if set, records the put's progress and says which stripes
	// an earlier attempt stored: their shards are not sent again.
	Journal PutJournal
}

func (o *PutOptions) fill(n int) error {
	if n == 0 {
		return errors.New("transport: put: no providers")
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = chunk.DefaultSize
	}
	if o.ChunkSize < chunk.MinSize || o.ChunkSize > chunk.MaxSize {
		return fmt.Errorf("transport: put: chunk size %d out of [%d, %d]", o.ChunkSize, chunk.MinSize, chunk.MaxSize)
	}
	if o.DataShards == 0 && o.ParityShards == 0 {
		o.DataShards, o.ParityShards = n, 0
		if n > 1 {
			o.DataShards, o.ParityShards = n-1, 1
		}
	}
	if o.DataShards < 1 || o.ParityShards < 0 || o.DataShards+o.ParityShards > n || o.DataShards+o.ParityShards > chunk.MaxShards {
		return fmt.Errorf("transport: put: %d+%d shards for %d providers", o.DataShards, o.ParityShards, n)
	}
	if o.AuditShards == 0 {
		o.AuditShards = 4
	}
	if o.AuditRounds == 0 {
		o.AuditRounds = 4
	}
	if o.AuditRounds > 255 {
		o.AuditRounds = 255
	}
	if o.Streams <= 0 {
		o.Streams = defaultStreams
	}
	return nil
}

// defaultStreams is the default number of parallel storage streams per
// provider for Put and Get.
const defaultStreams = 8

// stripe is one stripe's buffer: DataShards+ParityShards shards of
// ChunkSize+Overhead bytes in one allocation.
type stripe struct {
	index   int
	shards  [][]byte
	chunks  int // real data chunks in this stripe
	pending sync.WaitGroup
	stored  atomic.Int32 // shards acknowledged in this attempt
}

func newStripeBuf(k, m, shardSize int) *stripe {
	buf := make([]byte, (k+m)*shardSize)
	st := &stripe{shards: make([][]byte, k+m)}
	for j := range st.shards {
		st.shards[j] = buf[j*shardSize : (j+1)*shardSize : (j+1)*shardSize]
	}
	return st
}

// stripeDepth bounds how many stripes are in memory at once (about 64 MiB,
// at least 4).
func stripeDepth(stripeBytes int) int {
	return max(4, (64<<20)/max(stripeBytes, 1))
}

// putDepth is how many stripe buffers a Put keeps: enough for every
// upload stream to have a shard in flight (n providers, streams each; a
// stripe gives its k+m shards to k+m providers) and as many again queued
// for them (a stream answered takes its next shard at once), one stripe
// per encoder and two for the reader to fill ahead, within stripeDepth
// (with nothing queued the streams waited for the encoders: 40 % slower).
// Buffers past that would only hold stripes waiting for a stream, and
// fresh memory is not free: each page a buffer touches for the first time is a page fault
// (on the 2-core VM of docs/benchmarks.md it costs more CPU than hashing
// the page), and a smaller ring stays in the CPU's cache between the
// read, the sealing, the hashing and the send.
func putDepth(n, streams, k, m, encoders, stripeBytes int) int {
	inflight := (n*streams + k + m - 1) / (k + m)
	return max(4, min(stripeDepth(stripeBytes), 2*inflight+encoders+2))
}

type shardJob struct {
	st  *stripe
	j   int
	cid chunk.CID
	has bool // ask the provider first: an earlier attempt may have stored it
}

type auditPick struct {
	seen int
	list []chunk.Audit
}

// Put encrypts r in this process and spreads it over providers: chunks are
// sealed under a fresh key, grouped into Reed-Solomon stripes, and each
// shard is stored on one provider by CID; the sealed manifest goes to every
// provider. Put streams: at most a bounded number of stripes is in memory.
// It returns the Ref needed to read the file back and the manifest.
func (t *Host) Put(ctx context.Context, r io.Reader, providers []peer.ID, opt PutOptions) (Ref, *chunk.Manifest, error) {
	if err := opt.fill(len(providers)); err != nil {
		return Ref{}, nil, err
	}
	var key chunk.Key
	var err error
	if opt.Key != nil {
		key = *opt.Key
	} else if key, err = chunk.NewKey(); err != nil {
		return Ref{}, nil, err
	}
	ciph, err := chunk.NewCipher(key)
	if err != nil {
		return Ref{}, nil, err
	}
	k, m, S := opt.DataShards, opt.ParityShards, opt.ChunkSize
	shardSize := S + chunk.Overhead
	var enc reedsolomon.Encoder
	if m > 0 {
		if enc, err = reedsolomon.New(k, m); err != nil {
			return Ref{}, nil, fmt.Errorf("transport: put: %w", err)
		}
	}
	man := &chunk.Manifest{ChunkSize: uint32(S), DataShards: uint8(k), ParityShards: uint8(m)}
	for _, p := range providers {
		key, err := nostrKeyBytes(p)
		if err != nil {
			return Ref{}, nil, err
		}
		man.Providers = append(man.Providers, key)
	}
	n := len(providers)
	encoders := runtime.GOMAXPROCS(0)
	depth := putDepth(n, opt.Streams, k, m, encoders, (k+m)*shardSize)
	pool := make(chan *stripe, depth)
	for range depth {
		pool <- newStripeBuf(k, m, shardSize)
	}

	g, gctx := errgroup.WithContext(ctx)
	encodeCh := make(chan *stripe)
	uploads := make([]chan shardJob, n)
	for i := range uploads {
		uploads[i] = make(chan shardJob, depth)
	}
	var mu sync.Mutex // guards man.Stripes, man.FileSize, picks
	picks := make([]auditPick, n)
	var fileSize uint64

	// Reader: fills stripes in order.
	g.Go(func() error {
		defer close(encodeCh)
		for s := 0; ; s++ {
			var st *stripe
			select {
			case st = <-pool:
			case <-gctx.Done():
				return gctx.Err()
			}
			st.index, st.chunks = s, 0
			eof := false
			for j := 0; j < k && !eof; j++ {
				buf := st.shards[j][:S]
				nr, err := io.ReadFull(r, buf)
				switch {
				case err == io.EOF:
					eof = true
					continue
				case err == io.ErrUnexpectedEOF:
					eof = true
					clear(buf[nr:])
				case err != nil:
					return fmt.Errorf("transport: put: read: %w", err)
				}
				st.chunks++
				mu.Lock()
				fileSize += uint64(nr)
				mu.Unlock()
			}
			if st.chunks == 0 {
				pool <- st
				return nil
			}
			select {
			case encodeCh <- st:
			case <-gctx.Done():
				return gctx.Err()
			}
			if eof {
				return nil
			}
		}
	})

	// Encoders: seal, erasure-code, address, pick audits, dispatch.
	var encWG, dispatchWG sync.WaitGroup
	for range encoders {
		encWG.Add(1)
		g.Go(func() error {
			defer encWG.Done()
			for st := range encodeCh {
				cids := make([]chunk.CID, k+m)
				for j := range k {
					if j < st.chunks {
						idx := uint64(st.index)*uint64(k) + uint64(j)
						ciph.Seal(st.shards[j][:0], st.shards[j][:S], chunk.KindData, idx)
					} else {
						clear(st.shards[j])
					}
				}
				if enc != nil {
					if err := enc.Encode(st.shards); err != nil {
						return fmt.Errorf("transport: put: erasure code: %w", err)
					}
				}
				var jobs []shardJob
				for j := range k + m {
					if j < k && j >= st.chunks {
						continue // virtual zero shard
					}
					cids[j] = chunk.Sum(st.shards[j])
					jobs = append(jobs, shardJob{st: st, j: j, cid: cids[j]})
				}
				mu.Lock()
				for len(man.Stripes) <= st.index {
					man.Stripes = append(man.Stripes, nil)
				}
				man.Stripes[st.index] = cids
				mu.Unlock()
				if opt.AuditShards > 0 {
					for _, jb := range jobs {
						if err := pickAudit(&mu, &picks[(st.index+jb.j)%n], opt, st, jb.j); err != nil {
							return err
						}
					}
				}
				// The journal's Begin (a durable write) and the dispatch
				// run apart from the encoder, so that the encoders go on
				// sealing the next stripes meanwhile and the Begins of
				// stripes in flight can commit together.
				dispatchWG.Add(1)
				g.Go(func() error {
					state := StripeNew
					if opt.Journal != nil {
						var err error
						if state, err = opt.Journal.Begin(gctx, st.index, cids); err != nil {
							dispatchWG.Done()
							return fmt.Errorf("transport: put: journal: %w", err)
						}
					}
					if state == StripeStored {
						jobs = nil
					}
					st.stored.Store(0)
					st.pending.Add(len(jobs))
					for i, jb := range jobs {
						jb.has = state == StripeSent
						select {
						case uploads[(st.index+jb.j)%n] <- jb:
						case <-gctx.Done():
							dispatchWG.Done()
							for range jobs[i:] {
								st.pending.Done()
							}
							return gctx.Err()
						}
					}
					dispatchWG.Done()
					st.pending.Wait()
					var err error
					if opt.Journal != nil && len(jobs) > 0 && int(st.stored.Load()) == len(jobs) {
						// Stored is true even if the put fails elsewhere now.
						if err = opt.Journal.Stored(context.WithoutCancel(gctx), st.index); err != nil {
							err = fmt.Errorf("transport: put: journal: %w", err)
						}
					}
					pool <- st
					return err
				})
			}
			return nil
		})
	}
	g.Go(func() error {
		encWG.Wait()
		dispatchWG.Wait()
		for _, u := range uploads {
			close(u)
		}
		return nil
	})

	// Uploaders: Streams per provider.
	for i, p := range providers {
		sc := t.Storage(p, opt.Payer)
		for range opt.Streams {
			g.Go(func() error {
				for jb := range uploads[i] {
					if gctx.Err() == nil {
						if err := putShard(gctx, sc, jb); err != nil {
							jb.st.pending.Done()
							drain(uploads[i])
							return fmt.Errorf("transport: put to %s: %w", p, err)
						}
						jb.st.stored.Add(1)
					}
					jb.st.pending.Done()
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return Ref{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return Ref{}, nil, err
	}
	man.FileSize = fileSize
	for _, p := range picks {
		man.Audits = append(man.Audits, p.list...)
	}
	mct, root, err := chunk.SealManifest(ciph, man)
	if err != nil {
		return Ref{}, nil, err
	}
	mg, mctx := errgroup.WithContext(ctx)
	for _, p := range providers {
		mg.Go(func() error {
			if err := t.Storage(p, opt.Payer).Put(mctx, root, mct); err != nil {
				return fmt.Errorf("transport: put manifest to %s: %w", p, err)
			}
			return nil
		})
	}
	if err := mg.Wait(); err != nil {
		return Ref{}, nil, err
	}
	return Ref{Root: root, Key: key, Providers: append([]peer.ID(nil), providers...)}, man, nil
}

// putShard stores one shard, unless the provider answers HAS for a shard
// an earlier attempt may have stored.
func putShard(ctx context.Context, sc *StorageClient, jb shardJob) error {
	if jb.has {
		if ok, err := sc.Has(ctx, jb.cid); err != nil {
			return err
		} else if ok {
			return nil
		}
	}
	return sc.Put(ctx, jb.cid, jb.st.shards[jb.j])
}

// drain empties ch after a failure so stripe buffers are released.
func drain(ch chan shardJob) {
	for jb := range ch {
		jb.st.pending.Done()
	}
}

// pickAudit keeps a uniform random sample (reservoir) of a provider's shards
// and precomputes their storage proofs.
func pickAudit(mu *sync.Mutex, p *auditPick, opt PutOptions, st *stripe, j int) error {
	mu.Lock()
	p.seen++
	slot := -1
	if len(p.list) < opt.AuditShards {
		slot = len(p.list)
		p.list = append(p.list, chunk.Audit{})
	} else if r := mrand.IntN(p.seen); r < opt.AuditShards {
		slot = r
	}
	mu.Unlock()
	if slot < 0 {
		return nil
	}
	a := chunk.Audit{Stripe: uint32(st.index), Shard: uint8(j)}
	for range opt.AuditRounds {
		var ch [32]byte
		if _, err := rand.Read(ch[:]); err != nil {
			return fmt.Errorf("transport: put: audit challenge: %w", err)
		}
		a.Challenges = append(a.Challenges, ch)
	}
	answers, err := store.Proofs(st.shards[j], a.Challenges)
	if err != nil {
		return fmt.Errorf("transport: put: audit: %w", err)
	}
	a.Answers = answers
	mu.Lock()
	p.list[slot] = a
	mu.Unlock()
	return nil
}
