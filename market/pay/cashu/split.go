package cashu

import (
	"context"
	"fmt"
	"slices"

	gcashu "github.com/elnosh/gonuts/cashu"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// KindSplit is a swap of our own proofs into proofs of chosen amounts, all
// kept, so that a payment that takes no change (a melt) has exact inputs.
const KindSplit = "split"

// split swaps unspent proofs worth amounts plus the swap's input fee (and
// change) into new proofs of exactly amounts, plus the change, all kept.
// It returns the secrets of the proofs of amounts, in order, and the swap's
// input fee. Called without w.mu.
func (w *Wallet) split(ctx context.Context, mint string, amounts []uint64) (made []string, fee uint64, err error) {
	op, d, want, err := w.journalSplit(ctx, mint, amounts)
	if err != nil {
		return nil, 0, err
	}
	defer w.landed()
	if _, err := w.execSwap(ctx, op, d); err != nil {
		return nil, 0, err
	}
	for _, o := range d.Outputs[:len(want)] {
		made = append(made, o.Secret)
	}
	return made, d.Fee, nil
}

// journalSplit selects the split's inputs, makes its outputs (want: those
// of amounts) and journals it, under w.mu.
func (w *Wallet) journalSplit(ctx context.Context, mint string, amounts []uint64) (op journal.Op, d *opData, want []output, err error) {
	var total uint64
	for _, a := range amounts {
		total += a
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ks, err := w.activeKeyset(ctx, mint)
	if err != nil {
		return op, nil, nil, err
	}
	sel, _, err := w.selectProofs(ctx, mint, total, 0, false)
	if err != nil {
		return op, nil, nil, err
	}
	fee := w.inputFee(sel)
	if want, err = newOutputs(ks, amounts, false, nil); err != nil {
		return op, nil, nil, err
	}
	change, err := newOutputs(ks, gcashu.AmountSplit(sel.Amount()-total-fee), false, nil)
	if err != nil {
		return op, nil, nil, err
	}
	d = &opData{Inputs: sel, OwnInputs: true, Outputs: append(slices.Clip(want), change...), Fee: fee, Memo: "split"}
	op = journal.Op{Kind: KindSplit, State: journal.StatePrepared, Mint: mint, Amount: total}
	if err := w.journalWithInputs(ctx, &op, d, sel, nil); err != nil {
		return op, nil, nil, err
	}
	return op, d, want, nil
}

// proofsBySecret returns the unspent proofs with the given secrets, in
// order; found is false unless every one is unspent. Called with w.mu held.
func (w *Wallet) proofsBySecret(ctx context.Context, mint string, secrets []string) (gcashu.Proofs, bool, error) {
	all, err := w.unspentProofs(ctx, mint)
	if err != nil {
		return nil, false, err
	}
	out := make(gcashu.Proofs, 0, len(secrets))
	for _, s := range secrets {
		i := slices.IndexFunc(all, func(p gcashu.Proof) bool { return p.Secret == s })
		if i < 0 {
			return nil, false, nil
		}
		out = append(out, all[i])
	}
	return out, true, nil
}

// proofCount is the number of unspent proofs at mint.
func (w *Wallet) proofCount(ctx context.Context, mint string) (int, error) {
	var n int
	if err := w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM proofs WHERE mint = ? AND state = 'unspent'`, mint).Scan(&n); err != nil {
		return 0, fmt.Errorf("cashu: count proofs: %w", err)
	}
	return n, nil
}

// PrepareSends readies the wallet to pay sends of amounts (most wanted
// first) from proofs as they are, with no call to the mint at send time:
// one split swaps unspent proofs of the default mint into the canonical
// split of each amount, for the longest prefix of amounts the unspent
// balance covers. A payer that knows its next payments (a storage
// session's steps) calls it before they are asked for, so each becomes an
// exact send (a journal write) and sends to different payees do not wait
// for each other's swap and change. It returns how many amounts it
// prepared. A keyset with an input fee is left alone (0, nil): the split
// would cost a fee per input that no payment records; sends swap then as
// before. The proofs stay the wallet's: nothing leaves it.
func (w *Wallet) PrepareSends(ctx context.Context, amounts []uint64) (int, error) {
	mint := w.cfg.Mints[0]
	w.mu.Lock()
	ks, err := w.activeKeyset(ctx, mint)
	w.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("cashu: prepare sends: %w", err)
	}
	if ks.FeePpk != 0 {
		return 0, nil
	}
	have, err := w.MintBalance(ctx, mint)
	if err != nil {
		return 0, fmt.Errorf("cashu: prepare sends: %w", err)
	}
	var denoms []uint64
	var total uint64
	n := 0
	for _, a := range amounts {
		if a == 0 || total+a > have || total+a < total {
			break
		}
		total += a
		denoms = append(denoms, gcashu.AmountSplit(a)...)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if _, _, err := w.split(ctx, mint, denoms); err != nil {
		return 0, fmt.Errorf("cashu: prepare sends: %w", err)
	}
	return n, nil
}
