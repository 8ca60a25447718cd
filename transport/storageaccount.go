package transport

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// storageAccount is a provider's credit with one buyer in one market
// session on the storage protocol, shared by every storage stream the buyer
// has open at once in that session: the streams draw on one credit (one
// gate session), so a buyer using eight streams pays the same steps as
// with one, and one payment is asked for at a time. Streams of the
// buyer's other sessions have accounts of their own, so every payment and
// every unit used is booked to the session its stream named.
//
// Payments are pipelined. When a request is covered but leaves less
// credit than the last step bought, the provider asks for the next step
// ahead (NEEDPAY with need 0) once the request is served; the buyer pays or
// declines (an empty PAY, e.g. at its cap). The answer goes out at once and
// the token is redeemed in the background, so the mint's swap does not hold
// up the data. A request the credit does not cover waits for a redemption
// in flight, or asks for payment itself (the pause point) and is served only
// once that payment is redeemed. Nothing is served past the redeemed
// credit. A failed background redemption ends every stream of the account
// at its next request with ErrPaymentRefused.
type storageAccount struct {
	t    *Host
	key  poolKey
	refs int // guarded by Host.accMu

	mu       sync.Mutex
	m        *meter
	paying   bool          // a payment is being asked for or redeemed
	changed  chan struct{} // closed (and replaced) when paying ends
	lastStep uint64        // units of the last redeemed payment
	declined bool          // the buyer declined a payment ahead: ask no more
	err      error         // a failed background redemption
	redeems  sync.WaitGroup
}

// openAccount joins remote's storage account in market session market,
// opening it (a gate session) if remote has no other storage stream of
// that session open. The gate checks the session for every stream, the
// ones that join too: a session closed meanwhile takes no new stream.
func (t *Host) openAccount(ctx context.Context, gate PaymentGate, remote peer.ID, market string) (*storageAccount, error) {
	m, err := openMeter(ctx, gate, StorageProtocol, remote, market)
	if err != nil {
		return nil, err
	}
	k := poolKey{peer: remote, market: market}
	t.accMu.Lock()
	if a := t.accounts[k]; a != nil {
		// The account is open: hand this gate session's credit back (the
		// gate keeps unused credit for the buyer in this session).
		a.refs++
		t.accMu.Unlock()
		m.close(context.WithoutCancel(ctx))
		return a, nil
	}
	a := &storageAccount{t: t, key: k, refs: 1, m: m, changed: make(chan struct{})}
	t.accounts[k] = a
	t.accMu.Unlock()
	return a, nil
}

// release leaves the account; the last stream out waits for redemptions in
// flight and closes the gate session.
func (a *storageAccount) release(ctx context.Context) {
	a.t.accMu.Lock()
	a.refs--
	last := a.refs == 0
	if last {
		delete(a.t.accounts, a.key)
	}
	a.t.accMu.Unlock()
	if last {
		a.redeems.Wait()
		a.m.close(ctx)
	}
}

func (a *storageAccount) addBytes(in, out uint64) {
	a.mu.Lock()
	a.m.usage.BytesIn += in
	a.m.usage.BytesOut += out
	a.mu.Unlock()
}

// donePaying ends the payment in progress and wakes the streams waiting.
func (a *storageAccount) donePaying() {
	a.paying = false
	close(a.changed)
	a.changed = make(chan struct{})
}

// reserve takes n units from the credit for a request on c, paying at a
// pause point first if the credit does not cover them. keep is called
// before c reads a payment frame (which reuses the frame buffer). ahead
// reports that the caller must call payAhead (or cancelAhead) once it has
// served the request.
func (a *storageAccount) reserve(ctx context.Context, c *conn, n uint64, keep func()) (ahead bool, err error) {
	for range 64 {
		a.mu.Lock()
		if a.err != nil {
			err := a.err
			a.mu.Unlock()
			return false, err
		}
		if a.m.short(n) == 0 {
			a.m.usage.Units += n
			ahead = a.m.gate != nil && !a.paying && !a.declined && a.lastStep > 0 && a.m.credit-a.m.usage.Units < a.lastStep
			if ahead {
				a.paying = true
			}
			a.mu.Unlock()
			return ahead, nil
		}
		if a.paying {
			ch := a.changed
			a.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			continue
		}
		a.paying = true
		used, credit, short := a.m.usage.Units, a.m.credit, a.m.short(n)
		a.mu.Unlock()
		keep()
		tok, err := a.t.askPayment(c, used, credit, short)
		if err == nil {
			err = a.redeem(ctx, tok)
		}
		a.mu.Lock()
		a.donePaying()
		a.mu.Unlock()
		if err != nil {
			return false, err
		}
	}
	return false, fmt.Errorf("%w: too many payment steps", ErrPaymentRefused)
}

// unreserve gives back n units reserved for a request that was not served.
func (a *storageAccount) unreserve(n uint64) {
	a.mu.Lock()
	a.m.usage.Units -= n
	a.mu.Unlock()
}

// cancelAhead drops a payment ahead that reserve asked for.
func (a *storageAccount) cancelAhead() {
	a.mu.Lock()
	a.donePaying()
	a.mu.Unlock()
}

// redeem turns a token into credit, now.
func (a *storageAccount) redeem(ctx context.Context, tok []byte) error {
	a.mu.Lock()
	m := *a.m // Redeem may take a while: not under the lock
	a.mu.Unlock()
	before := m.credit
	if err := m.redeem(ctx, tok); err != nil {
		return err
	}
	a.mu.Lock()
	got := m.credit - before
	if a.m.credit > math.MaxUint64-got {
		a.m.credit = math.MaxUint64
	} else {
		a.m.credit += got
	}
	a.lastStep = got
	a.mu.Unlock()
	return nil
}

// payAhead asks the buyer for the next step on c and redeems the token in
// the background; an empty PAY declines, and no more is asked ahead.
func (a *storageAccount) payAhead(ctx context.Context, c *conn) error {
	a.mu.Lock()
	used, credit := a.m.usage.Units, a.m.credit
	a.mu.Unlock()
	tok, err := a.t.askPayment(c, used, credit, 0)
	if err != nil || len(tok) == 0 {
		a.mu.Lock()
		a.declined = err == nil
		a.donePaying()
		a.mu.Unlock()
		return err
	}
	tok = append([]byte(nil), tok...) // the frame buffer is reused
	a.redeems.Add(1)
	go func() {
		defer a.redeems.Done()
		err := a.redeem(context.WithoutCancel(ctx), tok)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err != nil {
			a.err = fmt.Errorf("payment ahead: %w", err)
		}
		a.donePaying()
	}()
	return nil
}
