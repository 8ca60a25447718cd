package buyer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

var (
	// ErrTooFewProviders means a put could not reach Config.MinProviders
	// storage providers.
	ErrTooFewProviders = errors.New("buyer: too few storage providers")
	// ErrCannotAfford means the wallet balance or a budget cannot cover a
	// put's cost.
	ErrCannotAfford = errors.New("buyer: cannot afford")
)

// ProviderQuote is what one provider charges to store its share of a file.
type ProviderQuote struct {
	Provider string
	Prices   nips.Prices
	Bytes    uint64 // what it stores: its shards and the manifest
	Sats     uint64 // the price of storing them (market.ChargeSats)
	Cap      uint64 // the most paid to it, with payment steps (market.StorageCap)
}

// Quote is the cost of storing a file.
type Quote struct {
	Size      int64
	Duration  time.Duration
	Replicas  int // providers asked for (Config.Replicas)
	Providers []ProviderQuote
	Sats      uint64 // sum of the providers' Sats
	Cap       uint64 // sum of the providers' Caps
}

// sharePerProvider bounds what each of n providers stores of a file of
// size bytes put with transport's default code ((n-1)+1, default audits)
// and either chunk size a put of it may have used: the one chunkSizeFor
// picks now, or chunk.DefaultSize, which every put used before (a put
// journaled then may resume, and a file stored then may be repaired).
func sharePerProvider(size int64, n int) uint64 {
	return max(shareWithChunks(size, n, chunk.DefaultSize), shareWithChunks(size, n, chunkSizeFor(size)))
}

// shareWithChunks is what each of n providers stores of a file of size
// bytes put in chunks of chunkSize bytes: one shard of chunkSize+Overhead
// per stripe, and the manifest.
func shareWithChunks(size int64, n, chunkSize int) uint64 {
	k, S := uint64(max(n-1, 1)), uint64(chunkSize)
	chunks := (uint64(size) + S - 1) / S
	stripes := (chunks + k - 1) / k
	return stripes*(S+chunk.Overhead) + manifestSize(stripes, uint64(n))
}

// largeChunkSize is the chunk size of a file of at least largeFileSize
// bytes. Most of a put's CPU besides the bytes themselves (hashing,
// sealing, the stream) is per chunk: the provider's file creation, fsync,
// link and SQLite record, the buyer's journal and the request's round
// trip; 4 MiB chunks have a quarter of them. The chunk size is in the
// manifest and every provider takes chunks up to chunk.MaxSize, so no
// peer needs to know. 4 MiB of plaintext is a 4 MiB block-aligned prefix
// in the provider's chunk file (its O_DIRECT buffer class) and, with
// transport's stripe ring of about 64 MiB, still keeps every stream busy.
const (
	largeChunkSize = 4 << 20
	largeFileSize  = 64 << 20
)

// chunkSizeFor returns the plaintext chunk size a new put of size bytes
// uses: chunk.DefaultSize for small files (where a larger chunk would pad
// the last stripe by more), largeChunkSize from largeFileSize up.
func chunkSizeFor(size int64) int {
	if size >= largeFileSize {
		return largeChunkSize
	}
	return chunk.DefaultSize
}

// manifestSize is the size of a sealed manifest of stripes stripes over n
// providers with transport's default audits (4 shards per provider, 4
// rounds each): chunk.Manifest.MarshalBinary's layout, with room to spare.
func manifestSize(stripes, n uint64) uint64 {
	const audits, rounds = 4, 4
	return 64 + 32*n + 32*n*stripes + n*audits*(6+64*rounds) + chunk.Overhead
}

// servedBound bounds what one provider serves of a file of size bytes in a
// get, whatever the code it was put with and however many of the others
// are lost: at most one shard per stripe that it holds (at most every
// chunk, with the smallest chunk's overhead, plus a last parity shard),
// and the manifest.
func servedBound(size int64) uint64 {
	s := uint64(size)
	chunks := (s + chunk.MinSize - 1) / chunk.MinSize
	return s + chunks*chunk.Overhead + chunk.MaxSize + chunk.Overhead + chunk.MaxManifestSize
}

// quoteFor prices storing size bytes on each of offers (the file spread
// over all of them) for the configured duration.
func (b *Buyer) quoteFor(size int64, offers []nips.Offer) Quote {
	return b.quoteShare(size, sharePerProvider(size, len(offers)), offers)
}

// quoteShare prices storing per bytes (a share of a file of size bytes) on
// each of offers for the configured duration.
func (b *Buyer) quoteShare(size int64, per uint64, offers []nips.Offer) Quote {
	q := Quote{Size: size, Duration: b.cfg.StorageDuration, Replicas: b.cfg.Replicas}
	dur := uint64(b.cfg.StorageDuration / time.Second)
	step := stepFor(b.cfg.StepBytes, per)
	for _, o := range offers {
		pq := ProviderQuote{Provider: o.Pubkey, Prices: o.Prices, Bytes: per,
			Sats: market.ChargeSats(o.Prices, dur, market.OpStore, per),
			Cap:  market.StorageCap(o.Prices, dur, market.OpStore, per, step, stepsAhead)}
		q.Providers = append(q.Providers, pq)
		q.Sats += pq.Sats
		q.Cap += pq.Cap
	}
	return q
}

// Quote returns what storing size bytes costs with the best storage
// providers now offering (Config.Replicas of them, or all there are).
func (b *Buyer) Quote(ctx context.Context, size int64) (Quote, error) {
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil {
		return Quote{}, err
	}
	offers := make([]nips.Offer, 0, b.cfg.Replicas)
	for _, c := range cands[:min(b.cfg.Replicas, len(cands))] {
		offers = append(offers, c.Offer)
	}
	if len(offers) == 0 {
		return Quote{}, fmt.Errorf("%w: no storage provider offers", ErrNoOffer)
	}
	return b.quoteFor(size, offers), nil
}

// afford checks, before anything is sent, that the wallet balance and the
// budgets cover q's most (its Cap), naming what to change when they do not.
func (b *Buyer) afford(ctx context.Context, q Quote) error {
	bal, err := b.wallet.Balance(ctx)
	if err != nil {
		return err
	}
	if bal < q.Cap {
		return fmt.Errorf("%w: wallet balance %d sats < cost %d sats (storing %d bytes on %d providers for %s; top up the wallet or store less)",
			ErrCannotAfford, bal, q.Cap, q.Size, len(q.Providers), q.Duration)
	}
	bud := b.budget
	if bud == nil {
		return nil
	}
	if bud.PerDay > 0 {
		spent, err := bud.SpentToday(ctx)
		if err != nil {
			return err
		}
		if spent+q.Cap > bud.PerDay {
			return fmt.Errorf("%w: cost %d sats + %d spent today > %d sats per day (raise --budget-per-day)", ErrCannotAfford, q.Cap, spent, bud.PerDay)
		}
	}
	if bud.PerCounterparty > 0 {
		for _, p := range q.Providers {
			spent, err := bud.SpentTodayWith(ctx, p.Provider)
			if err != nil {
				return err
			}
			if spent+p.Cap > bud.PerCounterparty {
				return fmt.Errorf("%w: cost %d sats to provider %s + %d paid to it today > %d sats per counterparty (raise --budget-per-counterparty, or spread the file over more providers with --replicas)",
					ErrCannotAfford, p.Cap, p.Provider, spent, bud.PerCounterparty)
			}
		}
	}
	return nil
}

// storePayer sets a put session's payer to pay per market.StorageCharge,
// in steps of at most the provider's share, never past its cap.
func (b *Buyer) storePayer(s *Session, per uint64) {
	if s.Payer == nil {
		return
	}
	dur := s.Match.Duration
	step := stepFor(b.cfg.StepBytes, per)
	s.Payer.Step = metering.StorageUnits(s.Match.Prices, dur, market.OpStore, step)
	s.Payer.Limit = market.StorageCap(s.Match.Prices, dur, market.OpStore, per, step, stepsAhead)
}

// stepsAhead is how many payment steps beyond the price a storage payer
// may pay: one. A provider's storage streams share one credit and it asks
// for the next step while the current one is in use (transport's storage
// account), so up to two steps may be paid beyond what was used during a
// transfer; the cap binds only at its end, where a payment ahead it has no
// room for is declined and the last requests pay at their pause points.
const stepsAhead = 1

// maxStepsPerShare: a provider's share of a file is paid in about this many
// steps, at least Config.StepBytes each. Steps of a large file grow with
// it, so the payment round trips (a send journaled on the buyer's side, a
// mint swap on the provider's) do not bound the throughput, while what is
// paid ahead stays a fixed fraction of the price. Eight, not sixteen: each
// step ahead is paid and redeemed while the streams use the one before it,
// and a 1 GiB put to one provider then has 128 MiB of data for that, not
// 64 (docs/benchmarks.md, issue 13 point 7, round h-put7).
const maxStepsPerShare = 8

// stepFor returns the bytes bought per payment step for a share of share
// bytes: at least least, at most the share.
func stepFor(least, share uint64) uint64 {
	return stepIn(least, share, maxStepsPerShare)
}

// stepIn returns the bytes bought per step of total bytes paid in about
// steps steps: at least least, at most total.
func stepIn(least, total, steps uint64) uint64 {
	return min(max(least, total/steps), total)
}

// bandwidthSteps: a bandwidth session is paid in about this many steps
// (at least Config.StepBytes each).
const bandwidthSteps = 16

// getPayerTerms returns a get payer's step (in units) and cap (sats) for
// a file of size bytes at prices p.
func (b *Buyer) getPayerTerms(p nips.Prices, size int64) (step, limit uint64) {
	served := servedBound(size)
	stepBytes := stepFor(b.cfg.StepBytes, served)
	return metering.StorageUnits(p, 0, market.OpRetrieve, stepBytes), market.StorageCap(p, 0, market.OpRetrieve, served, stepBytes, stepsAhead)
}
