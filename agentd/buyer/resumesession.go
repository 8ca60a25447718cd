package buyer

import (
	"context"
	"errors"
	"fmt"

	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// errSessionGone means a session recorded in a put's journal cannot be
// named again: we closed it, or its provider no longer holds it open.
var errSessionGone = errors.New("buyer: session no longer open")

// resumeSession takes up again the storage session id an interrupted put
// paid c's provider in, as the buyer's database recorded it: its payer
// starts from what the session paid so far (the tokens the provider did
// not redeem are taken back first), so the steps the interrupted put paid
// ahead, credited to the session at the provider, are spent rather than
// paid again. It fails (errSessionGone) if the provider does not hold the
// session open any more.
func (b *Buyer) resumeSession(ctx context.Context, c Candidate, id string) (*Session, error) {
	st, err := b.db.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	o := c.Offer
	switch {
	case st.Role != state.RoleBuyer || st.Counterparty != o.Pubkey || st.Resource != nips.Storage:
		return nil, fmt.Errorf("%w: %s is not a storage session with %s", errSessionGone, id, o.Pubkey)
	case st.ReceiptID != "":
		return nil, fmt.Errorf("%w: %s has its receipt", errSessionGone, id)
	}
	lat, pid, err := b.probe(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %s unreachable: %v", ErrNoMatch, o.Pubkey, err)
	}
	if err := b.host.CheckSession(ctx, pid, id); err != nil {
		if errors.Is(err, transport.ErrSessionRefused) {
			// The provider closed it: it is over for us too.
			if ferr := b.db.FinishSession(ctx, id, "failed", ""); ferr != nil {
				b.log.Warn("session state not recorded", "session", id, "err", ferr)
			}
		}
		return nil, fmt.Errorf("%w: %w", errSessionGone, err)
	}
	// Settle the tokens still out first: what the session paid is then
	// exactly what the provider redeemed (its credit and usage).
	paid, out, err := b.db.SessionSends(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		if _, err := metering.Reclaim(ctx, b.wallet, b.db, o.Pubkey, out); err != nil {
			return nil, err
		}
		if paid, _, err = b.db.SessionSends(ctx, id); err != nil {
			return nil, err
		}
	}
	m := nips.Match{Offer: st.Offer, Buyer: b.pubkey, Provider: o.Pubkey, Resource: st.Resource, Prices: st.Prices,
		Quantity: st.Quantity, Duration: st.Duration, Amount: st.AmountMsat, Session: id, Pubkey: o.Pubkey, EventID: st.MatchID}
	rate, err := metering.RateFor(nips.Storage, m.Prices, m.Duration)
	if err != nil {
		return nil, err
	}
	if st.State != "open" {
		// An interrupted put marks its sessions failed: open again.
		if err := b.db.FinishSession(ctx, id, "open", ""); err != nil {
			return nil, err
		}
	}
	s := &Session{ID: id, Provider: o.Pubkey, Peer: pid, Offer: o, Match: m, Opened: st.CreatedAt, Latency: lat}
	s.Payer = &metering.Payer{Wallet: b.wallet, DB: b.db, Session: id, Market: id, Provider: o.Pubkey, Resource: nips.Storage,
		Rate: rate, Step: b.cfg.StepBytes, Limit: metering.MsatToSats(m.Amount), Log: b.log}
	b.storePayer(s, m.Quantity<<30)
	s.Payer.Resume(paid)
	b.log.Info("session resumed", "session", id, "provider", o.Pubkey, "paid_sats", paid)
	return s, nil
}
