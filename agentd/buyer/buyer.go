// Package buyer is agentd's buying role: it discovers offers through the
// relays, ranks them by price, trust and measured latency, bids on the
// best, takes the provider's match and pays step by step over transport;
// it stores and fetches files, serves a local OpenAI-compatible endpoint
// and a SOCKS5 proxy, and moves to the next-best provider when one stops
// answering.
package buyer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// Errors.
var (
	ErrNoOffer = errors.New("buyer: no acceptable offer")
	ErrNoMatch = errors.New("buyer: no match from the provider")
)

// Config tunes the buyer. Zero values take the defaults.
type Config struct {
	// Ceilings are the most the buyer pays, per resource (default:
	// storage 10^7 msat per GiB-day, bandwidth 10^5 msat per MiB,
	// inference 10^8 msat per 1M tokens each way).
	Ceilings map[nips.Resource]nips.Prices
	// Replicas is the number of storage providers a file is spread over
	// (Reed-Solomon: survives the loss of one); default 3.
	Replicas int
	// StorageDuration is how long files are stored (default 30 days).
	StorageDuration time.Duration
	// StallTimeout is how long a provider may stay silent mid-session
	// (between chunks) before the buyer moves to the next one (default 2 s).
	StallTimeout time.Duration
	// FirstChunkTimeout bounds the wait for a completion's first chunk,
	// which includes the provider redeeming the payment and the model
	// reading the prompt (default 30 s).
	FirstChunkTimeout time.Duration
	// MatchTimeout bounds the wait for a provider's match (default 5 s).
	MatchTimeout time.Duration
	// Seeds are extra trusted keys for trust ranking (the buyer's own key
	// is always a seed).
	Seeds []string
	// StepBytes is the least bought per payment step (default 8 MiB: each
	// step is a token swap at the mint, ~30-50 ms; see BenchmarkPutPaid).
	StepBytes uint64
	// BandwidthMiB is the quantity bid for a bandwidth session (default 1024).
	BandwidthMiB uint64
	// Streams is the number of parallel streams per storage provider
	// (default 1: each stream pays its own steps, so more streams pay ahead
	// for more; see BenchmarkPutPaid).
	Streams int
	// PrivateBids gift-wraps bids (NIP-59) to the provider, so the relay
	// never sees what the buyer bids for.
	PrivateBids bool
}

func (c *Config) defaults() {
	if c.Ceilings == nil {
		c.Ceilings = map[nips.Resource]nips.Prices{}
	}
	if c.Ceilings[nips.Storage] == nil {
		c.Ceilings[nips.Storage] = nips.Prices{{Unit: nips.UnitGiBDay, Msat: 10_000_000}}
	}
	if c.Ceilings[nips.Bandwidth] == nil {
		c.Ceilings[nips.Bandwidth] = nips.Prices{{Unit: nips.UnitMiB, Msat: 100_000}}
	}
	if c.Ceilings[nips.Inference] == nil {
		c.Ceilings[nips.Inference] = nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 100_000_000}, {Unit: nips.UnitMOutputTokens, Msat: 100_000_000}}
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.StorageDuration <= 0 {
		c.StorageDuration = 30 * 24 * time.Hour
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 2 * time.Second
	}
	if c.FirstChunkTimeout <= 0 {
		c.FirstChunkTimeout = 30 * time.Second
	}
	if c.MatchTimeout <= 0 {
		c.MatchTimeout = 5 * time.Second
	}
	if c.StepBytes == 0 {
		c.StepBytes = 8 << 20
	}
	if c.Streams <= 0 {
		c.Streams = 1
	}
	if c.BandwidthMiB == 0 {
		c.BandwidthMiB = 1024
	}
}

// Buyer is the buying role of a node.
type Buyer struct {
	n   *agentd.Node
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	sessions   map[string]*Session // provider+resource -> open session
	dead       map[string]time.Time
	cache      map[string]cached
	recoveries []time.Duration
}

// New returns a buyer on node n (with a wallet and a started host).
func New(ctx context.Context, n *agentd.Node, cfg Config) (*Buyer, error) {
	cfg.defaults()
	if _, err := n.NeedWallet(); err != nil {
		return nil, err
	}
	if err := n.StartHost(ctx); err != nil {
		return nil, err
	}
	b := &Buyer{n: n, cfg: cfg, log: n.Log.With("role", "buyer"), sessions: map[string]*Session{}, dead: map[string]time.Time{}}
	if got, err := b.CollectChange(ctx); err == nil && got > 0 {
		b.log.Info("change collected from the relays", "sats", got)
	}
	return b, nil
}

// Candidate is a ranked offer.
type Candidate struct {
	Offer   nips.Offer
	Trust   int
	Latency time.Duration
	Score   float64 // lower is better
	Peer    peer.ID
	Load    uint64 // percent, from the provider's presence beacon (0: none)
}

// loads reads the presence beacons of the offers' providers.
func (b *Buyer) loads(ctx context.Context, offers map[string]nips.Offer) map[string]uint64 {
	out := map[string]uint64{}
	var authors []string
	for _, o := range offers {
		authors = append(authors, o.Pubkey)
	}
	if len(authors) == 0 {
		return out
	}
	evs, err := b.n.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence}, Authors: authors})
	if err != nil {
		return out
	}
	now := time.Now().Unix()
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		if p, err := nips.ParsePresence(ev); err == nil && int64(p.Expiration) > now {
			out[p.Pubkey] = p.Load
		}
	}
	return out
}

func (b *Buyer) payment() nips.Payment {
	return nips.Payment{Method: nips.PayCashu, Mint: b.n.Wallet.Mints()[0], Unit: "sat"}
}

// markDead excludes a provider from ranking for a minute.
func (b *Buyer) markDead(pub string) {
	b.mu.Lock()
	b.dead[pub] = time.Now().Add(time.Minute)
	for k, s := range b.sessions {
		if s.Provider == pub {
			delete(b.sessions, k)
		}
	}
	b.mu.Unlock()
	_ = b.n.DB.Observe(context.Background(), pub, 0, false)
}

func (b *Buyer) isDead(pub string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.dead[pub]
	if ok && time.Now().After(until) {
		delete(b.dead, pub)
		return false
	}
	return ok
}

// Discover returns the acceptable offers for r (and model, for
// inference), best first: price, trust and latency (see score).
func (b *Buyer) Discover(ctx context.Context, r nips.Resource, model string) ([]Candidate, error) {
	ceiling := b.cfg.Ceilings[r]
	evs, err := b.n.Relays.Query(ctx, nips.OfferQuery{Resource: r, Ceiling: ceiling.Max(), Limit: 500}.Filter())
	if err != nil {
		return nil, fmt.Errorf("buyer: discover: %w", err)
	}
	latest := map[string]nips.Offer{}
	now := time.Now().Unix()
	for _, ev := range evs {
		if ok, _ := ev.CheckSignature(); !ok {
			continue
		}
		o, err := nips.ParseOffer(ev)
		if err != nil || int64(o.Expiration) < now || o.Pubkey == b.n.Key.Pubkey || b.isDead(o.Pubkey) {
			continue
		}
		if !o.Prices.Within(ceiling) || len(o.Endpoints) == 0 {
			continue
		}
		if _, ok := nips.CommonPayment([]nips.Payment{b.payment()}, o.Payments); !ok {
			continue
		}
		if model != "" && !contains(o.Models, model) {
			continue
		}
		if cur, ok := latest[o.Address()]; !ok || o.CreatedAt > cur.CreatedAt {
			latest[o.Address()] = o
		}
	}
	scores := b.trust(ctx)
	stats, _ := b.n.DB.Providers(ctx)
	loads := b.loads(ctx, latest)
	var out []Candidate
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range latest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, pid, err := b.probe(ctx, o)
			if err != nil {
				b.log.Debug("provider unreachable", "provider", o.Pubkey, "err", err)
				return
			}
			c := Candidate{Offer: o, Trust: scores.Rank(o.Pubkey), Latency: lat, Peer: pid, Load: loads[o.Pubkey]}
			c.Score = score(o.Prices.Sum(), c.Trust, lat, stats[o.Pubkey]) * (1 + float64(c.Load)/100)
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score < out[j].Score
		}
		return out[i].Offer.Pubkey < out[j].Offer.Pubkey
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoOffer, r)
	}
	return out, nil
}

// score ranks an offer, lower is better: the price, inflated by latency
// (x2 at 200 ms) and by the observed failure rate (up to x5), divided by
// 1 + trust rank/100 (a rank-100 provider counts at half price). Discover
// also inflates it by the provider's beaconed load (x2 at 100 %).
func score(price uint64, rank int, lat time.Duration, st state.ProviderStat) float64 {
	s := float64(max(price, 1))
	s *= 1 + float64(lat.Milliseconds())/200
	s *= 1 + 4*float64(st.Failed)/float64(st.OK+st.Failed+1)
	s /= 1 + float64(rank)/100
	return s
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// probe connects to the offer's provider and measures the time it took.
func (b *Buyer) probe(ctx context.Context, o nips.Offer) (time.Duration, peer.ID, error) {
	addrs := make([]ma.Multiaddr, 0, len(o.Endpoints))
	for _, e := range o.Endpoints {
		if a, err := ma.NewMultiaddr(e); err == nil {
			addrs = append(addrs, a)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	pid, err := b.n.Host.Connect(cctx, o.Pubkey, addrs)
	if err != nil {
		_ = b.n.DB.Observe(ctx, o.Pubkey, 0, false)
		return 0, "", err
	}
	lat := time.Since(start)
	if rtt := b.n.Host.LibP2P().Peerstore().LatencyEWMA(pid); rtt > 0 {
		lat = rtt
	}
	_ = b.n.DB.Observe(ctx, o.Pubkey, max(lat, time.Millisecond), true)
	return lat, pid, nil
}

// trust computes trust ranks from the receipts and attestations on the
// relays, seen from our key and the configured seeds.
func (b *Buyer) trust(ctx context.Context) *market.Scores {
	g := market.NewTrustGraph()
	evs, err := b.n.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindReceipt, nips.KindAttestation}, Limit: 5000})
	if err == nil {
		for _, ev := range evs {
			if ok, _ := ev.CheckSignature(); ok {
				_, _ = g.Apply(ev)
			}
		}
	}
	seeds := append([]string{b.n.Key.Pubkey}, b.cfg.Seeds...)
	return g.Compute(seeds, time.Now(), market.DefaultTrustParams())
}

// Session is an open session with one provider, from a match.
type Session struct {
	ID       string
	Provider string
	Peer     peer.ID
	Offer    nips.Offer
	Match    nips.Match
	Payer    *metering.Payer // nil for inference (paid per request)
	Opened   time.Time
}

// Open bids on c's offer for quantity (and duration, storage), waits for
// the provider's match, checks it and records the session.
func (b *Buyer) Open(ctx context.Context, c Candidate, quantity, duration uint64, model string) (*Session, error) {
	o := c.Offer
	// A provider that stopped since discovery fails here fast, not after
	// the match timeout.
	if _, pid, err := b.probe(ctx, o); err != nil {
		return nil, fmt.Errorf("%w: %s unreachable: %v", ErrNoMatch, o.Pubkey, err)
	} else {
		c.Peer = pid
	}
	bid := nips.Bid{
		Resource: o.Resource, Offer: o.Address(), MaxPrices: b.cfg.Ceilings[o.Resource],
		Quantity: max(quantity, o.MinQuantity), Duration: duration, Payments: []nips.Payment{b.payment()},
		Model: model, Expiration: nostr.Timestamp(time.Now().Add(10 * time.Minute).Unix()),
	}
	// Publish first (a relay may charge a fee, which changes the id);
	// the subscription then finds the match even if it is already stored.
	ev, err := b.publishBid(ctx, bid, o.Pubkey)
	if err != nil {
		return nil, fmt.Errorf("buyer: publish bid: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, b.cfg.MatchTimeout)
	defer cancel()
	got := make(chan nips.Match, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.n.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {ev.ID}}}}, func(mev *nostr.Event) {
			if ok, _ := mev.CheckSignature(); !ok || mev.PubKey != o.Pubkey {
				return
			}
			m, err := nips.ParseMatch(mev)
			if err != nil || m.Bid != ev.ID {
				return
			}
			select {
			case got <- m:
			default:
			}
		}, nil)
	}()
	defer wg.Wait()
	defer cancel()
	var m nips.Match
	select {
	case m = <-got:
	case <-sctx.Done():
		return nil, fmt.Errorf("%w: %s did not answer bid %s", ErrNoMatch, o.Pubkey, ev.ID)
	}
	if err := b.checkMatch(m, bid, o); err != nil {
		return nil, err
	}
	return b.record(ctx, m, o, c.Peer)
}

// publishBid publishes bid, gift-wrapped to provider with PrivateBids. It
// returns the bid event (for a private bid: the rumor, whose id the match
// names).
func (b *Buyer) publishBid(ctx context.Context, bid nips.Bid, provider string) (nostr.Event, error) {
	now := nostr.Now()
	if !b.cfg.PrivateBids {
		return b.n.Publish(ctx, bid.ToEvent(now))
	}
	k, err := keyer.NewPlainKeySigner(b.n.Key.Secret)
	if err != nil {
		return nostr.Event{}, err
	}
	gw, err := nips.WrapBid(ctx, bid, now, k, provider)
	if err != nil {
		return nostr.Event{}, err
	}
	if err := b.n.Relays.Publish(ctx, gw); err != nil {
		return nostr.Event{}, err
	}
	rumor := bid.ToEvent(now)
	rumor.PubKey = b.n.Key.Pubkey
	rumor.ID = rumor.GetID()
	return rumor, nil
}

func (b *Buyer) checkMatch(m nips.Match, bid nips.Bid, o nips.Offer) error {
	switch {
	case m.Buyer != b.n.Key.Pubkey:
		return fmt.Errorf("%w: match for another buyer", ErrNoMatch)
	case m.Provider != o.Pubkey || m.Pubkey != o.Pubkey:
		return fmt.Errorf("%w: match not signed by the offer's provider", ErrNoMatch)
	case !m.Prices.Within(bid.MaxPrices):
		return fmt.Errorf("%w: match prices above our ceiling", ErrNoMatch)
	case m.Payment.Method != nips.PayCashu || !b.n.Wallet.Allowed(m.Payment.Mint):
		return fmt.Errorf("%w: match asks for a mint we do not use", ErrNoMatch)
	}
	req, err := creq.Decode(m.PaymentRequest)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoMatch, err)
	}
	if req.Amount > metering.MsatToSats(m.Amount) {
		return fmt.Errorf("%w: payment request of %d sats over the match amount", ErrNoMatch, req.Amount)
	}
	return nil
}

// session returns the open session with provider c for r, opening one.
func (b *Buyer) session(ctx context.Context, c Candidate, quantity, duration uint64, model string) (*Session, error) {
	key := c.Offer.Pubkey + "/" + string(c.Offer.Resource)
	b.mu.Lock()
	s := b.sessions[key]
	b.mu.Unlock()
	if s != nil && time.Until(time.Unix(int64(s.Match.Expiration), 0)) > time.Minute {
		return s, nil
	}
	s, err := b.Open(ctx, c, quantity, duration, model)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.sessions[key] = s
	b.mu.Unlock()
	return s, nil
}

// payers dispatches a transport pause point to the payer of its provider.
type payers map[peer.ID]*metering.Payer

func (p payers) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	pp := p[inv.Provider]
	if pp == nil {
		return nil, fmt.Errorf("buyer: no session with %s", inv.Provider)
	}
	return pp.Pay(ctx, inv)
}

// OpenBid publishes an open bid for r (no offer named) and takes the first
// match a provider signs for it: the relay's matching engine pairs the bid
// with the cheapest eligible offer, the provider answers with its own
// match and payment request. It returns the session.
func (b *Buyer) OpenBid(ctx context.Context, r nips.Resource, quantity, duration uint64, model string) (*Session, error) {
	bid := nips.Bid{
		Resource: r, MaxPrices: b.cfg.Ceilings[r], Quantity: quantity, Duration: duration,
		Payments: []nips.Payment{b.payment()}, Model: model,
		Expiration: nostr.Timestamp(time.Now().Add(10 * time.Minute).Unix()),
	}
	ev, err := b.n.Publish(ctx, bid.ToEvent(nostr.Now()))
	if err != nil {
		return nil, fmt.Errorf("buyer: publish open bid: %w", err)
	}
	bid.EventID, bid.Pubkey = ev.ID, ev.PubKey
	sctx, cancel := context.WithTimeout(ctx, b.cfg.MatchTimeout)
	defer cancel()
	got := make(chan nips.Match, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.n.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindMatch}, Tags: nostr.TagMap{"e": {ev.ID}}}}, func(mev *nostr.Event) {
			if ok, _ := mev.CheckSignature(); !ok {
				return
			}
			m, err := nips.ParseMatch(mev)
			// Only the provider's own match carries the payment request.
			if err != nil || m.Bid != ev.ID || m.Pubkey != m.Provider || m.PaymentRequest == "" {
				return
			}
			select {
			case got <- m:
			default:
			}
		}, nil)
	}()
	defer wg.Wait()
	defer cancel()
	var m nips.Match
	select {
	case m = <-got:
	case <-sctx.Done():
		return nil, fmt.Errorf("%w: nobody answered open bid %s", ErrNoMatch, ev.ID)
	}
	pk, d, err := nips.ParseOfferAddress(m.Offer)
	if err != nil || pk != m.Provider {
		return nil, fmt.Errorf("%w: match names an offer of someone else", ErrNoMatch)
	}
	evs, err := b.n.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindOffer}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {d}}})
	if err != nil || len(evs) == 0 {
		return nil, fmt.Errorf("%w: the matched offer is gone", ErrNoMatch)
	}
	o, err := nips.ParseOffer(evs[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMatch, err)
	}
	if err := b.checkMatch(m, bid, o); err != nil {
		return nil, err
	}
	_, pid, err := b.probe(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w: provider unreachable: %v", ErrNoMatch, err)
	}
	return b.record(ctx, m, o, pid)
}

// record stores a checked match as a buyer session and prepares its payer.
func (b *Buyer) record(ctx context.Context, m nips.Match, o nips.Offer, pid peer.ID) (*Session, error) {
	s := &Session{ID: m.Session, Provider: o.Pubkey, Peer: pid, Offer: o, Match: m, Opened: time.Now()}
	if err := b.n.DB.PutSession(ctx, state.Session{ID: m.Session, Role: state.RoleBuyer, Resource: o.Resource, Counterparty: o.Pubkey,
		MatchID: m.EventID, Offer: o.Address(), Prices: m.Prices, Quantity: m.Quantity, Duration: m.Duration, AmountMsat: m.Amount}); err != nil {
		return nil, err
	}
	if o.Resource != nips.Inference {
		rate, err := metering.RateFor(o.Resource, m.Prices, m.Duration)
		if err != nil {
			return nil, err
		}
		s.Payer = &metering.Payer{Wallet: b.n.Wallet, DB: b.n.DB, Session: m.Session, Provider: o.Pubkey, Resource: o.Resource,
			Rate: rate, Step: b.cfg.StepBytes, Limit: metering.MsatToSats(m.Amount), Log: b.log, Serial: &b.n.SendMu}
	}
	b.log.Info("session opened", "session", m.Session, "provider", o.Pubkey, "resource", o.Resource, "amount_msat", m.Amount)
	return s, nil
}
