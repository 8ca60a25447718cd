package buyer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// ErrNotOwner means a repair of a file granted to us: only its owner can
// move its shards and update its SafeBox entry.
var ErrNotOwner = errors.New("buyer: only a file's owner repairs it")

// LostProvider is a provider a repair found gone.
type LostProvider struct {
	Provider string
	Slot     int    // its index in the file's providers
	Reason   string // the failed proof or connection
}

// Move is the shards of one lost provider rebuilt onto a new one.
type Move struct {
	From, To string
	Shards   int   // stored on To, the manifest included
	Bytes    int64 // stored on To
	Sats     uint64
}

// RepairReport says what Repair found and did. No Lost: the file was
// healthy and nothing was done.
type RepairReport struct {
	Root    string
	Checked string // how the providers were checked
	Lost    []LostProvider
	Moves   []Move
	Sats    uint64 // the quoted price of the new storage
	Cap     uint64 // the most that could be paid for it
}

// Repair restores full redundancy of one of our files: it checks every
// provider (the next storage-proof round; reachability once the manifest's
// rounds are used up), rebuilds the shards of each provider found lost from
// the survivors (transport.Host.Repair, the decoder Get uses), stores them
// on a new provider (one not already holding the file, ranked and paid as
// a put's are, its price quoted and checked against the balance and the
// budgets first), then records the new placement locally and republishes
// the SafeBox entry (replacing the old one). A healthy file is left as is.
func (b *Buyer) Repair(ctx context.Context, root string) (RepairReport, error) {
	rep := RepairReport{Root: root}
	e, ref, pay, payList, err := b.fileRef(ctx, root)
	if err != nil {
		return rep, fmt.Errorf("buyer: repair: %w", err)
	}
	defer b.reconcileAll(ctx, payList)
	if e.From != b.pubkey {
		return rep, fmt.Errorf("%w: %s was granted to us", ErrNotOwner, root)
	}
	man, err := b.host.FetchManifest(ctx, ref, pay)
	if err != nil {
		return rep, fmt.Errorf("buyer: repair: %w", err)
	}
	if len(ref.Providers) != len(man.Providers) {
		return rep, fmt.Errorf("buyer: repair: the SafeBox entry names %d providers, the manifest %d", len(ref.Providers), len(man.Providers))
	}
	rep.Checked, rep.Lost = b.findLost(ctx, root, e, ref, man, pay)
	if len(rep.Lost) == 0 {
		return rep, nil
	}
	if man.ParityShards == 0 {
		return rep, fmt.Errorf("buyer: repair: %w", transport.ErrNoParity)
	}
	if len(rep.Lost) > int(man.ParityShards) {
		return rep, fmt.Errorf("buyer: repair: %w: %d of %d providers lost, the file survives %d", transport.ErrUnrecoverable,
			len(rep.Lost), len(e.Providers), man.ParityShards)
	}
	sessions, q, err := b.replacements(ctx, e, len(rep.Lost))
	if err != nil {
		return rep, fmt.Errorf("buyer: repair: %w", err)
	}
	rep.Sats, rep.Cap = q.Sats, q.Cap
	moves := map[int]peer.ID{}
	for i, l := range rep.Lost {
		moves[l.Slot] = sessions[i].Peer
		pay[sessions[i].Peer] = sessions[i].Payer
	}
	stats, err := b.host.Repair(ctx, ref, man, moves, transport.GetOptions{Payer: pay, Streams: b.cfg.Streams})
	if err != nil {
		for _, s := range sessions {
			b.finishFailed(ctx, s)
			if !b.alive(ctx, s.Peer) {
				b.markDead(s.Offer)
			}
		}
		return rep, fmt.Errorf("buyer: repair: %w", err)
	}
	ne := e
	ne.Providers = append([]string(nil), e.Providers...)
	for i, l := range rep.Lost {
		s := sessions[i]
		ne.Providers[l.Slot] = s.Provider
		rep.Moves = append(rep.Moves, Move{From: l.Provider, To: s.Provider, Shards: stats.Shards[s.Peer], Bytes: stats.Bytes[s.Peer], Sats: q.Providers[i].Sats})
	}
	ne.From = ""
	// The new providers were paid for what they hold: settle first.
	for _, s := range sessions {
		b.settle(ctx, s)
	}
	if err := b.db.SetFileProviders(ctx, state.File{Root: ne.Root, Name: ne.Name, Size: ne.Size, Providers: ne.Providers}); err != nil {
		b.log.Warn("file not recorded locally", "err", err)
	}
	_, _ = b.providerOffers(ctx, ne.Providers)
	if err := b.box.Put(ctx, ne); err != nil {
		return rep, fmt.Errorf("buyer: repair: shards rebuilt, but the new SafeBox entry was not published (it is kept locally; run store repair again): %w", err)
	}
	return rep, nil
}

// findLost checks every provider slot of a file: by the next storage-proof
// round, and by reachability for slots the round does not cover (or all of
// them when no round is left). A provider that fails any proof is lost.
func (b *Buyer) findLost(ctx context.Context, root string, e safebox.Entry, ref transport.Ref, man *chunk.Manifest, pay payers) (string, []LostProvider) {
	failed := map[string]string{}
	audited := map[string]bool{}
	checked := "storage proofs"
	reps, err := b.audit(ctx, root, ref, man, pay)
	if err != nil {
		checked = "reachability (" + err.Error() + ")"
	}
	for _, r := range reps {
		audited[r.Provider] = true
		if r.Failed > 0 {
			failed[r.Provider] = r.Err
		}
	}
	// The slots the round did not cover are dialled concurrently, each
	// bounded (alive): a dead one holds up none of the others.
	unreachable := make([]bool, len(e.Providers))
	var wg sync.WaitGroup
	for i, pub := range e.Providers {
		if !audited[pub] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				unreachable[i] = !b.alive(ctx, ref.Providers[i])
			}()
		}
	}
	wg.Wait()
	var lost []LostProvider
	for i, pub := range e.Providers {
		reason, bad := failed[pub]
		if unreachable[i] {
			reason, bad = "unreachable", true
		}
		if bad {
			lost = append(lost, LostProvider{Provider: pub, Slot: i, Reason: reason})
		}
	}
	return checked, lost
}

// replacements opens storage sessions with n new providers for a share of
// e (the providers already holding it excluded), after checking that the
// balance and the budgets cover their price. The sessions' payers are set
// for the share.
func (b *Buyer) replacements(ctx context.Context, e safebox.Entry, n int) ([]*Session, Quote, error) {
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil {
		return nil, Quote{}, err
	}
	var fresh []Candidate
	for _, c := range cands {
		if !contains(e.Providers, c.Offer.Pubkey) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) < n {
		return nil, Quote{}, fmt.Errorf("%w: %d storage providers not already holding the file, %d needed", ErrTooFewProviders, len(fresh), n)
	}
	per := sharePerProvider(e.Size, len(e.Providers))
	gib := max((per+1<<30-1)>>30, 1)
	duration := uint64(b.cfg.StorageDuration / time.Second)
	var sessions []*Session
	var offers []nips.Offer
	for _, c := range fresh {
		if len(sessions) == n {
			break
		}
		// Priced and checked one at a time, each with those already taken.
		q := b.quoteShare(e.Size, per, append(offers, c.Offer))
		if err := b.afford(ctx, q); err != nil {
			for _, s := range sessions {
				b.finishFailed(ctx, s)
			}
			return nil, Quote{}, err
		}
		s, err := b.Open(ctx, c, gib, duration, "")
		if err != nil {
			b.log.Warn("provider skipped", "provider", c.Offer.Pubkey, "err", err)
			continue
		}
		b.storePayer(s, per)
		sessions = append(sessions, s)
		offers = append(offers, c.Offer)
	}
	if len(sessions) < n {
		for _, s := range sessions {
			b.finishFailed(ctx, s)
		}
		return nil, Quote{}, fmt.Errorf("%w: reached %d of the %d new storage providers needed", ErrTooFewProviders, len(sessions), n)
	}
	return sessions, b.quoteShare(e.Size, per, offers), nil
}

// RepairAll repairs every file of ours (its SafeBox entries, on the relays
// or cached), one at a time, each bounded by perFile. It returns the
// reports of the files it found lost providers in, and the errors joined.
func (b *Buyer) RepairAll(ctx context.Context, perFile time.Duration) ([]RepairReport, error) {
	l, err := b.box.ListSources(ctx, 0)
	if err != nil {
		return nil, err
	}
	var out []RepairReport
	var errs []error
	for _, e := range l.Entries {
		if ctx.Err() != nil {
			break
		}
		fctx, cancel := context.WithTimeout(ctx, perFile)
		rep, err := b.Repair(fctx, e.Root)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Root, err))
		}
		if len(rep.Lost) > 0 {
			out = append(out, rep)
		}
	}
	return out, errors.Join(errs...)
}

// RepairLoop runs RepairAll on every tick (a time.Ticker's channel, owned
// by the caller) until ctx ends, logging what it found lost and rebuilt.
// One pass at a time; ticks during a pass are dropped; each file is bounded
// by perFile.
func (b *Buyer) RepairLoop(ctx context.Context, tick <-chan time.Time, perFile time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		reps, err := b.RepairAll(ctx, perFile)
		for _, r := range reps {
			for _, l := range r.Lost {
				b.log.Warn("provider lost", "root", r.Root, "provider", l.Provider, "reason", l.Reason)
			}
			for _, m := range r.Moves {
				b.log.Info("file repaired", "root", r.Root, "from", m.From, "to", m.To, "shards", m.Shards, "bytes", m.Bytes, "sats", m.Sats)
			}
		}
		if err != nil && ctx.Err() == nil {
			b.log.Warn("auto-repair incomplete", "err", err)
		}
	}
}

// providerOffers returns the storage offers of providers from the relays,
// keeping them locally; when no relay answers, the ones kept before (so
// that our files stay readable with the relays down).
func (b *Buyer) providerOffers(ctx context.Context, providers []string) ([]*nostr.Event, error) {
	f := nostr.Filter{Kinds: []int{nips.KindOffer}, Authors: providers, Tags: nostr.TagMap{"t": {string(nips.Storage)}}}
	evs, err := b.relays.Query(ctx, f)
	if err != nil {
		cached, cerr := b.db.CachedEvents(ctx, f)
		if cerr != nil || len(cached) == 0 {
			return nil, err
		}
		b.log.Info("no relay answers: using the kept offers", "offers", len(cached))
		return cached, nil
	}
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); ok {
			_ = b.db.KeepEvent(ctx, ev)
		}
	}
	return evs, nil
}
