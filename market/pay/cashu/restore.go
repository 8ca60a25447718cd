package cashu

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut07"
	"github.com/elnosh/gonuts/cashu/nuts/nut09"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// KindRestore records the proofs a NUT-09 restore brought back (state done).
const KindRestore = "restore"

// Restore walk: counters are asked in batches of restoreBatch, and a keyset
// is done after restoreGap empty batches in a row (NUT-13's advice).
const (
	restoreBatch = 100
	restoreGap   = 3
	// checkBatch bounds the proofs of one NUT-07 state check.
	checkBatch = 100
)

// RestoreReport is what Restore did at one mint.
type RestoreReport struct {
	Mint     string
	Restored uint64 // sats of unspent proofs added to the wallet
	Proofs   int    // their number
	Signed   int    // outputs of ours the mint has signed (spent or not)
	Err      error  // this mint could not be restored (the others still are)
}

// Restore finds the wallet's ecash at each mint of the allow-list from the
// wallet key alone (NUT-13 secrets, NUT-09 restore): for every sat keyset of
// the mint it asks for the signatures of its derived outputs, batch after
// batch until restoreGap batches in a row have none, keeps those the mint
// reports unspent (NUT-07) and moves the keyset's counter past the last
// signed one, so new outputs never collide with old ones. It is idempotent:
// proofs the wallet already holds are not added again. Outputs of tokens this
// wallet's journal records as sent are not taken back; on a new machine,
// whose journal is empty, a sent token its payee has not redeemed yet is.
// Proofs with random secrets (made before NUT-13) cannot be restored.
func (w *Wallet) Restore(ctx context.Context) ([]RestoreReport, error) {
	var reps []RestoreReport
	var errs []error
	for _, mint := range w.cfg.Mints {
		rep, err := w.restoreMint(ctx, mint)
		rep.Mint, rep.Err = mint, err
		if err != nil {
			errs = append(errs, fmt.Errorf("cashu: restore %s: %w", mint, err))
		} else {
			w.log.Info("wallet restored", "mint", mint, "sats", rep.Restored, "proofs", rep.Proofs)
		}
		reps = append(reps, rep)
	}
	return reps, errors.Join(errs...)
}

func (w *Wallet) restoreMint(ctx context.Context, mint string) (RestoreReport, error) {
	var rep RestoreReport
	list, err := w.client.keysets(ctx, mint)
	if err != nil {
		return rep, err
	}
	var found gcashu.Proofs
	next := map[string]uint32{}
	for _, k := range list.Keysets {
		if k.Unit != "sat" {
			continue
		}
		if _, err := w.keysetByID(ctx, mint, k.Id, true); err != nil {
			return rep, err
		}
		proofs, n, err := w.restoreKeyset(ctx, mint, k.Id)
		if err != nil {
			return rep, err
		}
		found = append(found, proofs...)
		if n > 0 {
			next[k.Id] = n
		}
	}
	rep.Signed = len(found)
	unspent, err := w.unspentAtMint(ctx, mint, found)
	if err != nil {
		return rep, err
	}
	err = w.tx(ctx, func(tx *sql.Tx) error {
		for id, n := range next {
			if err := raiseCounter(ctx, tx, id, n); err != nil {
				return err
			}
		}
		keep, err := newToWallet(ctx, tx, unspent)
		if err != nil || len(keep) == 0 {
			return err
		}
		d := &opData{Memo: "restore"}
		id, err := journal.Insert(ctx, tx, journal.Op{Kind: KindRestore, State: journal.StateDone, Mint: mint, Amount: keep.Amount(), Data: d.raw()})
		if err != nil {
			return err
		}
		rep.Restored, rep.Proofs = keep.Amount(), len(keep)
		return insertProofs(ctx, tx, mint, keep, "unspent", id)
	})
	return rep, err
}

// restoreKeyset walks the counters of keyset id and returns the proofs the
// mint has signed for them and the counter after the last signed one.
func (w *Wallet) restoreKeyset(ctx context.Context, mint, id string) (gcashu.Proofs, uint32, error) {
	var proofs gcashu.Proofs
	var next uint32
	for start, empty := uint32(0), 0; empty < restoreGap && start <= maxCounter-restoreBatch; start += restoreBatch {
		outs := make([]output, restoreBatch)
		for i := range outs {
			outs[i] = output{Amount: 1, Keyset: id}
			if err := w.deriveOutput(&outs[i], start+uint32(i)); err != nil {
				return nil, 0, err
			}
		}
		res, err := w.client.restore(ctx, mint, nut09.PostRestoreRequest{Outputs: blinded(outs)})
		if err != nil {
			return nil, 0, err
		}
		idx, sigs := matchRestored(outs, res)
		if len(idx) == 0 {
			empty++
			continue
		}
		empty = 0
		signed := make([]output, len(idx))
		for i, j := range idx {
			signed[i] = outs[j]
			signed[i].Amount = sigs[i].Amount
			next = max(next, start+uint32(j)+1)
		}
		ps, err := w.unblind(ctx, mint, signed, sigs)
		if err != nil {
			return nil, 0, err
		}
		proofs = append(proofs, ps...)
	}
	return proofs, next, nil
}

// matchRestored pairs a restore answer with the outputs asked: the index in
// outs of each signed output (each at most once) and its signature. Anything
// in the answer that is not one of outs is ignored.
func matchRestored(outs []output, res *nut09.PostRestoreResponse) ([]int, gcashu.BlindedSignatures) {
	at := make(map[string]int, len(outs))
	for i, o := range outs {
		at[o.B] = i
	}
	var idx []int
	var sigs gcashu.BlindedSignatures
	for i, o := range res.Outputs {
		j, ok := at[o.B_]
		if !ok || i >= len(res.Signatures) {
			continue
		}
		delete(at, o.B_)
		idx = append(idx, j)
		sigs = append(sigs, res.Signatures[i])
	}
	return idx, sigs
}

// unspentAtMint returns the proofs the mint reports unspent (NUT-07).
func (w *Wallet) unspentAtMint(ctx context.Context, mint string, proofs gcashu.Proofs) (gcashu.Proofs, error) {
	var out gcashu.Proofs
	for len(proofs) > 0 {
		batch := proofs[:min(len(proofs), checkBatch)]
		proofs = proofs[len(batch):]
		ys := make([]string, len(batch))
		for i, p := range batch {
			y, err := proofY(p.Secret)
			if err != nil {
				return nil, err
			}
			ys[i] = y
		}
		st, err := w.client.checkState(ctx, mint, ys)
		if err != nil {
			return nil, err
		}
		state := make(map[string]nut07.State, len(st.States))
		for _, s := range st.States {
			state[s.Y] = s.State
		}
		for i, p := range batch {
			if s, ok := state[ys[i]]; ok && s == nut07.Unspent {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// newToWallet drops from proofs those the wallet already holds (in any
// state) and the outputs of tokens its journal records as sent.
func newToWallet(ctx context.Context, tx *sql.Tx, proofs gcashu.Proofs) (gcashu.Proofs, error) {
	sent, err := sentSecrets(ctx, tx)
	if err != nil {
		return nil, err
	}
	var out gcashu.Proofs
	for _, p := range proofs {
		if sent[p.Secret] {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proofs WHERE secret = ?`, p.Secret).Scan(&n); err != nil {
			return nil, fmt.Errorf("cashu: restore: %w", err)
		}
		if n == 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// sentSecrets returns the secrets of the outputs the journal's sends made
// for their payees.
func sentSecrets(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM ops WHERE kind = ?`, KindSend)
	if err != nil {
		return nil, fmt.Errorf("cashu: restore: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("cashu: restore: %w", err)
		}
		var d opData
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, fmt.Errorf("cashu: restore: bad journal data: %w", err)
		}
		for _, o := range d.Outputs {
			if o.Send {
				out[o.Secret] = true
			}
		}
	}
	return out, rows.Err()
}
