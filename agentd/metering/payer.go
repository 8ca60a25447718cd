package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// ErrSessionLimit means a step would pay more than the session's match allows.
var ErrSessionLimit = errors.New("metering: session payment limit reached")

// Payer is a buyer's transport.Payer for one session with one provider:
// each pause point is paid with an exact-amount Cashu token for the units
// the provider needs (at least Step), at the session's rate, never past
// Limit sats. Reconcile, after the session, takes back every token the
// provider did not redeem.
type Payer struct {
	Wallet  *cashu.Wallet
	DB      *state.DB
	Session string // where the ledger books the payments
	// Market is the market session the streams it pays for name to the
	// provider ("" for none: a walk-in at the provider's list prices), so
	// the provider books them to that session (transport.SessionPayer).
	Market   string
	Provider string // pubkey
	Resource nips.Resource
	Rate     Rate
	Step     uint64 // units bought per step at least
	Limit    uint64 // sats, 0 = none
	Log      *slog.Logger

	mu   sync.Mutex
	paid uint64
	ops  []int64
}

// MarketSession implements transport.SessionPayer: p pays one provider,
// within Market.
func (p *Payer) MarketSession(peer.ID) string { return p.Market }

// StepUnits implements transport.StepPayer: a carried connection pays its
// first step ahead, as it pays the later ones.
func (p *Payer) StepUnits() uint64 { return max(p.Step, 1) }

// Pay makes one payment step. A payment ahead (inv.Need 0) that would
// leave less than a step of Limit is declined (nil token, nil error).
func (p *Payer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	units := max(inv.Need, p.Step, 1)
	sats := p.Rate.SatsFor(units)
	p.mu.Lock()
	if p.Limit > 0 && inv.Need == 0 && p.paid+2*sats > p.Limit {
		// A payment ahead that would leave less than a step of the cap
		// (the cap is the price plus a step): decline it, the provider
		// asks again at its pause point if it must. So payments ahead
		// never pay more than the price.
		p.mu.Unlock()
		return nil, nil
	}
	if p.Limit > 0 && p.paid+sats > p.Limit {
		need := p.Rate.SatsFor(inv.Need)
		if p.paid+need > p.Limit {
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: paid %d of %d sats, step needs %d", ErrSessionLimit, p.paid, p.Limit, need)
		}
		sats = p.Limit - p.paid
	}
	p.paid += sats
	p.mu.Unlock()
	// A send is not abandoned halfway when the stream that asked for it
	// goes away: a cancelled swap would leave proofs reserved until Resume.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	sent, err := p.Wallet.Send(sctx, sats, cashu.SendOptions{Counterparty: p.Provider, IncludeFees: true,
		OnJournal: p.DB.Recorder(state.Entry{Session: p.Session, Kind: state.Spend, Counterparty: p.Provider, Resource: p.Resource})})
	cancel()
	if err != nil {
		p.mu.Lock()
		p.paid -= sats
		p.mu.Unlock()
		return nil, fmt.Errorf("metering: pay %d sats: %w", sats, err)
	}
	p.mu.Lock()
	p.ops = append(p.ops, sent.OpID)
	p.mu.Unlock()
	if p.Session != "" {
		if err := p.DB.AddUsage(ctx, p.Session, sent.Amount*1000, 0); err != nil {
			return nil, fmt.Errorf("metering: pay: %w", err)
		}
	}
	return []byte(sent.Token), nil
}

// Steps returns the sats of the payments Pay makes at most, in order, if
// every step is a whole Step: a Step's worth until Limit, then what is left
// of it (none without a Limit: the count is unknown), at most maxSteps. A
// buyer hands them to cashu.Wallet.PrepareSends before the transfer.
func (p *Payer) Steps() []uint64 {
	sats := p.Rate.SatsFor(max(p.Step, 1))
	if p.Limit == 0 || sats == 0 {
		return nil
	}
	out := make([]uint64, 0, min(p.Limit/sats+1, maxSteps))
	for left := p.Limit; left > 0 && len(out) < maxSteps; {
		s := min(sats, left)
		out = append(out, s)
		left -= s
	}
	return out
}

// maxSteps bounds Steps: a transfer's payer makes about
// buyer.maxStepsPerShare steps, and a split of more proofs buys nothing.
const maxSteps = 64

// Resume starts the payer from paid sats: what an earlier payer of the same
// session paid (and the provider redeemed), which counts against Limit.
func (p *Payer) Resume(paid uint64) {
	p.mu.Lock()
	p.paid = paid
	p.mu.Unlock()
}

// Paid returns the sats paid so far.
func (p *Payer) Paid() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paid
}

// Reconcile reclaims every token of this session the provider did not
// redeem (a provider that died or refused) and returns the sats that came
// back. Call it once the session is over.
func (p *Payer) Reconcile(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	ops := p.ops
	p.ops = nil
	p.mu.Unlock()
	return Reclaim(ctx, p.Wallet, p.DB, p.Provider, ops)
}

// Settled records that the provider confirmed (in its countersigned
// receipt) that it redeemed every token of this session: no mint call.
func (p *Payer) Settled(ctx context.Context) error {
	p.mu.Lock()
	ops := p.ops
	p.ops = nil
	p.mu.Unlock()
	var errs []error
	for _, op := range ops {
		errs = append(errs, p.Wallet.MarkDelivered(ctx, op))
	}
	return errors.Join(errs...)
}

// Reclaim takes back the unredeemed tokens of ops (sent to provider) and
// records each refund, and releases its budget, in the reclaim's own
// transaction (state.DB.RecordReclaim), then takes it off its session's
// paid figure (state.DB.Unpay). A token the provider redeemed is marked
// delivered.
func Reclaim(ctx context.Context, w *cashu.Wallet, db *state.DB, provider string, ops []int64) (uint64, error) {
	var back uint64
	var errs []error
	for _, op := range ops {
		sent, err := w.Journal().Get(ctx, op)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sent.State != journal.StateSent {
			continue // settled already (delivered, or reclaimed by Node.ReclaimStale)
		}
		rc, err := w.ReclaimWith(ctx, op, db.Reclaimer(op, provider, sent.CreatedAt))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !rc.Redeemed {
			if err := db.Unpay(ctx, op); err != nil {
				errs = append(errs, err)
			}
		}
		back += rc.Amount
	}
	return back, errors.Join(errs...)
}
