// Package provider is agentd's selling role: it publishes offers and
// presence beacons, answers bids on its offers with provider-signed
// matches carrying a NUT-18 payment request, serves storage, bandwidth and
// inference over transport with Cashu payment gates, signs receipts with
// its buyers, keeps the earnings ledger and prices dynamically.
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/blossom"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/store"
)

// StorageConfig sells disk space.
type StorageConfig struct {
	Quota     int64  // bytes
	PriceMsat uint64 // per GiB-day held
	// UploadMsat is the price per GiB received (default 0); RetrievalMsat
	// per GiB served back (nil: PriceMsat, one day of holding). Both move
	// with the holding price under dynamic pricing.
	UploadMsat    uint64
	RetrievalMsat *uint64
	Retention     uint64 // longest storage period sold, seconds (default 30 days)
	Pricing       *Pricing
}

// BandwidthConfig sells carried TCP traffic.
type BandwidthConfig struct {
	PriceMsat           uint64 // per MiB
	CapacityMiB         uint64 // default 1 TiB
	AllowPrivateTargets bool   // tests only: lets buyers reach loopback/private addresses
	MaxConns            int    // concurrent connections at full load (default 64)
	Pricing             *Pricing
}

// InferenceConfig sells completions of an OpenAI-compatible server.
type InferenceConfig struct {
	URL           string   // base URL of the server (…/v1 or its root)
	Models        []string // default: the server's /v1/models
	PriceInMsat   uint64   // per 1M prompt tokens
	PriceOutMsat  uint64   // per 1M completion tokens
	MaxConcurrent int      // requests at full load (default 4)
	ContextLength uint64   // tokens (default 8192)
	Pricing       *Pricing // bounds on the input price; output moves with it
}

// Config configures a Provider. Nil resources are not sold.
type Config struct {
	Storage   *StorageConfig
	Bandwidth *BandwidthConfig
	Inference *InferenceConfig
	Tier      nips.Tier
	Geohash   string
	// OfferTTL is the offers' NIP-40 lifetime; they are republished at
	// half of it (default 1 h).
	OfferTTL time.Duration
	// PriceInterval is how often prices adjust to load (default 1 min).
	PriceInterval time.Duration
	// Endpoints overrides the advertised multiaddrs (default: the host's).
	Endpoints []string
	// SweepInterval is how often chunks whose paid storage period has
	// passed are deleted (default 10 min).
	SweepInterval time.Duration
	// SettleInterval is how often payments accepted while their mint could
	// not be reached (agentd.Config.OfflineLimit) are swapped at the mint,
	// and events queued while no relay answered are published (default 30 s).
	SettleInterval time.Duration
	// Blossom is the listen address of a Blossom server (BUD-01/02/07) on
	// the storage sold ("": none).
	Blossom string
	// Routstr is the listen address of a Routstr endpoint (routstr.go) on
	// the inference sold ("": none).
	Routstr string
	// PaymentWindow is how long a confirmation of an open bid holds its
	// capacity unpaid; past it, it lapses (checked every LapseInterval and
	// when the capacity is next needed) and its match is released to the
	// relays (default 2 min, at most nips.MaxMatchTTL). See nips/proposal.md.
	PaymentWindow time.Duration
	// LapseInterval is how often unpaid confirmations past the payment
	// window are ended and released (default: an eighth of the window, at
	// most 15 s).
	LapseInterval time.Duration
}

// DefaultPaymentWindow is Config.PaymentWindow's default.
const DefaultPaymentWindow = 2 * time.Minute

func (c *Config) defaults() error {
	if c.Storage == nil && c.Bandwidth == nil && c.Inference == nil {
		return errors.New("provider: nothing to sell: enable storage, bandwidth or inference")
	}
	if c.Tier == "" {
		c.Tier = nips.TierBranch
	}
	if c.OfferTTL <= 0 {
		c.OfferTTL = time.Hour
	}
	if c.PriceInterval <= 0 {
		c.PriceInterval = time.Minute
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 10 * time.Minute
	}
	if c.SettleInterval <= 0 {
		c.SettleInterval = 30 * time.Second
	}
	if c.PaymentWindow <= 0 {
		c.PaymentWindow = DefaultPaymentWindow
	}
	if c.PaymentWindow > nips.MaxMatchTTL*time.Second {
		return fmt.Errorf("provider: payment window %s over a match's %d s", c.PaymentWindow, nips.MaxMatchTTL)
	}
	if c.LapseInterval <= 0 {
		c.LapseInterval = min(c.PaymentWindow/8, 15*time.Second)
	}
	if s := c.Storage; s != nil {
		if s.Quota <= 0 || s.PriceMsat == 0 {
			return errors.New("provider: storage needs a size and a price")
		}
		if s.Retention == 0 {
			s.Retention = 30 * 86400
		}
	}
	if b := c.Bandwidth; b != nil {
		if b.PriceMsat == 0 {
			return errors.New("provider: bandwidth needs a price")
		}
		if b.CapacityMiB == 0 {
			b.CapacityMiB = 1 << 20
		}
		if b.MaxConns <= 0 {
			b.MaxConns = 64
		}
	}
	if i := c.Inference; i != nil {
		if i.URL == "" || i.PriceInMsat == 0 || i.PriceOutMsat == 0 {
			return errors.New("provider: inference needs --inference-url and prices")
		}
		if i.MaxConcurrent <= 0 {
			i.MaxConcurrent = 4
		}
		if i.ContextLength == 0 {
			i.ContextLength = 8192
		}
	}
	return nil
}

// relayPool is what a provider asks of the relays directly.
type relayPool interface {
	Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event), ready chan<- struct{})
	Publish(ctx context.Context, ev nostr.Event) error
}

// publisher signs and publishes the provider's events (paying relay fees,
// through the outbox) and settles the node's stale payments.
type publisher interface {
	Sign(ev *nostr.Event) error
	Publish(ctx context.Context, ev nostr.Event) (nostr.Event, error)
	PublishSigned(ctx context.Context, ev nostr.Event) error
	FlushOutbox(ctx context.Context) (int, error)
	ReclaimStale(ctx context.Context) (cashu.StaleReport, error)
	Now() time.Time
}

// Provider is a running seller.
type Provider struct {
	// What it uses of the agent's node (New takes them from it).
	pubkey, secret string // the node's key
	dataDir        string
	reclaimGrace   time.Duration
	refundLock     time.Duration // a change token is locked to its buyer this long (agentd.Open defaults it)
	db             *state.DB
	wallet         *cashu.Wallet
	relays         relayPool
	node           publisher
	startHost      func(context.Context) (*transport.Host, error)
	host           *transport.Host // set by run before anything is served or announced

	cfg   Config
	log   *slog.Logger
	start time.Time
	store *store.Store
	infer *inferBackend
	gates map[nips.Resource]*metering.Gate

	blossom                 *blossom.Server
	blossomAddr, blossomURL string // guarded by mu
	routstrAddr, routstrURL string // guarded by mu

	meters    map[nips.Resource]*meter
	mu        sync.Mutex
	offers    map[nips.Resource]nips.Offer // last published
	ready     chan struct{}                // closed by Run once it answers bids
	confirmMu sync.Mutex                   // one open-bid confirmation at a time (state.DB.Reserve)
	refundNow chan struct{}                // a session closed: settleLoop refunds its credit (buffered 1)

	wg sync.WaitGroup
}

// New prepares a provider on node n (with a wallet). Run starts it.
func New(n *agentd.Node, cfg Config) (*Provider, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, err := n.NeedWallet(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, log: n.Log.With("role", "provider"), start: time.Now(),
		pubkey: n.Key.Pubkey, secret: n.Key.Secret, dataDir: n.Config.DataDir, reclaimGrace: n.Config.ReclaimGrace,
		refundLock: n.Config.RefundLock, db: n.DB, wallet: n.Wallet, relays: n.Relays, node: n,
		startHost: func(ctx context.Context) (*transport.Host, error) {
			if err := n.StartHost(ctx); err != nil {
				return nil, err
			}
			return n.Host, nil
		},
		gates: map[nips.Resource]*metering.Gate{}, meters: map[nips.Resource]*meter{}, offers: map[nips.Resource]nips.Offer{},
		ready: make(chan struct{}), refundNow: make(chan struct{}, 1)}
	pricing := func(pp *Pricing, base uint64) (Pricing, error) {
		if pp != nil {
			return *pp, pp.Validate()
		}
		d := DefaultPricing(base)
		return d, d.Validate()
	}
	if s := cfg.Storage; s != nil {
		pr, err := pricing(s.Pricing, s.PriceMsat)
		if err != nil {
			return nil, err
		}
		p.meters[nips.Storage] = newMeter(pr, 16)
		if p.store, err = store.Open(filepath.Join(n.Config.DataDir, "chunks"), s.Quota); err != nil {
			return nil, fmt.Errorf("provider: chunk store: %w", err)
		}
	}
	if cfg.Blossom != "" {
		if err := p.newBlossom(); err != nil {
			return nil, err
		}
	}
	if cfg.Routstr != "" && cfg.Inference == nil {
		return nil, errors.New("provider: --routstr needs inference (--inference-url)")
	}
	if b := cfg.Bandwidth; b != nil {
		pr, err := pricing(b.Pricing, b.PriceMsat)
		if err != nil {
			return nil, err
		}
		p.meters[nips.Bandwidth] = newMeter(pr, b.MaxConns)
	}
	if i := cfg.Inference; i != nil {
		pr, err := pricing(i.Pricing, i.PriceInMsat)
		if err != nil {
			return nil, err
		}
		p.meters[nips.Inference] = newMeter(pr, i.MaxConcurrent)
		p.infer = &inferBackend{p: p, cfg: i}
	}
	for _, r := range []nips.Resource{nips.Storage, nips.Bandwidth} {
		if m := p.meters[r]; m != nil {
			r := r
			// Storage and bandwidth payments are plain payments (no change
			// goes back), so they may be accepted while the mint is down.
			p.gates[r] = &metering.Gate{Wallet: n.Wallet, DB: n.DB, Resource: r, Log: p.log,
				AllowOffline: n.Wallet.OfflineLimit() > 0, RefundLock: n.Config.RefundLock,
				Fallback: func() (nips.Prices, uint64) { return p.prices(r), 86400 }}
		}
	}
	return p, nil
}

// prices returns the current prices of r.
func (p *Provider) prices(r nips.Resource) nips.Prices {
	m := p.meters[r]
	if m == nil {
		return nil
	}
	cur := m.current()
	switch r {
	case nips.Storage:
		s := p.cfg.Storage
		scale := func(v uint64) uint64 { return uint64(float64(v) * float64(cur) / float64(m.pricing.Base)) }
		ret := cur
		if s.RetrievalMsat != nil {
			ret = scale(*s.RetrievalMsat)
		}
		return nips.Prices{{Unit: nips.UnitGiBDay, Msat: cur}, {Unit: nips.UnitGiBUpload, Msat: scale(s.UploadMsat)}, {Unit: nips.UnitGiBRetrieval, Msat: ret}}
	case nips.Bandwidth:
		return nips.Prices{{Unit: nips.UnitMiB, Msat: cur}}
	default:
		i := p.cfg.Inference
		out := uint64(float64(i.PriceOutMsat) * float64(cur) / float64(m.pricing.Base))
		return nips.Prices{{Unit: nips.UnitMInputTokens, Msat: cur}, {Unit: nips.UnitMOutputTokens, Msat: max(out, 1)}}
	}
}

// Prices returns the current prices of r (nil if not sold).
func (p *Provider) Prices(r nips.Resource) nips.Prices { return p.prices(r) }

func (p *Provider) payments() []nips.Payment {
	return []nips.Payment{{Method: nips.PayCashu, Mint: p.wallet.Mints()[0], Unit: "sat"}}
}

// Run serves until ctx ends. The host is started if it is not.
func (p *Provider) Run(ctx context.Context) error {
	err := p.run(ctx)
	if err != nil && ctx.Err() != nil {
		// Stopped while starting (an offer still being published, say):
		// the stop was asked for, so it is a clean one.
		p.log.Info("provider stopped while starting", "err", err)
		return nil
	}
	return err
}

func (p *Provider) run(ctx context.Context) error {
	h, err := p.startHost(ctx)
	if err != nil {
		return err
	}
	p.host = h
	if p.store != nil {
		h.ServeStorage(retainingStore{Store: p.store, db: p.db}, p.gates[nips.Storage])
	}
	if b := p.cfg.Bandwidth; b != nil {
		g := p.gates[nips.Bandwidth]
		m := p.meters[nips.Bandwidth]
		h.ServeBandwidth(transport.BandwidthConfig{Gate: &loadGate{PaymentGate: g, m: m}, AllowPrivateTargets: b.AllowPrivateTargets})
	}
	if p.infer != nil {
		if err := p.infer.init(ctx); err != nil {
			return err
		}
		h.ServeInference(p.infer, nil)
	}
	if p.wallet.OfflineLimit() > 0 {
		// Payments can be checked offline only against cached mint keys.
		kctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := p.wallet.FetchKeys(kctx); err != nil {
			p.log.Warn("mint keys not fetched: no payment is accepted offline before the mint is reached once", "err", err)
		}
		cancel()
	}
	h.ServeReceipts(p.buildReceipt, p.finishReceipt)
	var blossomLn net.Listener // open before the offers announce it
	if p.blossom != nil {
		var err error
		if blossomLn, err = p.listenBlossom(); err != nil {
			return err
		}
	}
	var routstrLn net.Listener
	if p.cfg.Routstr != "" {
		var err error
		if routstrLn, err = p.listenRoutstr(); err != nil {
			if blossomLn != nil {
				blossomLn.Close()
			}
			return err
		}
	}
	for r := range p.meters {
		if err := p.publishOffer(ctx, r); err != nil {
			for _, ln := range []net.Listener{blossomLn, routstrLn} {
				if ln != nil {
					ln.Close()
				}
			}
			return err
		}
	}
	if blossomLn != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.serveBlossom(ctx, blossomLn) }()
	}
	if routstrLn != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.serveRoutstr(ctx, routstrLn) }()
	}
	if err := p.publishPresence(ctx); err != nil {
		p.log.Warn("presence not published", "err", err)
	}
	ready := make(chan struct{})
	p.wg.Add(6)
	go func() { defer p.wg.Done(); p.settleLoop(ctx) }()
	go func() { defer p.wg.Done(); p.lapseLoop(ctx) }()
	go func() { defer p.wg.Done(); p.sweepLoop(ctx) }()
	go func() { defer p.wg.Done(); p.answerBids(ctx, ready) }()
	go func() { defer p.wg.Done(); p.presenceLoop(ctx) }()
	go func() { defer p.wg.Done(); p.priceLoop(ctx) }()
	select {
	case <-ready:
		select {
		case <-p.ready: // run again after a stop
		default:
			close(p.ready)
		}
		p.log.Info("provider running", "resources", len(p.meters), "peer", h.ID())
	case <-ctx.Done():
	}
	<-ctx.Done()
	p.wg.Wait()
	p.withdrawOffers(ctx)
	p.log.Info("provider stopped")
	return nil
}

// Ready is closed once Run has published the offers, the NIP-99 listings
// and the presence beacon and its bid subscription is open: from then on a
// bid on an offer is answered. It is never closed if Run ends before.
func (p *Provider) Ready() <-chan struct{} { return p.ready }

// Offer returns the last offer of r that Run published.
func (p *Provider) Offer(r nips.Resource) (nips.Offer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.offers[r]
	return o, ok
}

func (p *Provider) endpoints() []string {
	if len(p.cfg.Endpoints) > 0 {
		return p.cfg.Endpoints
	}
	var out []string
	for _, a := range p.host.Addrs() {
		s := a.String()
		if nips.CheckEndpoint(s) == nil && len(out) < nips.MaxEndpoints {
			out = append(out, s)
		}
	}
	return out
}

func (p *Provider) buildOffer(r nips.Resource) nips.Offer {
	now := time.Now()
	o := nips.Offer{
		ID:         "agentd-" + string(r),
		Resource:   r,
		Prices:     p.prices(r),
		Payments:   p.payments(),
		Geohash:    p.cfg.Geohash,
		Tier:       p.cfg.Tier,
		Endpoints:  p.endpoints(),
		Expiration: nostr.Timestamp(now.Add(p.cfg.OfferTTL).Unix()),
	}
	switch r {
	case nips.Storage:
		s := p.cfg.Storage
		gib := max(uint64(s.Quota-min(p.store.Used(), s.Quota))>>30, 1)
		o.MinQuantity, o.MaxQuantity, o.Capacity = 1, gib, gib
		o.MaxObjectSize = uint64(s.Quota)
		o.Retention = s.Retention
		p.mu.Lock()
		o.Blossom = p.blossomURL
		p.mu.Unlock()
	case nips.Bandwidth:
		b := p.cfg.Bandwidth
		o.MinQuantity, o.MaxQuantity, o.Capacity = 1, b.CapacityMiB, b.CapacityMiB
	case nips.Inference:
		o.MinQuantity, o.MaxQuantity, o.Capacity = 1, 1_000_000, 1<<40
		o.Models = p.infer.models
		o.ContextLength = p.cfg.Inference.ContextLength
	}
	return o
}

func (p *Provider) publishOffer(ctx context.Context, r nips.Resource) error {
	o := p.buildOffer(r)
	// Each version needs a newer created_at than the last, or the relay
	// keeps the old one (NIP-01 replacement).
	at := nostr.Timestamp(p.node.Now().Unix())
	p.mu.Lock()
	if prev, ok := p.offers[r]; ok && at <= prev.CreatedAt {
		at = prev.CreatedAt + 1
	}
	p.mu.Unlock()
	signed, err := p.node.Publish(ctx, o.ToEvent(at))
	if err != nil && strings.Contains(err.Error(), "has been deleted") {
		// Our own withdrawal (NIP-09, by address) from a stop in this
		// same second deletes every version up to its created_at: the
		// new offer must be newer than it.
		at++
		signed, err = p.node.Publish(ctx, o.ToEvent(at))
	}
	if err != nil {
		return fmt.Errorf("provider: publish %s offer: %w", r, err)
	}
	o, err = nips.ParseOffer(&signed)
	if err != nil {
		return fmt.Errorf("provider: own offer invalid: %w", err)
	}
	p.mu.Lock()
	p.offers[r] = o
	p.mu.Unlock()
	p.log.Info("offer published", "resource", r, "price_msat", o.Prices.Max(), "address", o.Address())
	// The same offer as a NIP-99 listing, for Nostr clients that show
	// classifieds; it ends with the offer (same expiration, withdrawn with
	// it). The offer is what the market reads, so a failure only warns.
	if _, err := p.node.Publish(ctx, o.Classified(at)); err != nil && ctx.Err() == nil {
		p.log.Warn("NIP-99 listing not published", "resource", r, "err", err)
	}
	p.mu.Lock()
	routstrURL := p.routstrURL
	p.mu.Unlock()
	if r == nips.Inference && routstrURL != "" {
		// The Routstr announcement (kind 38421), likewise.
		if _, err := p.node.Publish(ctx, o.Routstr(at, []string{routstrURL})); err != nil && ctx.Err() == nil {
			p.log.Warn("Routstr announcement not published", "err", err)
		}
	}
	return nil
}

// withdrawOffers asks the relays to delete our offers and their NIP-99
// listings (NIP-09), so a provider that stops cleanly is not listed until
// its offers expire. It has its own deadline: Run's context is done.
func (p *Provider) withdrawOffers(ctx context.Context) {
	p.mu.Lock()
	var d nips.Deletion
	for _, o := range p.offers {
		d.Addresses = append(d.Addresses, o.Address(), nips.Address(nips.KindClassified, o.Pubkey, o.ID))
		if o.Resource == nips.Inference && p.routstrURL != "" {
			d.Addresses = append(d.Addresses, nips.Address(nips.KindRoutstr, o.Pubkey, o.ID))
		}
	}
	p.mu.Unlock()
	if len(d.Addresses) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.node.Publish(ctx, d.ToEvent(nostr.Now(), "provider stopped")); err != nil {
		p.log.Warn("offers not withdrawn; they end at their expiration", "err", err)
		return
	}
	p.log.Info("offers withdrawn", "addresses", len(d.Addresses))
}

func (p *Provider) load(r nips.Resource) float64 {
	m := p.meters[r]
	extra := 0.0
	if r == nips.Storage && p.store != nil && p.store.Quota() > 0 {
		extra = float64(p.store.Used()) / float64(p.store.Quota())
	}
	return m.load(extra)
}

func (p *Provider) publishPresence(ctx context.Context) error {
	var caps []nips.Resource
	var load float64
	for _, r := range nips.Resources {
		if p.meters[r] != nil {
			caps = append(caps, r)
			load = max(load, p.load(r))
		}
	}
	interval := p.presenceInterval(ctx)
	b := nips.Presence{
		Capabilities: caps,
		Load:         uint64(load * 100),
		Uptime:       uint64(time.Since(p.start).Seconds()),
		Tier:         p.cfg.Tier,
		Geohash:      p.cfg.Geohash,
		Endpoints:    p.endpoints(),
		Expiration:   nostr.Timestamp(time.Now().Add(nips.PresenceTTL(interval)).Unix()),
	}
	_, err := p.node.Publish(ctx, b.ToEvent(nostr.Now()))
	return err
}

func (p *Provider) presenceInterval(ctx context.Context) time.Duration {
	evs, err := p.relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence}, Limit: 1000})
	if err != nil {
		return nips.MinPresenceInterval
	}
	return nips.PresenceInterval(len(evs))
}

func (p *Provider) presenceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.presenceInterval(ctx)):
		}
		if err := p.publishPresence(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("presence not published", "err", err)
		}
	}
}

// priceLoop adjusts prices to load and republishes offers that changed
// (or approach their expiration).
func (p *Provider) priceLoop(ctx context.Context) {
	every(ctx, p.cfg.PriceInterval, func() { p.AdjustPrices(ctx) })
}

// every runs fn every d (the first time d from now) until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// AdjustPrices runs one pricing step now and republishes what changed.
func (p *Provider) AdjustPrices(ctx context.Context) {
	for r, m := range p.meters {
		_, changed := m.adjust(p.load(r))
		o, _ := p.Offer(r)
		stale := time.Until(time.Unix(int64(o.Expiration), 0)) < p.cfg.OfferTTL/2
		if changed || stale {
			if err := p.publishOffer(ctx, r); err != nil && ctx.Err() == nil {
				p.log.Warn("offer not republished", "resource", r, "err", err)
			}
		}
	}
}

// SetLoad is for tests and operators: it overrides the active session
// count of r.
func (p *Provider) SetLoad(r nips.Resource, active int) {
	if m := p.meters[r]; m != nil {
		m.mu.Lock()
		m.active = active
		m.mu.Unlock()
	}
}

// signer returns a nostr.Keyer for the node key.
func (p *Provider) signer() (nostr.Keyer, error) {
	k, err := keyer.NewPlainKeySigner(p.secret)
	return k, err
}

// Earnings returns the ledger totals since since.
func (p *Provider) Earnings(ctx context.Context, since time.Time) (state.Totals, error) {
	return p.db.Totals(ctx, since)
}

// loadGate counts open bandwidth sessions for dynamic pricing.
type loadGate struct {
	transport.PaymentGate
	m *meter
}

// Open counts a new bandwidth session.
func (g *loadGate) Open(ctx context.Context, s transport.Session) (uint64, error) {
	c, err := g.PaymentGate.Open(ctx, s)
	if err == nil {
		g.m.begin()
	}
	return c, err
}

// Close counts a finished bandwidth session.
func (g *loadGate) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	g.m.end()
	g.PaymentGate.Close(ctx, s, u)
}
