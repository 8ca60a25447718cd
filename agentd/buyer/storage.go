package buyer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// Progress is told the bytes done and the total (0 if unknown).
type Progress func(done, total int64)

// putAttempts bounds Put's retries with replacement providers.
const putAttempts = 3

// Put stores r (size bytes, for pricing and progress) encrypted and
// erasure-coded over the best storage providers, pays each step, keeps the
// file key in the SafeBox, and signs receipts and attestations with each
// provider. It returns the SafeBox entry (its Key is a secret). The put is
// journaled (see PutFile): interrupted, it is listed and can be aborted.
func (b *Buyer) Put(ctx context.Context, r io.ReadSeeker, name string, size int64, progress Progress) (safebox.Entry, error) {
	return b.put(ctx, r, Upload{Name: name, Size: size}, nil, progress)
}

// put runs a journaled put (j: the unfinished put it resumes, or nil),
// retrying with replacement providers; a retry resumes where the failed
// attempt stopped.
func (b *Buyer) put(ctx context.Context, r io.ReadSeeker, up Upload, j *state.Put, progress Progress) (safebox.Entry, error) {
	var lastErr error
	for attempt := range putAttempts {
		e, err := b.putOnce(ctx, r, up, &j, progress)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if ctx.Err() != nil || errors.Is(err, ErrNoOffer) || errors.Is(err, cashu.ErrInsufficient) || errors.Is(err, metering.ErrSessionLimit) ||
			errors.Is(err, ErrCannotAfford) || errors.Is(err, ErrTooFewProviders) {
			break
		}
		b.log.Warn("put failed, retrying with other providers", "attempt", attempt+1, "err", err)
		if _, serr := r.Seek(0, io.SeekStart); serr != nil {
			return safebox.Entry{}, fmt.Errorf("buyer: put: %w (and cannot rewind: %v)", err, serr)
		}
	}
	return safebox.Entry{}, lastErr
}

// putOnce makes one attempt of a put, resuming *jp if set, and journaling
// a new put in *jp once its providers are known. A new put's sessions come
// from one open bid with Config.OpenBids (openStorageBid), else from
// targeted bids (targetedStorage), as a resumed put's always do.
func (b *Buyer) putOnce(ctx context.Context, r io.Reader, up Upload, jp **state.Put, progress Progress) (safebox.Entry, error) {
	name, size := up.Name, up.Size
	var (
		sessions []*Session
		err      error
	)
	if b.cfg.OpenBids && *jp == nil {
		sessions, err = b.openStorageBid(ctx, size)
	} else {
		// A resumed put keeps its providers: it bids on their offers.
		sessions, err = b.targetedStorage(ctx, size, jp)
	}
	if err != nil {
		return safebox.Entry{}, err
	}
	// Each provider holds one shard per stripe and the manifest; it is
	// paid per market.StorageCharge, never past its cap.
	per := sharePerProvider(size, len(sessions))
	pay := payers{}
	for _, s := range sessions {
		b.storePayer(s, per)
		pay[s.Peer] = s.Payer
	}
	peers := make([]peer.ID, len(sessions))
	for i, s := range sessions {
		peers[i] = s.Peer
	}
	b.prepareSends(ctx, pay)
	opt, jn, err := b.journal(ctx, up, jp, sessions)
	if err != nil {
		for _, s := range sessions {
			b.finishFailed(ctx, s)
		}
		return safebox.Entry{}, err
	}
	opt.Payer, opt.Streams = pay, b.cfg.Streams
	var src io.Reader = r
	if progress != nil {
		src = &progressReader{r: r, total: size, fn: progress}
	}
	ref, _, err := b.host.Put(ctx, src, peers, opt)
	if err != nil {
		for _, s := range sessions {
			b.finishFailed(ctx, s)
			if !b.alive(ctx, s.Peer) {
				b.markDead(s.Offer)
			}
		}
		return safebox.Entry{}, fmt.Errorf("buyer: put: %w", err)
	}
	provs := make([]string, len(sessions))
	for i, s := range sessions {
		provs[i] = s.Provider
	}
	e := safebox.Entry{Root: hex.EncodeToString(ref.Root[:]), Key: hex.EncodeToString(ref.Key[:]), Providers: provs, Name: name, Size: size, Created: time.Now().Unix()}
	if err := b.box.Put(ctx, e); err != nil {
		// The key must not be lost: the file is unreadable without it.
		return e, fmt.Errorf("buyer: file stored but its key was not saved to the safebox (keep this entry): %w", err)
	}
	if err := b.db.PutFile(ctx, state.File{Root: e.Root, Name: name, Size: size, Providers: provs}); err != nil {
		b.log.Warn("file not recorded locally", "err", err)
	}
	if err := b.db.EndPut(ctx, jn.id); err != nil {
		b.log.Warn("finished put still journaled", "put", jn.id, "err", err)
	}
	_, _ = b.providerOffers(ctx, provs) // kept: the file stays readable with the relays down
	for _, s := range sessions {
		b.settle(ctx, s)
	}
	return e, nil
}

// targetedStorage opens the storage sessions of a put of size bytes with
// targeted bids on the best Replicas storage offers (resuming *jp, if set,
// on its providers), after checking the wallet and budgets cover them.
func (b *Buyer) targetedStorage(ctx context.Context, size int64, jp **state.Put) ([]*Session, error) {
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil {
		return nil, err
	}
	n := min(b.cfg.Replicas, len(cands))
	var want, resumed []string
	if *jp != nil {
		// A resumed put keeps its code: as many providers as it began with.
		if len(cands) >= len((*jp).Providers) {
			want, resumed = (*jp).Providers, (*jp).Sessions
			n = len(want)
		} else {
			b.startOver(ctx, jp, "too few storage providers for its code")
		}
	}
	if n < b.cfg.MinProviders {
		return nil, fmt.Errorf("%w: found %d storage providers, --min-providers is %d (--replicas %d)", ErrTooFewProviders, n, b.cfg.MinProviders, b.cfg.Replicas)
	}
	duration := uint64(b.cfg.StorageDuration / time.Second)
	// Know the cost first: nothing is sent that the wallet or the budgets
	// cannot cover.
	offers := make([]nips.Offer, n)
	for i, c := range cands[:n] {
		offers[i] = c.Offer
	}
	quoted := size
	if *jp != nil {
		offers, quoted = resumeOffers(cands, want), remaining(*jp)
	}
	if err := b.afford(ctx, b.quoteFor(quoted, offers)); err != nil {
		return nil, err
	}
	gib := max((sharePerProvider(size, n)+1<<30-1)>>30, 1)
	sessions := b.openStorage(ctx, cands, want, resumed, n, gib, duration)
	if want != nil && len(sessions) < n {
		// Put the file anew on the providers that answered, if enough did.
		b.startOver(ctx, jp, "too few storage providers answer for its code")
		if len(sessions) >= b.cfg.MinProviders {
			if err := b.afford(ctx, b.quoteFor(size, sessionOffers(sessions))); err != nil {
				for _, s := range sessions {
					b.finishFailed(ctx, s)
				}
				return nil, err
			}
		}
	}
	if len(sessions) < b.cfg.MinProviders {
		for _, s := range sessions {
			b.finishFailed(ctx, s)
		}
		return nil, fmt.Errorf("%w: reached %d of %d storage providers asked, --min-providers is %d", ErrTooFewProviders, len(sessions), n, b.cfg.MinProviders)
	}
	return sessions, nil
}

// prepareSends splits the wallet's proofs, in one swap before the
// transfer, into the tokens the payers' steps will be paid with (each
// provider's first step, then each one's second, ..., as far as the
// balance goes), so that a payment asked for during the transfer is an
// exact send: no mint swap while the provider waits, and sends to
// different providers do not queue behind each other's change. A failure
// costs only that: the sends swap as before.
func (b *Buyer) prepareSends(ctx context.Context, pay payers) {
	var steps [][]uint64
	for _, p := range pay {
		if p != nil {
			steps = append(steps, p.Steps())
		}
	}
	var amounts []uint64
	for i := 0; ; i++ {
		more := false
		for _, s := range steps {
			if i < len(s) {
				amounts = append(amounts, s[i])
				more = true
			}
		}
		if !more {
			break
		}
	}
	n, err := b.wallet.PrepareSends(ctx, amounts)
	if err != nil {
		b.log.Warn("payments not prepared; each step swaps at the mint", "err", err)
		return
	}
	b.log.Debug("payments prepared", "steps", n, "of", len(amounts))
}

// alive reports whether the provider answers a connection now.
func (b *Buyer) alive(ctx context.Context, p peer.ID) bool {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pub, err := transport.NostrPubkeyFromPeerID(p)
	if err != nil {
		return false
	}
	// A live connection is kept (other sessions may be using it); else
	// the addresses the host knows for p are dialled.
	_, err = b.host.Connect(cctx, pub, nil)
	return err == nil
}

// finishFailed reclaims a failed session's unredeemed tokens.
//
// It asks for no receipt and publishes no attestation, not even a
// "failed" one. A failed put does not say which provider failed it; the
// one that is gone (markDead) cannot sign a receipt, and an attestation
// must point at the session's receipt (nips/attestation.md): one pointing
// at anything else counts for nothing in market.TrustGraph. The failure
// counts locally instead (markDead, and the providers table that score
// reads). Providers of the abandoned attempt that still answer keep what
// they redeemed, without a receipt.
func (b *Buyer) finishFailed(ctx context.Context, s *Session) {
	b.endStreams(s)
	if s.Payer != nil {
		if back, err := s.Payer.Reconcile(context.WithoutCancel(ctx)); err != nil {
			b.log.Warn("reclaim incomplete", "session", s.ID, "err", err)
		} else if back > 0 {
			b.log.Info("unredeemed payments reclaimed", "session", s.ID, "sats", back)
		}
	}
	if err := b.db.FinishSession(ctx, s.ID, "failed", ""); err != nil {
		b.log.Warn("session state not recorded", "session", s.ID, "err", err)
	}
}

// endStreams closes the idle storage streams of session s, so that the
// provider keeps what they were paid and did not use as our credit for our
// next streams, in any session (transport.Host.EndSession).
func (b *Buyer) endStreams(s *Session) {
	if s.Offer.Resource == nips.Storage {
		b.host.EndSession(s.Peer, s.ID)
	}
}

// settle countersigns the session's receipt and publishes an attestation
// (see attestation). When the receipt confirms every sat we paid, the
// tokens are settled without asking the mint; otherwise the unredeemed
// ones are reclaimed.
func (b *Buyer) settle(ctx context.Context, s *Session) {
	b.endStreams(s)
	paid := uint64(0)
	if st, err := b.db.GetSession(ctx, s.ID); err == nil {
		paid = st.PaidMsat
	}
	ev, err := b.host.RequestReceipt(ctx, s.Peer, s.ID, func(r nips.Receipt) error {
		if r.Buyer != b.pubkey {
			return errors.New("receipt names another buyer")
		}
		if r.Paid > paid {
			return fmt.Errorf("receipt says %d msat paid, we paid %d", r.Paid, paid)
		}
		return nil
	})
	var r nips.Receipt
	if err == nil {
		r, _ = nips.ParseReceipt(ev)
	}
	if s.Payer != nil {
		if err == nil && r.Paid == paid {
			if serr := s.Payer.Settled(ctx); serr != nil {
				b.log.Warn("payments not marked delivered", "session", s.ID, "err", serr)
			}
		} else if back, rerr := s.Payer.Reconcile(ctx); rerr != nil {
			b.log.Warn("reclaim incomplete", "session", s.ID, "err", rerr)
		} else if back > 0 {
			b.log.Info("unredeemed payments reclaimed", "session", s.ID, "sats", back)
		}
	}
	if err != nil {
		b.log.Warn("receipt not signed", "session", s.ID, "err", err)
		if err := b.db.FinishSession(ctx, s.ID, "done", ""); err != nil {
			b.log.Warn("session state not recorded", "session", s.ID, "err", err)
		}
		return
	}
	// What was delivered is what the countersigned receipt says.
	if err := errors.Join(b.db.AddUsage(ctx, s.ID, 0, r.Delivered), b.db.FinishSession(ctx, s.ID, "done", ev.ID)); err != nil {
		b.log.Warn("session state not recorded", "session", s.ID, "err", err)
	}
	a := attestation(s, r)
	if _, err := b.node.Publish(ctx, a.ToEvent(nostr.Now())); err != nil {
		b.log.Warn("attestation not published", "session", s.ID, "err", err)
	}
	_ = b.db.Observe(ctx, s.Provider, 0, true)
}

// maxLatency is the largest latency_ms nips.ParseAttestation accepts.
const maxLatency = 24 * time.Hour

// attestation rates the provider of a settled session whose countersigned
// receipt is r: delivered, rated 100. The receipt confirms that what was
// paid was delivered, and the rating only scales that receipt's weight in
// the trust graph, so a session that went as agreed keeps all of it;
// latency is reported beside the rating, not folded into it. Settled is
// what the receipt says was paid, the latency the round trip measured when
// the session opened (at least 1 ms, so that it reads as measured, and at
// most what the event allows).
func attestation(s *Session, r nips.Receipt) nips.Attestation {
	lat := min(max(s.Latency, time.Millisecond), maxLatency)
	return nips.Attestation{Subject: s.Provider, Receipt: r.EventID, Role: nips.RoleProvider, Outcome: nips.Delivered,
		Settled: r.Paid, LatencyMs: uint64(lat.Milliseconds()), Rating: 100}
}

// fileRef finds a file's key (ours or granted) and its providers' current
// endpoints and prices, and prepares a payer per provider.
func (b *Buyer) fileRef(ctx context.Context, root string) (safebox.Entry, transport.Ref, payers, []*metering.Payer, error) {
	e, err := b.box.Find(ctx, root)
	if err != nil {
		return e, transport.Ref{}, nil, nil, fmt.Errorf("file %s: %w", root, err)
	}
	ref, pay, payList, err := b.entryRef(ctx, e)
	return e, ref, pay, payList, err
}

// entryRef is fileRef of the entry e.
func (b *Buyer) entryRef(ctx context.Context, e safebox.Entry) (transport.Ref, payers, []*metering.Payer, error) {
	var ref transport.Ref
	rb, err1 := hex.DecodeString(e.Root)
	kb, err2 := hex.DecodeString(e.Key)
	if err1 != nil || err2 != nil || len(rb) != 32 || len(kb) != 32 {
		return ref, nil, nil, safebox.ErrBadEntry
	}
	ref.Root, ref.Key = chunk.CID(rb), chunk.Key(kb)
	offers, err := b.storageOffers(ctx, e.Providers)
	if err != nil {
		return ref, nil, nil, err
	}
	pay := payers{}
	var payList []*metering.Payer
	for _, pub := range e.Providers {
		pid, err := transport.PeerIDFromNostrPubkey(pub)
		if err != nil {
			return ref, nil, nil, err
		}
		ref.Providers = append(ref.Providers, pid)
		o, ok := offers[pub]
		if !ok {
			continue // no offer: the provider is gone; parity covers it
		}
		b.learnAddrs(pid, o)
		// Reads name no market session: the provider charges its list
		// prices (a walk-in), whichever sessions stored the file.
		prices, dur := o.Prices, uint64(86400)
		rate, err := metering.RateFor(nips.Storage, prices, dur)
		if err != nil {
			continue
		}
		// Reading back is charged at the retrieval price, whatever the
		// period; the cap covers all this provider may serve (every shard
		// it holds, when others are lost) and the manifest.
		step, limit := b.getPayerTerms(prices, e.Size)
		p := &metering.Payer{Wallet: b.wallet, DB: b.db, Session: "get:" + e.Root[:16], Provider: pub, Resource: nips.Storage,
			Rate: rate, Step: step, Limit: limit, Log: b.log}
		pay[pid] = p
		payList = append(payList, p)
	}
	return ref, pay, payList, nil
}

func (b *Buyer) reconcileAll(ctx context.Context, ps []*metering.Payer) {
	for _, p := range ps {
		if _, err := p.Reconcile(context.WithoutCancel(ctx)); err != nil {
			b.log.Warn("reclaim incomplete", "provider", p.Provider, "err", err)
		}
	}
}

// Get fetches the file root (ours, or granted to us) from its providers
// in parallel, checks and decrypts it into w.
func (b *Buyer) Get(ctx context.Context, root string, w io.Writer, progress Progress) (safebox.Entry, error) {
	e, ref, pay, payList, err := b.fileRef(ctx, root)
	if err != nil {
		return e, fmt.Errorf("buyer: get: %w", err)
	}
	b.prepareSends(ctx, pay)
	var dst io.Writer = w
	if progress != nil {
		dst = &progressWriter{w: w, total: e.Size, fn: progress}
	}
	err = b.host.Get(ctx, ref, dst, transport.GetOptions{Payer: pay, Streams: b.cfg.Streams})
	b.reconcileAll(ctx, payList)
	if err != nil {
		return e, fmt.Errorf("buyer: get: %w", err)
	}
	return e, nil
}

// Delete removes a file of ours from its providers (authorized by our key)
// and forgets its key: the SafeBox entry is deleted (NIP-09) and the local
// record dropped. Chunks on providers that are gone stay there, encrypted
// under a key nobody keeps.
func (b *Buyer) Delete(ctx context.Context, root string) error {
	e, ref, pay, payList, err := b.fileRef(ctx, root)
	if err != nil {
		return fmt.Errorf("buyer: delete: %w", err)
	}
	if e.From != b.pubkey {
		return fmt.Errorf("buyer: delete: %s was granted to us, only its owner deletes it", root)
	}
	defer b.reconcileAll(ctx, payList)
	man, err := b.host.FetchManifest(ctx, ref, pay)
	if err != nil {
		return fmt.Errorf("buyer: delete: %w", err)
	}
	delErr := b.host.DeleteFile(ctx, ref, man, pay)
	if err := b.box.Delete(ctx, root); err != nil {
		return errors.Join(delErr, err)
	}
	if err := b.db.DeleteFile(ctx, root); err != nil {
		return errors.Join(delErr, err)
	}
	if delErr != nil {
		return fmt.Errorf("buyer: delete: some chunks remain (their key is gone): %w", delErr)
	}
	return nil
}

// AuditReport is one provider's answer to a storage-proof round.
type AuditReport struct {
	Provider string
	Proved   int
	Failed   int
	Err      string // first failure
}

// Audit challenges every provider of root with the next unused round of
// the storage proofs precomputed in its manifest. A provider that fails is
// recorded as failed (it ranks lower afterwards).
func (b *Buyer) Audit(ctx context.Context, root string) ([]AuditReport, error) {
	_, ref, pay, payList, err := b.fileRef(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("buyer: audit: %w", err)
	}
	defer b.reconcileAll(ctx, payList)
	man, err := b.host.FetchManifest(ctx, ref, pay)
	if err != nil {
		return nil, fmt.Errorf("buyer: audit: %w", err)
	}
	return b.audit(ctx, root, ref, man, pay)
}

// audit runs the next storage-proof round of root, whose manifest is man.
func (b *Buyer) audit(ctx context.Context, root string, ref transport.Ref, man *chunk.Manifest, pay payers) ([]AuditReport, error) {
	round, err := b.db.NextAuditRound(ctx, root)
	if err != nil {
		return nil, err
	}
	res, err := b.host.Audit(ctx, ref, man, round, pay)
	if err != nil {
		return nil, fmt.Errorf("buyer: audit round %d: %w", round, err)
	}
	by := map[string]*AuditReport{}
	var out []AuditReport
	for _, r := range res {
		pub, _ := transport.NostrPubkeyFromPeerID(r.Provider)
		rep := by[pub]
		if rep == nil {
			rep = &AuditReport{Provider: pub}
			by[pub] = rep
		}
		if r.Err != nil {
			rep.Failed++
			if rep.Err == "" {
				rep.Err = r.Err.Error()
			}
		} else {
			rep.Proved++
		}
	}
	for _, rep := range by {
		_ = b.db.Observe(ctx, rep.Provider, 0, rep.Failed == 0)
		out = append(out, *rep)
	}
	return out, nil
}

type progressReader struct {
	r     io.Reader
	done  atomic.Int64
	total int64
	fn    Progress
}

// Read reads and reports progress.
func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.fn(p.done.Add(int64(n)), p.total)
	return n, err
}

type progressWriter struct {
	w     io.Writer
	done  int64
	total int64
	fn    Progress
}

// Write writes and reports progress.
func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}
