package cashu

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut10"
	"github.com/elnosh/gonuts/cashu/nuts/nut11"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Lock is an escrow condition (NUT-11 P2PK): only the payee's key can spend
// the token until Locktime; after it, the payer's key can take it back.
type Lock struct {
	// Pubkey is the payee's key, x-only hex (a Nostr pubkey) or 33-byte
	// compressed hex.
	Pubkey string `json:"pubkey"`
	// Locktime (unix seconds) after which the payer can reclaim.
	Locktime int64 `json:"locktime"`
}

// SendOptions shape an outgoing payment.
type SendOptions struct {
	// Mint to pay from; default the first of the allow-list.
	Mint string
	// Counterparty (a pubkey) is checked against the budget and journaled.
	Counterparty string
	// Lock, when set, locks the token to the payee with a refund to us.
	Lock *Lock
	// Memo is put in the token.
	Memo string
	// IncludeFees makes the token worth amount plus the mint's input fee
	// (NUT-02 input_fee_ppk) for the payee's swap of exactly its proofs, so
	// a payee that swaps it, as every sovmesh payee does, nets amount.
	// Without it the token's face value is amount and a fee-charging mint
	// leaves the payee less. The fee of our own swap (when the wallet has
	// no exact proofs) is paid on top either way; Sent.Fee reports both.
	IncludeFees bool
	// OnJournal, if set, is called inside the transaction that journals the
	// send op: a caller records there what the payment is for (the change
	// of a tab), so that record and the op exist together or not at all.
	OnJournal func(ctx context.Context, tx *sql.Tx, opID int64) error
}

// Sent is an outgoing payment: Token (a cashuB string) goes to the payee.
// It stays reclaimable until the payee redeems it (see Reclaim).
type Sent struct {
	OpID  int64
	Token string
	// Amount is what the payee nets after its swap (IncludeFees), or the
	// token's face value.
	Amount uint64
	// Fee is the mint fees the payment cost beyond Amount: IncludedFee plus
	// the input fee of our own swap. The balance dropped by Amount + Fee.
	Fee uint64
	// IncludedFee is the payee's swap fee put in the token (IncludeFees):
	// the token's face value is Amount + IncludedFee.
	IncludedFee uint64
	Mint        string
}

// Send makes a token of exactly amount sats (plus the payee's swap fee with
// opts.IncludeFees). With exact proofs at hand it needs no mint; otherwise
// it swaps for the amount and change first. The budget is asked for
// amount plus every mint fee the payment costs (Sent.Fee).
func (w *Wallet) Send(ctx context.Context, amount uint64, opts SendOptions) (Sent, error) {
	if amount == 0 {
		return Sent{}, fmt.Errorf("cashu: send: %w: amount must be positive", ErrWrongAmount)
	}
	mint := w.cfg.Mints[0]
	if opts.Mint != "" {
		var err error
		if mint, err = NormalizeMintURL(opts.Mint); err != nil || !w.Allowed(mint) {
			return Sent{}, fmt.Errorf("cashu: send: %w", ErrUnknownMint)
		}
	}
	var lockPub string
	if opts.Lock != nil {
		var err error
		if lockPub, err = compressedKey(opts.Lock.Pubkey); err != nil {
			return Sent{}, fmt.Errorf("cashu: send: lock pubkey: %w", err)
		}
		if opts.Lock.Locktime <= time.Now().Unix() {
			return Sent{}, fmt.Errorf("cashu: send: lock time must be in the future")
		}
	}
	return w.send(ctx, mint, amount, opts, lockPub, w.cfg.Budget)
}

// send makes the token; budget, when not nil, is asked for amount plus fees
// once the proofs are selected (a melt's split, which reserved its budget
// itself, passes nil). Concurrent sends are safe: each reserves its proofs
// under w.mu, and a send the unspent proofs do not cover waits while
// operations of this wallet in flight hold reserved proofs whose change may
// cover it, then looks again (ErrInsufficient once none is in flight).
func (w *Wallet) send(ctx context.Context, mint string, amount uint64, opts SendOptions, lockPub string, budget Budget) (Sent, error) {
	var ks *keyset
	var sel gcashu.Proofs
	var exact bool
	var split []uint64 // the token's proof amounts, when swapping
	var included uint64
	logged := false
	for {
		wake := w.commits()
		w.mu.Lock()
		var err error
		if ks, err = w.activeKeyset(ctx, mint); err != nil {
			w.mu.Unlock()
			return Sent{}, fmt.Errorf("cashu: send: %w", err)
		}
		if split, included, err = sendSplit(ks, amount, opts.IncludeFees); err != nil {
			w.mu.Unlock()
			return Sent{}, fmt.Errorf("cashu: send: %w", err)
		}
		sel, exact, err = w.selectProofs(ctx, mint, amount+included, included, lockPub == "")
		if err == nil {
			break
		}
		// Proofs reserved by operations in flight (their change is on the
		// way) may cover it: wait for the next of them to land and look
		// again.
		wait := false
		if errors.Is(err, ErrInsufficient) && w.inFlight > 0 {
			unspent, reserved, qerr := w.proofSums(ctx, mint)
			wait = qerr == nil && reserved > 0 && unspent+reserved >= amount+included
		}
		w.mu.Unlock()
		if !wait {
			return Sent{}, fmt.Errorf("cashu: send: %w", err)
		}
		if !logged {
			w.log.Debug("send waits for the change of payments in flight", "mint", mint, "sats", amount)
			logged = true
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Sent{}, fmt.Errorf("cashu: send: %w (%w)", err, ctx.Err())
		}
	}
	// w.mu is held. What the payment costs us beyond amount: the payee's
	// swap fee in the token, and our own swap's unless the proofs go as
	// they are.
	fee := included
	if !exact {
		fee += w.inputFee(sel)
	}
	// The budget sees everything the payment takes from the wallet.
	commit := func(context.Context, bool) error { return nil }
	if budget != nil {
		c, err := budget.Reserve(ctx, opts.Counterparty, amount+fee)
		if err != nil {
			w.mu.Unlock()
			return Sent{}, fmt.Errorf("cashu: send: %w", err)
		}
		commit = c
	}
	sent, err := w.spend(ctx, mint, amount, fee, included, sel, exact, split, ks, opts, lockPub)
	paid := err == nil || errors.Is(err, ErrPending) || errors.Is(err, ErrCrashed)
	if cerr := commit(ctx, paid); cerr != nil && err == nil {
		w.log.Warn("budget commit failed", "err", cerr)
	}
	return sent, err
}

// spend journals and makes the token of a send from the selected proofs;
// it is called with w.mu held and releases it.
func (w *Wallet) spend(ctx context.Context, mint string, amount, fee, included uint64, sel gcashu.Proofs, exact bool, split []uint64, ks *keyset, opts SendOptions, lockPub string) (Sent, error) {
	d := &opData{Inputs: sel, OwnInputs: true, Memo: opts.Memo, Fee: fee, IncludedFee: included}
	op := journal.Op{Kind: KindSend, State: journal.StatePrepared, Mint: mint, Amount: amount, Counterparty: opts.Counterparty}
	if exact {
		// Hand out the proofs as they are.
		tok, err := serializeToken(sel, mint, opts.Memo)
		if err != nil {
			w.mu.Unlock()
			return Sent{}, err
		}
		d.Token = tok
		op.State = journal.StateSent
		err = w.tx(ctx, func(tx *sql.Tx) error {
			id, err := journal.Insert(ctx, tx, journal.Op{Kind: op.Kind, State: op.State, Mint: mint, Amount: amount, Counterparty: op.Counterparty, Data: d.raw()})
			if err != nil {
				return err
			}
			op.ID = id
			if err := reserve(ctx, tx, sel, id); err != nil {
				return err
			}
			if opts.OnJournal != nil {
				if err := opts.OnJournal(ctx, tx, id); err != nil {
					return err
				}
			}
			return setReserved(ctx, tx, id, "spent")
		})
		w.mu.Unlock()
		if err != nil {
			return Sent{}, fmt.Errorf("cashu: send: %w", err)
		}
		if err := w.step("send.sent"); err != nil {
			return Sent{OpID: op.ID}, fmt.Errorf("cashu: send: %w", err)
		}
		return Sent{OpID: op.ID, Token: d.Token, Amount: amount, Fee: fee, IncludedFee: included, Mint: mint}, nil
	}
	change := sel.Amount() - amount - fee
	var secretFn func() (string, error)
	if lockPub != "" {
		secretFn = func() (string, error) { return w.lockSecret(lockPub, opts.Lock.Locktime) }
		d.Lock = opts.Lock
	}
	sendOuts, err := newOutputs(ks, split, true, secretFn)
	if err != nil {
		w.mu.Unlock()
		return Sent{}, err
	}
	keepOuts, err := newOutputs(ks, gcashu.AmountSplit(change), false, nil)
	if err != nil {
		w.mu.Unlock()
		return Sent{}, err
	}
	d.Outputs = append(sendOuts, keepOuts...)
	err = w.journalWithInputs(ctx, &op, d, sel, opts.OnJournal)
	w.mu.Unlock()
	if err != nil {
		return Sent{}, fmt.Errorf("cashu: send: %w", err)
	}
	defer w.landed()
	d, err = w.execSwap(ctx, op, d)
	if err != nil {
		return Sent{OpID: op.ID}, fmt.Errorf("cashu: send: %w", err)
	}
	// The token is journaled (state sent) and not yet in the payee's hands.
	if err := w.step("send.sent"); err != nil {
		return Sent{OpID: op.ID}, fmt.Errorf("cashu: send: %w", err)
	}
	return Sent{OpID: op.ID, Token: d.Token, Amount: amount, Fee: fee, IncludedFee: included, Mint: mint}, nil
}

// sendSplit returns the proof amounts of a token that nets amount to a
// payee who swaps it (include), and the fee in it: the fewest proofs n
// whose fee f = ceil(n * input_fee_ppk / 1000) makes amount + f splittable
// into n powers of two, so the payee nets exactly amount. The canonical
// split of amount + f may hold fewer proofs than f pays for (and the
// payee would net more); a larger proof is then halved. Without include,
// or with a fee-free keyset, it is the canonical split of amount.
func sendSplit(ks *keyset, amount uint64, include bool) ([]uint64, uint64, error) {
	if !include || ks.FeePpk == 0 {
		return gcashu.AmountSplit(amount), 0, nil
	}
	for n := 1; n <= 128; n++ {
		fee := feeFor(ks, n)
		total, carry := bits.Add64(amount, fee, 0)
		if carry != 0 {
			break
		}
		if bits.OnesCount64(total) > n || uint64(n) > total {
			continue
		}
		return splitInto(total, n), fee, nil
	}
	return nil, 0, fmt.Errorf("%w: %d sat cannot carry the mint fee of its own proofs", ErrWrongAmount, amount)
}

// splitInto splits total into n powers of two (popcount(total) <= n <= total).
func splitInto(total uint64, n int) []uint64 {
	parts := gcashu.AmountSplit(total)
	for len(parts) < n {
		i := 0
		for j, p := range parts {
			if p > parts[i] {
				i = j
			}
		}
		parts[i] /= 2
		parts = append(parts, parts[i])
	}
	slices.Sort(parts)
	return parts
}

// lockSecret is a NUT-10 P2PK secret locked to pub, refundable to us after locktime.
func (w *Wallet) lockSecret(pub string, locktime int64) (string, error) {
	refund, err := nut11.ParsePublicKey("02" + w.pub)
	if err != nil {
		return "", err
	}
	tags := nut11.SerializeP2PKTags(nut11.P2PKTags{Locktime: locktime, Refund: []*btcecPub{refund}})
	return nut10.NewSecretFromSpendingCondition(nut10.SpendingCondition{Kind: nut10.P2PK, Data: pub, Tags: tags})
}

// MarkDelivered records that the payee confirmed a send op; it is no longer
// a reclaim candidate.
func (w *Wallet) MarkDelivered(ctx context.Context, opID int64) error {
	return w.tx(ctx, func(tx *sql.Tx) error {
		return journal.SetState(ctx, tx, opID, journal.StateDone, nil, "")
	})
}

func clone(p gcashu.Proofs) gcashu.Proofs { return append(gcashu.Proofs(nil), p...) }
