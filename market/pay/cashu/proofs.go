package cashu

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut12"
	"github.com/elnosh/gonuts/crypto"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// output is a blinded message the wallet asked the mint to sign, with what
// it needs to unblind the signature. It is journaled before the request.
type output struct {
	Amount uint64 `json:"amount"`
	Keyset string `json:"keyset"`
	Secret string `json:"secret"`
	R      string `json:"r"`
	B      string `json:"B_"`
	// Send marks outputs that go into an outgoing token instead of the wallet.
	Send bool `json:"send,omitempty"`
}

// newOutputs makes one output per amount. With secretFn (a locked send), each
// secret is secretFn's with a random blinding factor; without, the outputs
// get their deterministic secrets (NUT-13) when they are journaled, from
// deriveOutputs in the journaling transaction.
func newOutputs(ks *keyset, amounts []uint64, send bool, secretFn func() (string, error)) ([]output, error) {
	outs := make([]output, 0, len(amounts))
	for _, a := range amounts {
		if _, ok := ks.Keys[a]; !ok {
			return nil, fmt.Errorf("cashu: mint keyset has no key for amount %d", a)
		}
		o := output{Amount: a, Keyset: ks.ID, Send: send}
		if secretFn != nil {
			secret, err := secretFn()
			if err != nil {
				return nil, fmt.Errorf("cashu: make secret: %w", err)
			}
			r, err := secp256k1.GeneratePrivateKey()
			if err != nil {
				return nil, fmt.Errorf("cashu: blinding factor: %w", err)
			}
			B, r, err := crypto.BlindMessage(secret, r)
			if err != nil {
				return nil, fmt.Errorf("cashu: blind: %w", err)
			}
			o.Secret, o.R, o.B = secret, hex.EncodeToString(r.Serialize()), hex.EncodeToString(B.SerializeCompressed())
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func blinded(outs []output) gcashu.BlindedMessages {
	bm := make(gcashu.BlindedMessages, len(outs))
	for i, o := range outs {
		bm[i] = gcashu.BlindedMessage{Amount: o.Amount, B_: o.B, Id: o.Keyset}
	}
	return bm
}

// unblind turns the mint's signatures on outs into proofs, checking each
// signature's DLEQ proof (NUT-12) against the mint's key, and keeping the
// blinding factor so the proof can carry its DLEQ to the next holder.
func (w *Wallet) unblind(ctx context.Context, mint string, outs []output, sigs gcashu.BlindedSignatures) (gcashu.Proofs, error) {
	if len(sigs) != len(outs) {
		return nil, fmt.Errorf("cashu: mint returned %d signatures for %d outputs", len(sigs), len(outs))
	}
	proofs := make(gcashu.Proofs, len(outs))
	for i, o := range outs {
		sig := sigs[i]
		ks, err := w.keysetByID(ctx, mint, sig.Id, true)
		if err != nil {
			return nil, err
		}
		K, ok := ks.Keys[o.Amount]
		if !ok || sig.Amount != o.Amount {
			return nil, fmt.Errorf("cashu: signature %d: amount %d does not match output %d", i, sig.Amount, o.Amount)
		}
		if sig.DLEQ != nil && !nut12.VerifyBlindSignatureDLEQ(*sig.DLEQ, K, o.B, sig.C_) {
			return nil, fmt.Errorf("cashu: signature %d: %w", i, ErrBadDLEQ)
		}
		Cb, err := hex.DecodeString(sig.C_)
		if err != nil {
			return nil, fmt.Errorf("cashu: signature %d: bad C_", i)
		}
		C_, err := secp256k1.ParsePubKey(Cb)
		if err != nil {
			return nil, fmt.Errorf("cashu: signature %d: bad C_", i)
		}
		rb, _ := hex.DecodeString(o.R)
		r := secp256k1.PrivKeyFromBytes(rb)
		C := crypto.UnblindSignature(C_, r, K)
		p := gcashu.Proof{Amount: o.Amount, Id: sig.Id, Secret: o.Secret, C: hex.EncodeToString(C.SerializeCompressed())}
		if sig.DLEQ != nil {
			p.DLEQ = &gcashu.DLEQProof{E: sig.DLEQ.E, S: sig.DLEQ.S, R: o.R}
		}
		proofs[i] = p
	}
	return proofs, nil
}

// proofY returns hash_to_curve(secret), the id of a proof at the mint (NUT-07).
func proofY(secret string) (string, error) {
	Y, err := crypto.HashToCurve([]byte(secret))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(Y.SerializeCompressed()), nil
}

func insertProofs(ctx context.Context, tx *sql.Tx, mint string, proofs gcashu.Proofs, state string, opID int64) error {
	now := time.Now().Unix()
	for _, p := range proofs {
		y, err := proofY(p.Secret)
		if err != nil {
			return fmt.Errorf("cashu: proof Y: %w", err)
		}
		dleq := ""
		if p.DLEQ != nil {
			b, _ := json.Marshal(p.DLEQ)
			dleq = string(b)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO proofs (secret, y, mint, keyset_id, amount, c, dleq, state, op_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(secret) DO NOTHING`,
			p.Secret, y, mint, p.Id, int64(p.Amount), p.C, dleq, state, opID, now); err != nil {
			return fmt.Errorf("cashu: store proof: %w", err)
		}
	}
	return nil
}

type storedProof struct {
	gcashu.Proof
	Mint string
}

func (w *Wallet) unspentProofs(ctx context.Context, mint string) (gcashu.Proofs, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT secret, keyset_id, amount, c, dleq FROM proofs WHERE mint = ? AND state = 'unspent' ORDER BY amount DESC`, mint)
	if err != nil {
		return nil, fmt.Errorf("cashu: list proofs: %w", err)
	}
	defer rows.Close()
	var out gcashu.Proofs
	for rows.Next() {
		var p gcashu.Proof
		var amount int64
		var dleq string
		if err := rows.Scan(&p.Secret, &p.Id, &amount, &p.C, &dleq); err != nil {
			return nil, fmt.Errorf("cashu: scan proof: %w", err)
		}
		p.Amount = uint64(amount)
		if dleq != "" {
			p.DLEQ = new(gcashu.DLEQProof)
			_ = json.Unmarshal([]byte(dleq), p.DLEQ)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// reserve marks proofs as reserved by op inside tx; it fails if any of them
// is no longer unspent (another operation took it).
func reserve(ctx context.Context, tx *sql.Tx, proofs gcashu.Proofs, opID int64) error {
	for _, p := range proofs {
		res, err := tx.ExecContext(ctx, `UPDATE proofs SET state = 'reserved', op_id = ? WHERE secret = ? AND state = 'unspent'`, opID, p.Secret)
		if err != nil {
			return fmt.Errorf("cashu: reserve proof: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("cashu: reserve proof: %w", errConflict)
		}
	}
	return nil
}

var errConflict = fmt.Errorf("proof taken by a concurrent operation")

// journalWithInputs journals op (setting op.ID) with its data d and reserves
// its input proofs sel for it, in one transaction: the op and its claim on
// the proofs exist together or not at all. The outputs get their NUT-13
// secrets in the same transaction. before, if set, runs first in the same
// transaction, once the op has its id. Called with w.mu held; once it
// succeeded the op is in flight until the caller calls w.landed.
func (w *Wallet) journalWithInputs(ctx context.Context, op *journal.Op, d *opData, sel gcashu.Proofs, before func(ctx context.Context, tx *sql.Tx, opID int64) error) error {
	var outs []output
	err := w.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if outs, op.Data, err = w.withDerived(ctx, tx, d); err != nil {
			return err
		}
		id, err := journal.Insert(ctx, tx, *op)
		if err != nil {
			return err
		}
		op.ID = id
		if before != nil {
			if err := before(ctx, tx, id); err != nil {
				return err
			}
		}
		return reserve(ctx, tx, sel, id)
	})
	if err == nil {
		d.Outputs = outs
		w.inFlight++
	}
	return err
}

// withDerived returns d's outputs with their NUT-13 secrets taken in tx, and
// d's journal data with those outputs. d itself is left as it was, for the
// caller to update once tx committed (a rolled back counter is not used).
func (w *Wallet) withDerived(ctx context.Context, tx *sql.Tx, d *opData) ([]output, json.RawMessage, error) {
	outs := slices.Clone(d.Outputs)
	if err := w.deriveOutputs(ctx, tx, outs); err != nil {
		return nil, nil, err
	}
	dd := *d
	dd.Outputs = outs
	return outs, dd.raw(), nil
}

func setReserved(ctx context.Context, tx *sql.Tx, opID int64, state string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE proofs SET state = ? WHERE op_id = ? AND state = 'reserved'`, state, opID); err != nil {
		return fmt.Errorf("cashu: update reserved proofs: %w", err)
	}
	return nil
}

// selectProofs picks unspent proofs of mint worth at least amount plus the
// input fee of spending them. With exactOK, exact reports proofs that sum
// to amount and whose own input fee is payeeFee, to hand out as they are
// (no swap needed).
func (w *Wallet) selectProofs(ctx context.Context, mint string, amount, payeeFee uint64, exactOK bool) (sel gcashu.Proofs, exact bool, err error) {
	all, err := w.unspentProofs(ctx, mint)
	if err != nil {
		return nil, false, err
	}
	var have uint64
	for _, p := range all {
		have += p.Amount
	}
	// Exact: greedy on powers of two, largest first.
	var rem = amount
	for _, p := range all {
		if p.Amount <= rem {
			sel = append(sel, p)
			rem -= p.Amount
		}
	}
	if exactOK && rem == 0 && w.inputFee(sel) == payeeFee {
		return sel, true, nil
	}
	// Otherwise largest first until amount + fee is covered.
	sel = sel[:0]
	var sum uint64
	for _, p := range all {
		if sum >= amount+w.inputFee(sel) {
			break
		}
		sel = append(sel, p)
		sum += p.Amount
	}
	if sum < amount+w.inputFee(sel) {
		return nil, false, fmt.Errorf("%w: have %d sat at this mint, need %d", ErrInsufficient, have, amount+w.inputFee(sel))
	}
	return slices.Clone(sel), false, nil
}

// proofSums returns the sats of unspent proofs of mint, and of proofs
// reserved by swaps in flight (whose change comes back; a melt's inputs go
// to Lightning and are not counted).
func (w *Wallet) proofSums(ctx context.Context, mint string) (unspent, reserved uint64, err error) {
	rows, err := w.db.QueryContext(ctx, `SELECT p.state, SUM(p.amount) FROM proofs p LEFT JOIN ops o ON o.id = p.op_id
		WHERE p.mint = ? AND (p.state = 'unspent' OR (p.state = 'reserved' AND o.kind != ?)) GROUP BY p.state`, mint, KindMelt)
	if err != nil {
		return 0, 0, fmt.Errorf("cashu: proof sums: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var sum int64
		if err := rows.Scan(&state, &sum); err != nil {
			return 0, 0, err
		}
		if state == "unspent" {
			unspent = uint64(sum)
		} else {
			reserved = uint64(sum)
		}
	}
	return unspent, reserved, rows.Err()
}
