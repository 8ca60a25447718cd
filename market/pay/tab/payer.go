package tab

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/transport"
)

// ErrLimit means a deposit would pass the Payer's limit.
var ErrLimit = errors.New("tab: deposit limit reached")

// Payer is the buyer's side of a tab with one seller: it implements
// transport.Payer. The first payment step is a deposit; later steps draw
// from the tab, and when a draw brings no credit (the seller's next invoice
// is the one it answered) the tab is dry and the next step is a deposit.
// Deposits never pass Limit. The change comes back from the seller's
// CloseTab by another channel; Settle redeems it.
type Payer struct {
	Wallet *cashu.Wallet
	// Seller is the seller's pubkey (journaled, and checked by the budget).
	Seller string
	// Deposit is the sats of each deposit.
	Deposit uint64
	// Limit caps the total deposited (0: no cap).
	Limit uint64

	mu        sync.Mutex
	deposited uint64
	ops       []int64
	draws     map[invoiceKey]bool // invoices answered with a draw
}

type invoiceKey struct {
	provider string
	proto    string
	used     uint64
	credit   uint64
}

var _ transport.Payer = (*Payer)(nil)

// Pay makes one payment step.
func (p *Payer) Pay(ctx context.Context, inv transport.Invoice) ([]byte, error) {
	key := invoiceKey{inv.Provider.String(), string(inv.Protocol), inv.Used, inv.Credit}
	p.mu.Lock()
	if p.draws == nil {
		p.draws = map[invoiceKey]bool{}
	}
	dry := p.draws[key]
	if p.deposited > 0 && !dry {
		if len(p.draws) > 1024 {
			clear(p.draws)
		}
		p.draws[key] = true
		p.mu.Unlock()
		return []byte(DrawToken), nil
	}
	if p.Deposit == 0 {
		p.mu.Unlock()
		return nil, errors.New("tab: payer: Deposit is 0")
	}
	if p.Limit > 0 && p.deposited+p.Deposit > p.Limit {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: deposited %d of %d sats", ErrLimit, p.deposited, p.Limit)
	}
	p.deposited += p.Deposit
	delete(p.draws, key)
	p.mu.Unlock()
	sent, err := p.Wallet.Send(ctx, p.Deposit, cashu.SendOptions{Counterparty: p.Seller, Memo: "sovmesh tab deposit", IncludeFees: true})
	if err != nil {
		p.mu.Lock()
		p.deposited -= p.Deposit
		p.mu.Unlock()
		return nil, fmt.Errorf("tab: deposit: %w", err)
	}
	p.mu.Lock()
	p.ops = append(p.ops, sent.OpID)
	p.mu.Unlock()
	return []byte(sent.Token), nil
}

// Deposited returns the sats deposited so far.
func (p *Payer) Deposited() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deposited
}

// Settle redeems the change token the seller returned at closing, then
// settles every deposit: one the seller redeemed is done; one it never
// redeemed (a seller that died at a pause point) comes back to the wallet.
// It returns the sats that came back, change included.
func (p *Payer) Settle(ctx context.Context, change Change) (uint64, error) {
	var back uint64
	if change.Token != "" {
		rec, err := p.Wallet.Receive(ctx, change.Token, cashu.ReceiveOptions{Counterparty: p.Seller})
		if err != nil {
			return 0, fmt.Errorf("tab: change: %w", err)
		}
		back = rec.Amount
	}
	n, err := p.Reclaim(ctx)
	return back + n, err
}

// Reclaim takes back the deposits the seller never redeemed (a seller that
// died before the pause point was answered). It returns the sats recovered.
func (p *Payer) Reclaim(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	ops := p.ops
	p.ops = nil
	p.mu.Unlock()
	var back uint64
	var errs []error
	for _, op := range ops {
		rc, err := p.Wallet.Reclaim(ctx, op)
		if errors.Is(err, cashu.ErrNotReclaimable) {
			continue // already settled
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		back += rc.Amount
	}
	return back, errors.Join(errs...)
}
