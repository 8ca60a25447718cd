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
