package buyer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// ErrNoUnfinishedPut means there is no unfinished put of the file to
// resume or abort.
var ErrNoUnfinishedPut = errors.New("buyer: no unfinished put of this file")

// Upload is what a put stores, as its journal knows it.
type Upload struct {
	// Path (absolute), Size and ModTime identify a file: a put of the same
	// file resumes its unfinished put. An empty Path (a stream) is
	// journaled but cannot be resumed later, only aborted.
	Path    string
	Name    string
	Size    int64
	ModTime time.Time
}

// PutFile stores the file r read from up.Path like Put, resuming the
// unfinished put of the same file (same path, size and modification time)
// if there is one: stripes that put stored are neither sent nor paid
// again. With resume set there must be one (ErrNoUnfinishedPut).
func (b *Buyer) PutFile(ctx context.Context, r io.ReadSeeker, up Upload, resume bool, progress Progress) (safebox.Entry, error) {
	j, err := b.UnfinishedPut(ctx, up.Path, func(p state.Put) bool { return p.Size == up.Size && p.ModTime.Equal(up.ModTime) })
	switch {
	case err == nil:
		b.log.Info("resuming unfinished put", "put", j.ID, "stripes_stored", j.Stored, "stripes_begun", j.Stripes)
		return b.put(ctx, r, up, &j, progress)
	case errors.Is(err, ErrNoUnfinishedPut) && !resume:
		return b.put(ctx, r, up, nil, progress)
	}
	return safebox.Entry{}, err
}

// UnfinishedPuts lists the puts journaled and not finished, oldest first.
func (b *Buyer) UnfinishedPuts(ctx context.Context) ([]state.Put, error) {
	return b.db.Puts(ctx)
}

// UnfinishedPut returns the newest unfinished put of path that match
// accepts (nil: any).
func (b *Buyer) UnfinishedPut(ctx context.Context, path string, match func(state.Put) bool) (state.Put, error) {
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil {
		return state.Put{}, err
	}
	for _, p := range slices.Backward(ps) {
		if p.Path == path && path != "" && (match == nil || match(p)) {
			return p, nil
		}
	}
	return state.Put{}, fmt.Errorf("%w: %s", ErrNoUnfinishedPut, path)
}

// openStorage opens storage sessions with n providers among cands. want,
// if set, is a resumed put's providers in manifest order: each keeps its
// slot, and one that cannot be reached is replaced by the best other
// candidate. sessions are the resumed put's market sessions (by slot): a
// provider that still holds its session open is paid in it again.
func (b *Buyer) openStorage(ctx context.Context, cands []Candidate, want, sessions []string, n int, gib, duration uint64) []*Session {
	open := func(c Candidate) *Session {
		s, err := b.Open(ctx, c, gib, duration, "")
		if err != nil {
			b.log.Warn("provider skipped", "provider", c.Offer.Pubkey, "err", err)
			return nil
		}
		return s
	}
	resumed := sessions
	var out []*Session
	next := 0
	spare := func() *Session {
		for next < len(cands) {
			c := cands[next]
			next++
			if !slices.Contains(want, c.Offer.Pubkey) {
				if s := open(c); s != nil {
					return s
				}
			}
		}
		return nil
	}
	if want == nil {
		for len(out) < n {
			s := spare()
			if s == nil {
				break
			}
			out = append(out, s)
		}
		return out
	}
	for slot, pub := range want {
		var s *Session
		if i := slices.IndexFunc(cands, func(c Candidate) bool { return c.Offer.Pubkey == pub }); i >= 0 {
			if slot < len(resumed) && resumed[slot] != "" {
				var err error
				if s, err = b.resumeSession(ctx, cands[i], resumed[slot]); err != nil {
					b.log.Warn("unfinished put: its session not resumed, opening a new one", "provider", pub, "session", resumed[slot], "err", err)
				}
			}
			if s == nil {
				s = open(cands[i])
			}
		}
		if s == nil {
			if s = spare(); s == nil {
				break
			}
			b.log.Warn("unfinished put: provider replaced", "provider", pub, "by", s.Provider)
		}
		out = append(out, s)
	}
	return out
}

// startOver abandons the unfinished put *jp (its code needs more
// providers than answer): its chunks are deleted (AbortPut) and the put
// begins anew.
func (b *Buyer) startOver(ctx context.Context, jp **state.Put, why string) {
	j := *jp
	*jp = nil
	b.log.Warn("unfinished put started over", "put", j.ID, "why", why)
	if n, err := b.AbortPut(ctx, j.ID); err != nil {
		b.log.Warn("chunks of the abandoned put not all deleted", "put", j.ID, "deleted", n, "err", err)
	}
}

// sessionOffers returns the offers of sessions.
func sessionOffers(sessions []*Session) []nips.Offer {
	out := make([]nips.Offer, len(sessions))
	for i, s := range sessions {
		out[i] = s.Offer
	}
	return out
}

// remaining is what an unfinished put still has to store, for its quote:
// the file less the stripes every provider acknowledged.
func remaining(j *state.Put) int64 {
	return max(j.Size-int64(j.Stored)*int64(j.ChunkSize)*int64(j.DataShards), 0)
}

// resumeOffers returns the offers a resumed put will most likely use: its
// providers' (in slot order), then the best others for those not found.
func resumeOffers(cands []Candidate, want []string) []nips.Offer {
	var out []nips.Offer
	for _, pub := range want {
		if i := slices.IndexFunc(cands, func(c Candidate) bool { return c.Offer.Pubkey == pub }); i >= 0 {
			out = append(out, cands[i].Offer)
		}
	}
	for _, c := range cands {
		if len(out) >= len(want) {
			break
		}
		if !slices.Contains(want, c.Offer.Pubkey) {
			out = append(out, c.Offer)
		}
	}
	return out
}

// putJournal is a put's transport.PutJournal in the state database.
type putJournal struct {
	db *state.DB
	id int64
}

// Begin implements transport.PutJournal.
func (j putJournal) Begin(ctx context.Context, stripe int, cids []chunk.CID) (transport.StripeState, error) {
	buf := make([]byte, 0, len(cids)*len(chunk.CID{}))
	for _, c := range cids {
		buf = append(buf, c[:]...)
	}
	begun, stored, err := j.db.BeginStripe(ctx, j.id, stripe, buf)
	switch {
	case err != nil:
		return 0, err
	case stored:
		return transport.StripeStored, nil
	case begun:
		return transport.StripeSent, nil
	}
	return transport.StripeNew, nil
}

// Stored implements transport.PutJournal.
func (j putJournal) Stored(ctx context.Context, stripe int) error {
	return j.db.StripeStored(ctx, j.id, stripe)
}

// journal returns the put options of an attempt over sessions (in
// manifest order): a new put is journaled (*jp set) with a fresh key and
// the default code for its providers; a resumed one keeps its key and
// code, and records a replaced provider.
func (b *Buyer) journal(ctx context.Context, up Upload, jp **state.Put, sessions []*Session) (transport.PutOptions, putJournal, error) {
	provs, ids := make([]string, len(sessions)), make([]string, len(sessions))
	for i, s := range sessions {
		provs[i], ids[i] = s.Provider, s.ID
	}
	j := *jp
	if j == nil {
		key, err := chunk.NewKey()
		if err != nil {
			return transport.PutOptions{}, putJournal{}, err
		}
		k, m := len(sessions), 0
		if k > 1 {
			k, m = k-1, 1
		}
		p := state.Put{Path: up.Path, Name: up.Name, Size: up.Size, ModTime: up.ModTime, Key: hex.EncodeToString(key[:]),
			ChunkSize: chunkSizeFor(up.Size), DataShards: k, ParityShards: m, Providers: provs, Sessions: ids}
		if p.ID, err = b.db.BeginPut(ctx, p); err != nil {
			return transport.PutOptions{}, putJournal{}, err
		}
		j, *jp = &p, &p
	} else if !slices.Equal(j.Providers, provs) {
		if err := b.db.SetPutProviders(ctx, j.ID, provs); err != nil {
			return transport.PutOptions{}, putJournal{}, err
		}
		j.Providers = provs
	}
	if j != nil && !slices.Equal(j.Sessions, ids) {
		if err := b.db.SetPutSessions(ctx, j.ID, ids); err != nil {
			return transport.PutOptions{}, putJournal{}, err
		}
		j.Sessions = ids
	}
	kb, err := hex.DecodeString(j.Key)
	if err != nil || len(kb) != len(chunk.Key{}) {
		return transport.PutOptions{}, putJournal{}, fmt.Errorf("buyer: unfinished put %d: bad key in the journal", j.ID)
	}
	key := chunk.Key(kb)
	jn := putJournal{db: b.db, id: j.ID}
	return transport.PutOptions{Key: &key, Journal: jn, ChunkSize: j.ChunkSize, DataShards: j.DataShards, ParityShards: j.ParityShards}, jn, nil
}

// AbortPut ends an unfinished put: its chunks are deleted from the
// providers that answer (authorized by our key) and the journal, with the
// file key, is dropped. It returns how many chunks were deleted. Chunks
// on a provider that cannot be reached stay there, encrypted under a key
// nobody keeps, until their storage period ends. What a provider was paid
// and did not use stays credited to us there (see README).
func (b *Buyer) AbortPut(ctx context.Context, id int64) (int, error) {
	j, err := b.db.GetPut(ctx, id)
	if err != nil {
		return 0, err
	}
	offers, err := b.storageOffers(ctx, j.Providers)
	if err != nil {
		return 0, err
	}
	n := len(j.Providers)
	peers := make([]peer.ID, n)
	for i, pub := range j.Providers {
		if peers[i], err = transport.PeerIDFromNostrPubkey(pub); err != nil {
			return 0, err
		}
		if o, ok := offers[pub]; ok {
			b.learnAddrs(peers[i], o)
		}
	}
	var mu sync.Mutex // guards deleted, failed, gone
	var deleted int
	var failed []error
	gone := map[peer.ID]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	err = b.db.PutStripes(ctx, id, func(stripe int, cids []byte) error {
		for k := 0; (k+1)*32 <= len(cids); k++ {
			c := chunk.CID(cids[k*32 : (k+1)*32])
			if c.IsZero() {
				continue
			}
			p := peers[(stripe+k)%n]
			g.Go(func() error {
				mu.Lock()
				skip := gone[p]
				mu.Unlock()
				if skip {
					return nil
				}
				err := b.host.Storage(p, nil).Delete(gctx, c)
				mu.Lock()
				defer mu.Unlock()
				var re *transport.RemoteError
				switch {
				case err == nil:
					deleted++
				case errors.Is(err, transport.ErrNotFound):
				case !errors.As(err, &re):
					// Not reached: its other chunks are not tried.
					if !gone[p] {
						gone[p] = true
						failed = append(failed, err)
					}
				case len(failed) < 3:
					failed = append(failed, err) // a few say why
				}
				return nil
			})
		}
		return gctx.Err()
	})
	_ = g.Wait()
	if err != nil {
		return deleted, fmt.Errorf("buyer: abort put %d: %w", id, err)
	}
	if err := b.db.EndPut(ctx, id); err != nil {
		return deleted, err
	}
	if len(failed) > 0 {
		return deleted, fmt.Errorf("buyer: abort put %d: some chunks were not deleted (their key is gone): %w", id, errors.Join(failed...))
	}
	return deleted, nil
}

// storageOffers returns the newest storage offer of each of pubs found on
// the relays (or kept in the cache: providerOffers).
func (b *Buyer) storageOffers(ctx context.Context, pubs []string) (map[string]nips.Offer, error) {
	evs, err := b.providerOffers(ctx, pubs)
	if err != nil {
		return nil, err
	}
	offers := map[string]nips.Offer{}
	for _, ev := range evs {
		if o, err := nips.ParseOffer(ev); err == nil && o.Resource == nips.Storage {
			if cur, ok := offers[o.Pubkey]; !ok || o.CreatedAt > cur.CreatedAt {
				offers[o.Pubkey] = o
			}
		}
	}
	return offers, nil
}

// learnAddrs adds the endpoints of offer o to the peerstore for pid.
func (b *Buyer) learnAddrs(pid peer.ID, o nips.Offer) {
	addrs := make([]ma.Multiaddr, 0, len(o.Endpoints))
	for _, ep := range o.Endpoints {
		if a, err := ma.NewMultiaddr(ep); err == nil {
			addrs = append(addrs, a)
		}
	}
	b.host.AddAddrs(pid, addrs, time.Hour)
}
