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
	var total uint64
	for _, a := range amounts {
		total += a
	}
	w.mu.Lock()
	ks, err := w.activeKeyset(ctx, mint)
	if err != nil {
		w.mu.Unlock()
		return nil, 0, err
	}
	sel, _, err := w.selectProofs(ctx, mint, total, 0, false)
	if err != nil {
		w.mu.Unlock()
		return nil, 0, err
	}
	fee = w.inputFee(sel)
	want, err := newOutputs(ks, amounts, false, nil)
	if err != nil {
		w.mu.Unlock()
		return nil, 0, err
	}
	change, err := newOutputs(ks, gcashu.AmountSplit(sel.Amount()-total-fee), false, nil)
	if err != nil {
		w.mu.Unlock()
		return nil, 0, err
	}
	d := &opData{Inputs: sel, OwnInputs: true, Outputs: append(want, change...), Fee: fee, Memo: "split"}
	op := journal.Op{Kind: KindSplit, State: journal.StatePrepared, Mint: mint, Amount: total}
	err = w.journalWithInputs(ctx, &op, d, sel, nil)
	w.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if _, err := w.execSwap(ctx, op, d); err != nil {
		return nil, 0, err
	}
	for _, o := range want {
		made = append(made, o.Secret)
	}
	return made, fee, nil
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
