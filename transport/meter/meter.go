// Package meter holds a non-monetary PaymentGate and Payer for the
// transport protocols: the gate grants units for tokens of the form
// "units:<n>:<nonce>", refuses a token it has already redeemed, and keeps
// per-session usage. It is real accounting without money, for tests, local
// networks and as the model agentd's Cashu gate follows.
package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sovmesh/sovmesh/transport"
)

// Errors returned by Gate and Payer.
var (
	ErrBadToken    = errors.New("meter: malformed token")
	ErrSpent       = errors.New("meter: token already redeemed")
	ErrStepTooBig  = errors.New("meter: token grants more than the step limit")
	ErrBudgetSpent = errors.New("meter: payer budget exhausted")
)

// Gate is a counting transport.PaymentGate.
type Gate struct {
	// Initial is the free credit each session starts with.
	Initial uint64
	// MaxStep caps the units one token may grant (0 = no cap).
	MaxStep uint64

	mu       sync.Mutex
	spent    map[string]bool
	paid     map[string]uint64
	closed   map[string]transport.Usage
	redeemed int
}

// Open grants the initial credit.
func (g *Gate) Open(_ context.Context, s transport.Session) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paid == nil {
		g.paid, g.spent, g.closed = map[string]uint64{}, map[string]bool{}, map[string]transport.Usage{}
	}
	g.paid[s.ID] = 0
	return g.Initial, nil
}

// Redeem parses and spends a token.
func (g *Gate) Redeem(_ context.Context, s transport.Session, token []byte) (uint64, error) {
	parts := strings.Split(string(token), ":")
	if len(parts) != 3 || parts[0] != "units" || len(parts[2]) != 32 {
		return 0, ErrBadToken
	}
	n, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil || n == 0 {
		return 0, ErrBadToken
	}
	if g.MaxStep > 0 && n > g.MaxStep {
		return 0, fmt.Errorf("%w: %d", ErrStepTooBig, n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spent == nil {
		return 0, errors.New("meter: redeem before open")
	}
	if g.spent[parts[2]] {
		return 0, ErrSpent
	}
	g.spent[parts[2]] = true
	g.paid[s.ID] += n
	g.redeemed++
	return n, nil
}

// Close records the session's final usage.
func (g *Gate) Close(_ context.Context, s transport.Session, u transport.Usage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed[s.ID] = u
}

// Redeemed returns how many tokens were redeemed.
func (g *Gate) Redeemed() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.redeemed
}

// Paid returns the units paid over all sessions.
func (g *Gate) Paid() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var sum uint64
	for _, v := range g.paid {
		sum += v
	}
	return sum
}

// Closed returns the final usage of every closed session.
func (g *Gate) Closed() []transport.Usage {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]transport.Usage, 0, len(g.closed))
	for _, u := range g.closed {
		out = append(out, u)
	}
	return out
}

// Payer is a transport.Payer that pays Step units per pause point (or what
// the invoice needs, if more), up to Budget units in all (0 = unlimited);
// it declines a payment ahead that the budget cannot cover.
type Payer struct {
	Step   uint64
	Budget uint64

	mu       sync.Mutex
	paid     uint64
	payments int
}

// Pay mints a token for the next step.
func (p *Payer) Pay(_ context.Context, inv transport.Invoice) ([]byte, error) {
	n := max(p.Step, inv.Need, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Budget > 0 && p.paid+n > p.Budget && inv.Need == 0 {
		return nil, nil // a payment ahead past the budget: declined
	}
	if p.Budget > 0 && p.paid+n > p.Budget {
		return nil, fmt.Errorf("%w: paid %d of %d", ErrBudgetSpent, p.paid, p.Budget)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	p.paid += n
	p.payments++
	return []byte(fmt.Sprintf("units:%d:%s", n, hex.EncodeToString(nonce[:]))), nil
}

// Paid returns units paid and the number of payments.
func (p *Payer) Paid() (units uint64, payments int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paid, p.payments
}
