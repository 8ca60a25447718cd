package cashu

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut03"
	"github.com/elnosh/gonuts/cashu/nuts/nut07"
	"github.com/elnosh/gonuts/cashu/nuts/nut09"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Op kinds.
const (
	KindReceive = "receive"
	KindSend    = "send"
	KindReclaim = "reclaim"
	KindMint    = "mint"
	KindMelt    = "melt"
)

// opData is the journaled body of an op: enough to finish or undo it.
type opData struct {
	Inputs    gcashu.Proofs `json:"inputs,omitempty"`
	OwnInputs bool          `json:"own_inputs,omitempty"`
	Outputs   []output      `json:"outputs,omitempty"`
	Token     string        `json:"token,omitempty"`
	Lock      *Lock         `json:"lock,omitempty"`
	Quote     string        `json:"quote,omitempty"`
	Invoice   string        `json:"invoice,omitempty"`
	Preimage  string        `json:"preimage,omitempty"`
	// Change is what a melt's fee reserve returned (NUT-08), in sats.
	Change uint64 `json:"change,omitempty"`
	// Fee is a melt's fees (the Lightning fee reserve, the melt's input
	// fee and that of the split before it, if any); for a send, every mint
	// fee the send cost beyond its amount (IncludedFee and our own swap's
	// input fee); for a split, its input fee.
	Fee uint64 `json:"fee,omitempty"`
	// IncludedFee is the payee's swap fee a send put in its token.
	IncludedFee uint64 `json:"included_fee,omitempty"`
	SentOp      int64  `json:"sent_op,omitempty"`
	// Offline marks a receive accepted on its DLEQ proofs while the mint
	// could not be reached (its credit is lost if the mint then refuses it).
	Offline bool   `json:"offline,omitempty"`
	Memo    string `json:"memo,omitempty"`
}

func (d *opData) raw() json.RawMessage {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("cashu: marshal op data: %v", err)) // plain structs: cannot fail
	}
	return b
}

func decodeOp(op journal.Op) (*opData, error) {
	var d opData
	if err := json.Unmarshal(op.Data, &d); err != nil {
		return nil, fmt.Errorf("cashu: op %d: bad journal data: %w", op.ID, err)
	}
	return &d, nil
}

// mintErr classifies a mint answer.
func mintErrCode(err error) (int, bool) {
	var me *MintError
	if errors.As(err, &me) {
		return me.Code, true
	}
	return 0, false
}

// runSwap posts the journaled swap of op and records the outcome. A mint
// refusal fails the op (own inputs go back to the wallet); an unknown outcome
// leaves it open for Resume and returns ErrPending.
func (w *Wallet) runSwap(ctx context.Context, op journal.Op, d *opData) (*opData, error) {
	res, err := w.client.swap(ctx, op.Mint, nut03.PostSwapRequest{Inputs: d.Inputs, Outputs: blinded(d.Outputs)})
	if err == nil {
		if err := w.step(op.Kind + ".swapped"); err != nil {
			return nil, err
		}
		return d, w.completeSwap(ctx, op, d, res.Signatures)
	}
	code, definite := mintErrCode(err)
	if !definite {
		return nil, fmt.Errorf("%w: %w", ErrPending, err)
	}
	if code == int(gcashu.ProofAlreadyUsedErrCode) || code == int(gcashu.BlindedMessageAlreadySignedErrCode) {
		// Maybe an earlier attempt of ours went through: ask the mint.
		done, rerr := w.recoverSwap(ctx, op, d, false)
		if rerr != nil || done {
			return d, rerr
		}
	}
	if code == int(gcashu.BlindedMessageAlreadySignedErrCode) {
		// Our counters are behind the mint's signatures (this key's wallet
		// made outputs elsewhere): restore moves them past, and brings
		// back that wallet's unspent proofs.
		if _, rerr := w.restoreMint(ctx, op.Mint); rerr != nil {
			w.log.Warn("restore after an output collision failed", "mint", op.Mint, "err", rerr)
		}
	}
	if code == int(gcashu.StandardErrCode) || code == int(gcashu.DBErrCode) {
		// A generic refusal, as a mint gives the loser of two concurrent
		// swaps of the same proofs: if the inputs are spent now, say so.
		// (No NUT-09 restore here: gonuts v0.4.2 stores the loser's
		// signatures too, and restoring them would spend the proofs twice.)
		if spent, serr := w.inputsSpent(ctx, op, d); serr == nil && spent {
			err = fmt.Errorf("%w: %w", ErrTokenSpent, err)
			if d.OwnInputs {
				_ = w.tx(ctx, func(tx *sql.Tx) error { return setReserved(ctx, tx, op.ID, "spent") })
			}
			return nil, w.failOp(ctx, op, d, err)
		}
	}
	return nil, w.failOp(ctx, op, d, mapMintErr(err))
}

func mapMintErr(err error) error {
	code, _ := mintErrCode(err)
	switch gcashu.CashuErrCode(code) {
	case gcashu.ProofAlreadyUsedErrCode:
		return fmt.Errorf("%w: %w", ErrTokenSpent, err)
	case gcashu.InvalidProofErrCode, gcashu.UnknownKeysetErrCode:
		return fmt.Errorf("%w: %w", ErrMalformedToken, err)
	case gcashu.InsufficientProofAmountErrCode:
		return fmt.Errorf("%w: %w", ErrWrongAmount, err)
	}
	return err
}

// failOp records a failed op and puts own reserved inputs back.
func (w *Wallet) failOp(ctx context.Context, op journal.Op, d *opData, cause error) error {
	if err := w.tx(ctx, func(tx *sql.Tx) error {
		if d.OwnInputs {
			if err := setReserved(ctx, tx, op.ID, "unspent"); err != nil {
				return err
			}
		}
		return journal.SetState(ctx, tx, op.ID, journal.StateFailed, nil, truncate(cause.Error(), 300))
	}); err != nil {
		return errors.Join(cause, err)
	}
	w.log.Info("payment op failed", "op", op.ID, "kind", op.Kind, "amount", op.Amount, "err", cause)
	return cause
}

// completeSwap stores the proofs the mint signed and moves the op on.
func (w *Wallet) completeSwap(ctx context.Context, op journal.Op, d *opData, sigs gcashu.BlindedSignatures) error {
	proofs, err := w.unblind(ctx, op.Mint, d.Outputs, sigs)
	if err != nil {
		return err
	}
	var keep, send gcashu.Proofs
	for i, o := range d.Outputs {
		if o.Send {
			send = append(send, proofs[i])
		} else {
			keep = append(keep, proofs[i])
		}
	}
	state := journal.StateDone
	if len(send) > 0 {
		tok, err := serializeToken(send, op.Mint, d.Memo)
		if err != nil {
			return err
		}
		d.Token = tok
		state = journal.StateSent
	}
	err = w.tx(ctx, func(tx *sql.Tx) error {
		if err := insertProofs(ctx, tx, op.Mint, keep, "unspent", op.ID); err != nil {
			return err
		}
		if d.OwnInputs {
			if err := setReserved(ctx, tx, op.ID, "spent"); err != nil {
				return err
			}
		}
		if op.Kind == KindReclaim && d.SentOp != 0 {
			if err := journal.SetState(ctx, tx, d.SentOp, journal.StateRefunded, nil, ""); err != nil {
				return err
			}
		}
		return journal.SetState(ctx, tx, op.ID, state, d.raw(), "")
	})
	if err != nil {
		return err
	}
	w.log.Debug("payment op completed", "op", op.ID, "kind", op.Kind, "amount", op.Amount, "state", state)
	return nil
}

// recoverSwap asks the mint what became of a journaled swap whose answer we
// did not get: signatures for our outputs (NUT-09 restore) mean it happened;
// otherwise the inputs' state (NUT-07) tells whether it can be retried.
// done reports that the op reached a final or sent state.
func (w *Wallet) recoverSwap(ctx context.Context, op journal.Op, d *opData, retry bool) (done bool, err error) {
	res, err := w.client.restore(ctx, op.Mint, nut09.PostRestoreRequest{Outputs: blinded(d.Outputs)})
	if err != nil {
		if _, definite := mintErrCode(err); !definite {
			return false, fmt.Errorf("%w: %w", ErrPending, err)
		}
	} else if idx, sigs := matchRestored(d.Outputs, res); len(idx) > 0 {
		// Signed outputs are this swap's only if its inputs are spent: the
		// same deterministic outputs may have been signed for a wallet on
		// another machine with this key (or before a key recovery whose
		// restore did not run).
		if spent, err := w.inputsSpent(ctx, op, d); err != nil {
			return false, fmt.Errorf("%w: %w", ErrPending, err)
		} else if spent {
			outs := make([]output, len(idx))
			for i, j := range idx {
				outs[i] = d.Outputs[j]
			}
			d.Outputs = outs
			return true, w.completeSwap(ctx, op, d, sigs)
		}
	}
	// Not signed. What of the inputs?
	ys := make([]string, 0, len(d.Inputs))
	for _, p := range d.Inputs {
		y, err := proofY(p.Secret)
		if err != nil {
			return false, err
		}
		ys = append(ys, y)
	}
	st, err := w.client.checkState(ctx, op.Mint, ys)
	if err != nil {
		if _, definite := mintErrCode(err); !definite {
			return false, fmt.Errorf("%w: %w", ErrPending, err)
		}
		return false, err
	}
	spent, pending := 0, 0
	for _, s := range st.States {
		switch s.State {
		case nut07.Spent:
			spent++
		case nut07.Pending:
			pending++
		}
	}
	switch {
	case pending > 0:
		return false, fmt.Errorf("%w: inputs pending at the mint", ErrPending)
	case spent > 0:
		// Spent by someone else: for a receive, a double spend; for our own
		// proofs, they are gone.
		cause := fmt.Errorf("%w: %d of %d proofs spent elsewhere", ErrTokenSpent, spent, len(ys))
		if d.OwnInputs {
			_ = w.tx(ctx, func(tx *sql.Tx) error { return setReserved(ctx, tx, op.ID, "spent") })
		}
		return true, w.failOp(ctx, op, d, cause)
	}
	if !retry {
		return false, nil
	}
	_, err = w.runSwap(ctx, op, d)
	return err == nil, err
}

// inputsSpent asks the mint (NUT-07) whether any input of op is spent.
func (w *Wallet) inputsSpent(ctx context.Context, op journal.Op, d *opData) (bool, error) {
	ys := make([]string, 0, len(d.Inputs))
	for _, p := range d.Inputs {
		y, err := proofY(p.Secret)
		if err != nil {
			return false, err
		}
		ys = append(ys, y)
	}
	st, err := w.client.checkState(ctx, op.Mint, ys)
	if err != nil {
		return false, err
	}
	for _, s := range st.States {
		if s.State == nut07.Spent {
			return true, nil
		}
	}
	return false, nil
}

// execSwap journals nothing: op must already be journaled. It runs the swap
// and maps the result for callers. A swap of our own proofs that never left
// this host (the mint's port refused the connection) fails at once, its
// inputs the wallet's again, rather than holding them until a restart's
// Resume.
func (w *Wallet) execSwap(ctx context.Context, op journal.Op, d *opData) (*opData, error) {
	if err := w.step(op.Kind + ".journaled"); err != nil {
		return nil, err
	}
	res, err := w.runSwap(ctx, op, d)
	if err != nil && d.OwnInputs && errors.Is(err, errNotSent) {
		return nil, w.failOp(ctx, op, d, fmt.Errorf("%w: %s: request not sent", ErrMintUnreachable, op.Mint))
	}
	return res, err
}

func serializeToken(proofs gcashu.Proofs, mint, memo string) (string, error) {
	tok, err := gcashu.NewTokenV4(proofs, mint, gcashu.Sat, true)
	if err != nil {
		return "", fmt.Errorf("cashu: build token: %w", err)
	}
	tok.Memo = memo
	s, err := tok.Serialize()
	if err != nil {
		return "", fmt.Errorf("cashu: serialize token: %w", err)
	}
	return s, nil
}
