package metering

import (
	"context"
	"database/sql"
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
// Units a buyer paid for and did not use stay credited to that buyer in
// that session and are granted to its next stream naming the same session,
// so parallel streams, rounding and restarts never lose what was paid, and
// credit bought at one session's prices is never spent in another (a
// walk-in's credit is kept under session ""). The credit is journaled with
// the money (state.CreditLine, in the payment journal): a payment's units
// in the transaction of the receive op that redeemed it, together with the
// usage the stream reported at that pause point (Progress) and not yet
// booked, and the rest of a stream's usage when it closes, so a provider
// killed after redeeming a payment still owes its units when it restarts.
// A stream killed with the process leaves only its usage since its last
// payment step unbooked: the buyer keeps those units (the provider's loss,
// bounded by one payment step per open stream). A payment is booked to the
// session of the stream that paid it, a unit used to the session of the
// stream that used it. When the session closes, RefundClosed gives its
// unused credit back to the buyer.
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
	// RefundLock is how long a refund token is P2PK-locked to its buyer
	// (RefundClosed): only the buyer's key can redeem it until then, and
	// this wallet's after. 0: 30 days.
	RefundLock time.Duration
	Log        *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream
	seals   map[string]time.Time // session -> when its seal lapses
	// book is held (read) by a stream booking its usage at Close and
	// (write) by Seal cutting the streams left, so a stream is either
	// booked before the receipt reads the session or cut.
	book sync.RWMutex
	// refundMu serializes RefundClosed.
	refundMu sync.Mutex
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
	// reported is the usage the transport told at the last pause point
	// (Progress); booked is what of it is written as credit lines (with a
	// payment's receive), which Close does not take again.
	reported uint64
	booked   uint64
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

// Open grants the new stream the buyer's credit in the stream's session
// that no other open stream holds.
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
	// The balance is read and the grant made under g.mu, so two streams
	// opening at once are never granted the same units.
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealedLocked(s.Market) {
		return 0, fmt.Errorf("%w: %w (session %s)", transport.ErrSessionRefused, ErrSealed, s.Market)
	}
	bal, err := g.DB.Credit(ctx, s.Buyer, g.Resource, s.Market)
	if err != nil {
		return 0, err
	}
	c := bal - min(bal, g.heldLocked(s.Buyer, s.Market))
	if g.streams == nil {
		g.streams = map[string]*stream{}
	}
	g.streams[s.ID] = &stream{buyer: s.Buyer, session: s.Market, rate: rate, prices: prices, duration: dur, granted: c}
	return c, nil
}

// heldLocked is the credit of buyer in session that its open streams
// hold (granted, used or not, less what is booked already); g.mu is held.
func (g *Gate) heldLocked(buyer, session string) uint64 {
	var n uint64
	for _, st := range g.streams {
		if st.buyer == buyer && st.session == session {
			n += st.granted - st.booked
		}
	}
	return n
}

// Progress notes the usage of the stream so far (a pause point: a payment
// follows); the next payment's receive books it (Redeem).
func (g *Gate) Progress(_ context.Context, s transport.Session, u transport.Usage) {
	g.mu.Lock()
	if st := g.streams[s.ID]; st != nil {
		st.reported = u.Units
	}
	g.mu.Unlock()
}

// toBookLocked is the usage the stream reported and that is not booked
// yet, bounded by its grant (what it may take out of the credit); g.mu is
// held.
func (st *stream) toBookLocked() uint64 {
	used := min(st.reported, st.granted)
	return used - min(used, st.booked)
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
	// The earning and the credit it buys are recorded with the receive
	// op, in its transaction: they count once the op is done (or queued,
	// accepted offline), so a crash after the redemption loses neither.
	// The stream holds the units from then on (granted), so no other
	// stream is granted them. The usage the stream reported at this pause
	// point and not yet booked is taken out of the credit in the same
	// transaction (a line of no op: it was served, whatever becomes of the
	// payment), so a provider killed before the stream closes loses only
	// what it served since.
	earn := g.DB.Recorder(state.Entry{Session: sess, Kind: state.Earn, Counterparty: s.Buyer, Resource: g.Resource})
	var units, used uint64
	held := false
	rcv, err := g.Wallet.Receive(rctx, string(token), cashu.ReceiveOptions{Counterparty: s.Buyer, AllowOffline: g.AllowOffline,
		OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
			if err := earn(ctx, tx, opID); err != nil {
				return err
			}
			amount, err := state.OpAmount(ctx, tx, opID)
			if err != nil {
				return err
			}
			// Units for what the token nets: the payer includes our swap fee.
			units = st.rate.UnitsFor(amount)
			if err := g.DB.AddCreditLine(ctx, tx, state.CreditLine{Buyer: s.Buyer, Resource: g.Resource, Session: st.session,
				Units: int64(min(units, maxLineUnits)), OpID: opID}); err != nil {
				return err
			}
			if !held {
				// A retried transaction writes the same lines again.
				g.mu.Lock()
				used = st.toBookLocked()
				st.booked += used
				st.granted += units
				g.mu.Unlock()
				held = true
			}
			return g.DB.AddCreditLine(ctx, tx, state.CreditLine{Buyer: s.Buyer, Resource: g.Resource, Session: st.session,
				Units: -int64(min(used, maxLineUnits))})
		}})
	cancel()
	if err != nil && held {
		// Not redeemed (or not yet): the stream does not hold the units.
		// If the op completes later its credit line counts and the
		// session's next stream is granted it. The usage line counts if
		// the op was journaled at all (Received.OpID).
		g.mu.Lock()
		st.granted -= units
		if rcv.OpID == 0 {
			st.booked -= used
		}
		g.mu.Unlock()
	}
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

// Close takes what the stream used, less what its payments' receives took
// already (Progress), out of its buyer's credit in its session (the rest
// stays credited) and records the usage on the session,
// unless the stream was cut by a seal: then the usage is still taken out
// of the credit (it was served) but not booked to the session, whose
// receipt is final.
func (g *Gate) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	g.book.RLock()
	g.mu.Lock()
	st := g.streams[s.ID]
	cut := st != nil && st.cut
	var used, booked uint64
	if st != nil {
		used = min(u.Units, st.granted)
		booked = st.booked
	}
	g.mu.Unlock()
	if st != nil {
		g.keep(ctx, st, used, booked, u.Units, cut)
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

// keep takes used (what the stream used of its grant) less booked (what
// its payments' receives took already) out of the credit and books units
// (what it used) to its session unless it was cut.
func (g *Gate) keep(ctx context.Context, st *stream, used, booked, units uint64, cut bool) {
	// The stream still holds its grant until it is removed, so no stream
	// opening meanwhile is granted the units used here. A stream whose
	// usage went down after a pause point (a storage request reserved,
	// then not served) gets back what was booked beyond it.
	var err error
	if used >= booked {
		err = g.DB.UseCredit(ctx, st.buyer, g.Resource, st.session, used-booked)
	} else {
		err = g.DB.ReturnCredit(ctx, st.buyer, g.Resource, st.session, booked-used)
	}
	if err != nil {
		g.log().Error("used credit not taken", "buyer", st.buyer, "session", st.session, "units", used, "booked", booked, "err", err)
	}
	if !cut && st.session != "" && units > 0 {
		if err := g.DB.AddUsage(ctx, st.session, 0, units); err != nil {
			g.log().Warn("session usage not recorded", "session", st.session, "err", err)
		}
	}
}

// maxLineUnits bounds a credit line (SQLite integers are signed 64-bit;
// a free rate buys unlimited units).
const maxLineUnits = 1 << 62
