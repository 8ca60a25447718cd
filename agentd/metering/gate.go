package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// ErrNoSession means the stream names no market session and the gate has
// no fallback price.
var ErrNoSession = errors.New("metering: no market session named")

// Gate is a provider's transport.PaymentGate for one per-byte resource
// (storage or bandwidth): it redeems the buyer's Cashu tokens into units at
// the price of the market session (its match) the stream names, records
// the money in the earnings ledger and the money and usage on that
// session. A stream naming a session that is not an open session of this
// buyer for this resource is refused (transport.ErrSessionRefused); one
// naming none is a walk-in at the Fallback prices.
//
// Units a buyer paid for and did not use on one transport stream stay
// credited to that buyer in that session (in the state database, across
// restarts) and are granted to its next stream naming the same session,
// so parallel streams and rounding never lose what was paid, and credit
// bought at one session's prices is never spent in another (a walk-in's
// credit is kept under session ""). A payment is booked to the session of
// the stream that paid it, a unit used to the session of the stream that
// used it.
//
// A session's receipt is built once Seal has drained its streams: from
// then until Unseal (the receipt is signed) or sealFor passes, the session
// takes no new stream or payment, and a stream still open when the drain
// gave up is cut: its usage and unused credit are not booked, so what the
// session's record says is what its receipt says.
type Gate struct {
	Wallet   *cashu.Wallet
	DB       *state.DB
	Resource nips.Resource
	// Fallback returns the prices and duration charged to a buyer whose
	// stream names no session (e.g. reading a file back from a new
	// machine); nil refuses such streams.
	Fallback func() (nips.Prices, uint64)
	// OnUnits, if set, is told the units each closed stream used (load).
	OnUnits func(units uint64)
	// AllowOffline accepts a token whose mint cannot be reached on its DLEQ
	// proofs, within the wallet's offline limit (cashu.Config.OfflineLimit);
	// the wallet swaps it later (cashu.Wallet.SettleOffline) and the earning
	// stays unconfirmed until then. A token spent elsewhere meanwhile is the
	// loss that limit bounds.
	AllowOffline bool
	Log          *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream
	seals   map[string]time.Time // session -> when its seal lapses
	// book is held (read) by a stream booking its usage at Close and
	// (write) by Seal cutting the streams left, so a stream is either
	// booked before the receipt reads the session or cut.
	book sync.RWMutex
}

// sealFor bounds how long a session stays sealed for a receipt that is
// never signed (the receipt exchange itself times out in 30 s).
const sealFor = time.Minute

// ErrSealed means the session's receipt is being signed: it takes no new
// stream or payment.
var ErrSealed = errors.New("metering: the session's receipt is being signed")

type stream struct {
	buyer    string
	session  string
	rate     Rate
	prices   nips.Prices
	duration uint64
	granted  uint64
	cut      bool // open when its session was sealed: not booked at Close
}

// sealedLocked reports whether session is sealed; g.mu is held.
func (g *Gate) sealedLocked(session string) bool {
	if session == "" {
		return false
	}
	until, ok := g.seals[session]
	if ok && time.Now().After(until) {
		delete(g.seals, session)
		return false
	}
	return ok
}

func (g *Gate) checkSeal(session string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealedLocked(session) {
		return fmt.Errorf("%w: %w (session %s)", transport.ErrSessionRefused, ErrSealed, session)
	}
	return nil
}

func (g *Gate) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// terms returns the prices and duration of the market session a stream of
// buyer names (market, "" for none), checking that it is an open session
// of this buyer for the gate's resource.
func (g *Gate) terms(ctx context.Context, buyer, market string) (nips.Prices, uint64, error) {
	if market == "" {
		if g.Fallback == nil {
			return nil, 0, ErrNoSession
		}
		p, d := g.Fallback()
		return p, d, nil
	}
	s, err := g.openSession(ctx, buyer, market)
	if err != nil {
		return nil, 0, err
	}
	return s.Prices, s.Duration, nil
}

// openSession returns the provider session id if it is an open one of
// buyer for the gate's resource, else an error wrapping
// transport.ErrSessionRefused. Another buyer's session reads as unknown.
func (g *Gate) openSession(ctx context.Context, buyer, id string) (state.Session, error) {
	s, err := g.DB.GetSession(ctx, id)
	if errors.Is(err, state.ErrNotFound) || (err == nil && (s.Role != state.RoleProvider || s.Counterparty != buyer)) {
		return s, fmt.Errorf("%w: no session %s with you", transport.ErrSessionRefused, id)
	}
	if err != nil {
		return s, err
	}
	if s.Resource != g.Resource {
		return s, fmt.Errorf("%w: session %s is for %s, not %s", transport.ErrSessionRefused, id, s.Resource, g.Resource)
	}
	if s.State != "open" {
		return s, fmt.Errorf("%w: session %s is closed (%s); open a new one", transport.ErrSessionRefused, id, s.State)
	}
	return s, nil
}

// Open grants the buyer's unused credit in the stream's session to the
// new stream.
func (g *Gate) Open(ctx context.Context, s transport.Session) (uint64, error) {
	if err := g.checkSeal(s.Market); err != nil {
		return 0, err
	}
	prices, dur, err := g.terms(ctx, s.Buyer, s.Market)
	if err != nil {
		return 0, err
	}
	rate, err := RateFor(g.Resource, prices, dur)
	if err != nil {
		return 0, err
	}
	c, err := g.DB.TakeCredit(ctx, s.Buyer, g.Resource, s.Market)
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	if g.sealedLocked(s.Market) {
		// Sealed while the credit was taken: give it back.
		g.mu.Unlock()
		if err := g.DB.AddCredit(ctx, s.Buyer, g.Resource, s.Market, c); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %w (session %s)", transport.ErrSessionRefused, ErrSealed, s.Market)
	}
	defer g.mu.Unlock()
	if g.streams == nil {
		g.streams = map[string]*stream{}
	}
	g.streams[s.ID] = &stream{buyer: s.Buyer, session: s.Market, rate: rate, prices: prices, duration: dur, granted: c}
	return c, nil
}

// StorageUnits is the transport.StoragePricer of a storage gate: a PUT is
// charged holding for the stream's session duration plus upload, a GET
// retrieval (market.StorageCharge).
func (g *Gate) StorageUnits(s transport.Session, put bool, n uint64) uint64 {
	g.mu.Lock()
	st := g.streams[s.ID]
	g.mu.Unlock()
	if st == nil {
		return n
	}
	op := market.OpRetrieve
	if put {
		op = market.OpStore
	}
	return StorageUnits(st.prices, st.duration, op, n)
}

// Redeem swaps the buyer's token at the mint and grants the units it buys.
func (g *Gate) Redeem(ctx context.Context, s transport.Session, token []byte) (uint64, error) {
	g.mu.Lock()
	st := g.streams[s.ID]
	g.mu.Unlock()
	if st == nil {
		return 0, errors.New("metering: redeem on an unknown stream")
	}
	if st.session != "" {
		// The session may have been closed (its receipt signed) or sealed
		// since the stream opened: a payment is never booked to a closed
		// session.
		if err := g.checkSeal(st.session); err != nil {
			return 0, fmt.Errorf("metering: %w", err)
		}
		if _, err := g.openSession(ctx, s.Buyer, st.session); err != nil {
			return 0, fmt.Errorf("metering: %w", err)
		}
	}
	// The swap finishes even if the stream goes away meanwhile.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	sess := st.session
	if sess == "" {
		sess = "walk-in:" + s.ID
	}
	// The earning is recorded with the receive op, in its transaction: it
	// counts once the op is done (or queued, accepted offline).
	rcv, err := g.Wallet.Receive(rctx, string(token), cashu.ReceiveOptions{Counterparty: s.Buyer, AllowOffline: g.AllowOffline,
		OnJournal: g.DB.Recorder(state.Entry{Session: sess, Kind: state.Earn, Counterparty: s.Buyer, Resource: g.Resource})})
	cancel()
	if errors.Is(err, cashu.ErrOfflineLimit) {
		// The wallet's error tells the queued exposure: keep it in our log.
		g.log().Info("payment refused: mint unreachable and offline limit reached", "buyer", s.Buyer, "resource", g.Resource, "err", err)
		return 0, fmt.Errorf("metering: %w: the mint cannot be reached; pay again once it is back", cashu.ErrOfflineLimit)
	}
	if err != nil {
		return 0, fmt.Errorf("metering: %w", err)
	}
	if rcv.Offline {
		g.log().Info("payment accepted offline", "buyer", s.Buyer, "resource", g.Resource, "sats", rcv.Value, "op", rcv.OpID)
	}
	// Units for what the token nets: the payer includes our swap fee.
	units := st.rate.UnitsFor(rcv.Amount)
	g.mu.Lock()
	st.granted += units
	g.mu.Unlock()
	if st.session != "" {
		if err := g.DB.AddUsage(ctx, st.session, rcv.Amount*1000, 0); err != nil {
			g.log().Warn("session usage not recorded", "session", st.session, "err", err)
		}
	}
	g.log().Debug("payment step redeemed", "buyer", s.Buyer, "resource", g.Resource, "sats", rcv.Amount, "units", units)
	return units, nil
}

// Seal stops session taking new streams and payments and waits, at most
// wait, until none of its streams is open, so that every stream's usage is
// recorded (a stream records it when it closes). Streams still open then
// are cut: what they use is not booked to the session, whose record (and
// receipt) is then final. It reports whether no stream was cut. The seal
// lasts until Unseal or sealFor.
func (g *Gate) Seal(ctx context.Context, session string, wait time.Duration) bool {
	g.mu.Lock()
	if g.seals == nil {
		g.seals = map[string]time.Time{}
	}
	g.seals[session] = time.Now().Add(sealFor)
	g.mu.Unlock()
	deadline := time.Now().Add(wait)
	for g.openStreams(session) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Wait for the streams booking now, then cut the rest.
	g.book.Lock()
	defer g.book.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	cut := 0
	for _, st := range g.streams {
		if st.session == session && !st.cut {
			st.cut = true
			cut++
		}
	}
	return cut == 0
}

// Unseal ends session's seal (its receipt is signed, or was not built).
func (g *Gate) Unseal(session string) {
	g.mu.Lock()
	delete(g.seals, session)
	g.mu.Unlock()
}

func (g *Gate) openStreams(session string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, st := range g.streams {
		if st.session == session && !st.cut {
			n++
		}
	}
	return n
}

// Close keeps the stream's unused credit for its buyer and session and
// records the usage, unless the stream was cut by a seal.
func (g *Gate) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	g.book.RLock()
	g.mu.Lock()
	st := g.streams[s.ID]
	cut := st != nil && st.cut
	g.mu.Unlock()
	if st != nil && !cut {
		g.keep(ctx, st, u)
	}
	g.book.RUnlock()
	g.mu.Lock()
	delete(g.streams, s.ID)
	g.mu.Unlock()
	if st == nil {
		return
	}
	if cut {
		g.log().Info("stream usage not booked: its session's receipt was built while it was open",
			"session", st.session, "buyer", st.buyer, "units", u.Units)
	}
	if g.OnUnits != nil {
		g.OnUnits(u.Units)
	}
}

func (g *Gate) keep(ctx context.Context, st *stream, u transport.Usage) {
	if st.granted > u.Units {
		if err := g.DB.AddCredit(ctx, st.buyer, g.Resource, st.session, st.granted-u.Units); err != nil {
			g.log().Error("unused credit not kept", "buyer", st.buyer, "session", st.session, "units", st.granted-u.Units, "err", err)
		}
	}
	if st.session != "" && u.Units > 0 {
		if err := g.DB.AddUsage(ctx, st.session, 0, u.Units); err != nil {
			g.log().Warn("session usage not recorded", "session", st.session, "err", err)
		}
	}
}
