package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// Refund is a closed session's unused credit given back to its buyer.
type Refund struct {
	Buyer   string
	Session string
	// Units is the credit the refund took out of the session.
	Units uint64
	// Sats is what the refund pays back: Units at the session's rate,
	// rounded down (the part of a sat left is the provider's). 0 with no
	// token when that is less than a sat.
	Sats uint64
	// Token is the change token for the buyer (a cashu send op of this
	// wallet, P2PK-locked to the buyer for Gate.RefundLock, reclaimable
	// after it if the buyer never redeemed it). OpID is its send op, whose
	// change note (state.ChangeNote) was journaled with it.
	Token string
	OpID  int64
}

// defaultRefundLock is Gate.RefundLock's default.
const defaultRefundLock = 30 * 24 * time.Hour

// RefundClosed gives back to their buyers the credit held in the gate's
// sessions that are closed (their receipt signed, or failed): for each,
// the units no stream still holds (a stream cut by the seal keeps its
// grant until it closes, and what it leaves is refunded by a later call),
// at the session's rate, rounded down to the sat, as a token of this
// wallet, P2PK-locked to the buyer (NUT-11) for RefundLock with this
// wallet's key as the refund key. The send op, its ledger line
// (state.Change), the credit line that takes the units out and the change
// note owed to the buyer (state.ChangeNote) are one journal transaction,
// so a refund is made once, and its note owed, whatever the process does.
// The caller publishes the owed notes (state.DB.OwedChangeNotes). Calls
// are serialized.
func (g *Gate) RefundClosed(ctx context.Context) ([]Refund, error) {
	g.refundMu.Lock()
	defer g.refundMu.Unlock()
	closed, err := g.DB.ClosedCredit(ctx, g.Resource)
	if err != nil {
		return nil, err
	}
	var out []Refund
	var errs []error
	for _, c := range closed {
		r, err := g.refund(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("metering: refund of session %s: %w", c.Session, err))
			continue
		}
		if r.Units > 0 {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

func (g *Gate) refund(ctx context.Context, c state.SessionCredit) (Refund, error) {
	r := Refund{Buyer: c.Buyer, Session: c.Session}
	s, err := g.DB.GetSession(ctx, c.Session)
	if errors.Is(err, state.ErrNotFound) {
		return r, nil // no terms to price it at; nothing we can give back
	}
	if err != nil {
		return r, err
	}
	rate, err := RateFor(g.Resource, s.Prices, s.Duration)
	if err != nil {
		return r, err
	}
	// A closed session takes no new stream, so what its streams hold only
	// shrinks: the balance less that is free now.
	g.mu.Lock()
	bal, err := g.DB.Credit(ctx, c.Buyer, g.Resource, c.Session)
	if err == nil {
		r.Units = bal - min(bal, g.heldLocked(c.Buyer, c.Session))
	}
	g.mu.Unlock()
	if err != nil || r.Units == 0 {
		return r, err
	}
	line := state.CreditLine{Buyer: c.Buyer, Resource: g.Resource, Session: c.Session, Units: -int64(min(r.Units, maxLineUnits))}
	r.Sats = rate.SatsWithin(r.Units)
	if r.Sats == 0 {
		// Less than a sat: not worth a token, it is the provider's.
		return r, g.DB.UseCredit(ctx, c.Buyer, g.Resource, c.Session, r.Units)
	}
	change := g.DB.Recorder(state.Entry{Session: c.Session, Kind: state.Change, Counterparty: c.Buyer, Resource: g.Resource})
	lock := g.RefundLock
	if lock <= 0 {
		lock = defaultRefundLock
	}
	// The refund is the buyer's money: it goes out whatever our budget,
	// and only the buyer can redeem it (until the lock lapses).
	sent, err := g.Wallet.Send(state.Exempt(ctx), r.Sats, cashu.SendOptions{Counterparty: c.Buyer, Memo: "sovmesh credit refund", IncludeFees: true,
		Lock: &cashu.Lock{Pubkey: c.Buyer, Locktime: time.Now().Add(lock).Unix()},
		OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
			if err := change(ctx, tx, opID); err != nil {
				return err
			}
			line.OpID = opID
			if err := g.DB.AddCreditLine(ctx, tx, line); err != nil {
				return err
			}
			return g.DB.AddChangeNote(ctx, tx, state.ChangeNote{OpID: opID, Buyer: c.Buyer, Session: c.Session, Resource: g.Resource, Sats: r.Sats})
		}})
	if err != nil {
		return r, err
	}
	r.Token, r.OpID = sent.Token, sent.OpID
	g.log().Info("session credit refunded", "session", c.Session, "buyer", c.Buyer, "units", r.Units, "sats", r.Sats)
	return r, nil
}

// SatsWithin returns the whole sats that units are worth (rounded down):
// what a refund of units may pay without paying back more than was paid.
func (r Rate) SatsWithin(units uint64) uint64 {
	if r.Num == 0 {
		return 0
	}
	// floor(units * Num / (1000 * Den))
	n := new(big.Int).Mul(new(big.Int).SetUint64(units), new(big.Int).SetUint64(r.Num))
	n.Quo(n, new(big.Int).Mul(big.NewInt(1000), new(big.Int).SetUint64(max(r.Den, 1))))
	if !n.IsUint64() {
		return ^uint64(0)
	}
	return n.Uint64()
}
