package cashu

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut10"
	"github.com/elnosh/gonuts/cashu/nuts/nut11"
	"github.com/elnosh/gonuts/cashu/nuts/nut12"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// MaxTokenLen bounds the tokens Receive accepts.
const MaxTokenLen = 64 << 10

// ReceiveOptions shape an incoming payment.
type ReceiveOptions struct {
	// Amount, when not 0, is the least the token must net: its value less
	// the mint's input fee for swapping it (a payer includes that fee, see
	// SendOptions.IncludeFees).
	Amount uint64
	// Counterparty (the payer's pubkey) is journaled.
	Counterparty string
	// AllowOffline accepts the token on its DLEQ proofs when the mint cannot
	// be reached, within Config.OfflineLimit, and swaps it later (Resume).
	AllowOffline bool
	// OnJournal, if set, is called inside the transaction that journals the
	// receive op, before the mint is asked: a caller records there what the
	// payment is for (a fee, a tab deposit), so that record and the op exist
	// together or not at all. An error aborts the receive; nothing is sent.
	OnJournal func(ctx context.Context, tx *sql.Tx, opID int64) error
	// RequireLock, if set, refuses proofs that are not P2PK-locked to this
	// wallet's key (a payment request that asked for locked ecash).
	RequireLock bool
}

// Received is an accepted incoming payment.
type Received struct {
	// OpID is the receive op. With an error it is set when the op was
	// journaled before the failure (what its OnJournal wrote is
	// committed), 0 when nothing was.
	OpID int64
	// Amount credited to the wallet (the token's value less mint fees).
	Amount uint64
	// Value is the token's face value.
	Value uint64
	Mint  string
	// Offline reports acceptance on DLEQ proofs, the swap still queued.
	Offline bool
}

// decodeToken parses a cashuA/cashuB token, turning any decoder failure
// (including a panic on hostile input) into ErrMalformedToken.
func decodeToken(s string) (tok gcashu.Token, err error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken, MaxTokenLen)
	}
	if !strings.HasPrefix(s, "cashuA") && !strings.HasPrefix(s, "cashuB") {
		return nil, fmt.Errorf("%w: missing the cashu token prefix", ErrMalformedToken)
	}
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("%w: undecodable", ErrMalformedToken)
		}
	}()
	t, err := gcashu.DecodeToken(s)
	if err != nil {
		return nil, fmt.Errorf("%w: undecodable", ErrMalformedToken)
	}
	// gonuts' accessors index without checks (TokenV3.Mint panics on an
	// empty token): call them here, under the recover.
	if len(t.Proofs()) == 0 || t.Mint() == "" {
		return nil, fmt.Errorf("%w: no proofs or no mint", ErrMalformedToken)
	}
	return t, nil
}

// TokenInfo is what a token claims, before any check at the mint.
type TokenInfo struct {
	Mint   string
	Unit   string
	Amount uint64
	Proofs int
}

// Inspect decodes a token without contacting the mint or touching the wallet.
func Inspect(token string) (TokenInfo, error) {
	tok, err := decodeToken(token)
	if err != nil {
		return TokenInfo{}, err
	}
	ps := tok.Proofs()
	var sum uint64
	for _, p := range ps {
		s, carry := bits.Add64(sum, p.Amount, 0)
		if carry != 0 {
			return TokenInfo{}, fmt.Errorf("%w: amount overflow", ErrMalformedToken)
		}
		sum = s
	}
	unit := "sat"
	if t4, ok := tok.(*gcashu.TokenV4); ok {
		unit = t4.Unit
	}
	return TokenInfo{Mint: tok.Mint(), Unit: unit, Amount: sum, Proofs: len(ps)}, nil
}

// Receive redeems a token into the wallet by swapping it at the mint, so a
// spent, replayed or forged token is refused with a clear error and the
// proofs we keep are ours alone. The token is journaled before the swap.
func (w *Wallet) Receive(ctx context.Context, token string, opts ReceiveOptions) (Received, error) {
	info, err := Inspect(token)
	if err != nil {
		return Received{}, fmt.Errorf("cashu: receive: %w", err)
	}
	if info.Unit != "sat" {
		return Received{}, fmt.Errorf("cashu: receive: %w: %q", ErrWrongUnit, truncate(info.Unit, 16))
	}
	mint, err := NormalizeMintURL(info.Mint)
	if err != nil || !w.Allowed(mint) {
		return Received{}, fmt.Errorf("cashu: receive: %w: %s", ErrUnknownMint, truncate(info.Mint, 100))
	}
	tok, _ := decodeToken(token)
	return w.receiveProofs(ctx, mint, tok.Proofs(), KindReceive, opts, 0)
}

// checkProofs validates proofs before any journal write or mint request, and
// signs those locked to us.
func (w *Wallet) checkProofs(proofs gcashu.Proofs) (gcashu.Proofs, error) {
	if len(proofs) == 0 {
		return nil, fmt.Errorf("%w: no proofs", ErrMalformedToken)
	}
	if len(proofs) > 1000 {
		return nil, fmt.Errorf("%w: too many proofs", ErrMalformedToken)
	}
	seen := map[string]bool{}
	out := make(gcashu.Proofs, len(proofs))
	for i, p := range proofs {
		if p.Amount == 0 || p.Amount&(p.Amount-1) != 0 {
			return nil, fmt.Errorf("%w: proof amount %d is not a power of two", ErrMalformedToken, p.Amount)
		}
		if p.Secret == "" || len(p.Secret) > 4096 || seen[p.Secret] {
			return nil, fmt.Errorf("%w: empty, oversized or duplicate secret", ErrMalformedToken)
		}
		seen[p.Secret] = true
		if _, err := hex.DecodeString(p.C); err != nil || len(p.C) != 66 {
			return nil, fmt.Errorf("%w: bad signature C", ErrMalformedToken)
		}
		if len(p.Id) != 16 && len(p.Id) != 12 {
			return nil, fmt.Errorf("%w: bad keyset id", ErrMalformedToken)
		}
		if strings.HasPrefix(p.Secret, "[") {
			wk, err := nut10.DeserializeSecret(p.Secret)
			if err != nil {
				return nil, fmt.Errorf("%w: bad NUT-10 secret", ErrMalformedToken)
			}
			switch wk.Kind {
			case nut10.P2PK:
				signed, err := w.unlock(p, wk)
				if err != nil {
					return nil, err
				}
				p = signed
			case nut10.HTLC:
				return nil, fmt.Errorf("%w: HTLC-locked tokens are not accepted", ErrLockedToOther)
			}
		}
		out[i] = p
	}
	return out, nil
}

// lockedToUs checks that every proof is P2PK-locked to this wallet's key.
func (w *Wallet) lockedToUs(proofs gcashu.Proofs) error {
	for i, p := range proofs {
		wk, err := nut10.DeserializeSecret(p.Secret)
		if err != nil || wk.Kind != nut10.P2PK || xOnly(strings.ToLower(wk.Data.Data)) != w.pub {
			return fmt.Errorf("%w (proof %d)", ErrNotLocked, i)
		}
	}
	return nil
}

// unlock signs a P2PK proof if this wallet can spend it now, and refuses it
// otherwise: a token we could never spend is not a payment (TollGate #324).
func (w *Wallet) unlock(p gcashu.Proof, wk nut10.WellKnownSecret) (gcashu.Proof, error) {
	tags, err := nut11.ParseP2PKTags(wk.Data.Tags)
	if err != nil {
		return p, fmt.Errorf("%w: bad P2PK tags", ErrMalformedToken)
	}
	if nut11.IsSigAll(wk) || tags.NSigs > 1 {
		return p, fmt.Errorf("%w: multisig or SIG_ALL locks are not accepted", ErrLockedToOther)
	}
	mine := xOnly(strings.ToLower(wk.Data.Data)) == w.pub
	for _, k := range tags.Pubkeys {
		mine = mine || hex.EncodeToString(k.SerializeCompressed()[1:]) == w.pub
	}
	if mine && tags.Locktime > 0 && time.Now().Add(w.cfg.LockMargin).Unix() >= tags.Locktime {
		// Locked to us, but the payer can take it back within seconds.
		return p, fmt.Errorf("%w: escrow lock expires too soon", ErrLockedToOther)
	}
	if !mine && tags.Locktime > 0 && time.Now().Unix() > tags.Locktime {
		for _, k := range tags.Refund {
			mine = mine || hex.EncodeToString(k.SerializeCompressed()[1:]) == w.pub
		}
		if len(tags.Refund) == 0 {
			return p, nil // anyone can spend after locktime
		}
	}
	if !mine {
		return p, ErrLockedToOther
	}
	signed, err := nut11.AddSignatureToInputs(gcashu.Proofs{p}, w.key)
	if err != nil {
		return p, fmt.Errorf("cashu: sign P2PK input: %w", err)
	}
	return signed[0], nil
}

func (w *Wallet) receiveProofs(ctx context.Context, mint string, proofs gcashu.Proofs, kind string, opts ReceiveOptions, sentOp int64) (Received, error) {
	if opts.RequireLock {
		if err := w.lockedToUs(proofs); err != nil {
			return Received{}, fmt.Errorf("cashu: receive: %w", err)
		}
	}
	proofs, err := w.checkProofs(proofs)
	if err != nil {
		return Received{}, fmt.Errorf("cashu: receive: %w", err)
	}
	value := proofs.Amount()
	if opts.Amount != 0 && value < opts.Amount {
		return Received{}, fmt.Errorf("cashu: receive: %w: token is %d sat, expected %d", ErrWrongAmount, value, opts.Amount)
	}
	ys := make([]string, len(proofs))
	for i, p := range proofs {
		if ys[i], err = proofY(p.Secret); err != nil {
			return Received{}, fmt.Errorf("cashu: receive: %w: %v", ErrMalformedToken, err)
		}
	}
	if kind == KindReceive {
		if replay, err := w.seenAny(ctx, ys); err != nil {
			return Received{}, err
		} else if replay {
			return Received{}, fmt.Errorf("cashu: receive: %w", ErrReplayed)
		}
	}
	online := true
	ks, err := w.activeKeyset(ctx, mint)
	if errors.Is(err, ErrMintUnreachable) {
		online = false
	} else if err != nil {
		return Received{}, fmt.Errorf("cashu: receive: %w", err)
	}
	// Every input's keyset must be the mint's.
	for _, p := range proofs {
		if _, err := w.keysetByID(ctx, mint, p.Id, online); err != nil {
			if !online && opts.AllowOffline {
				return Received{}, fmt.Errorf("cashu: receive offline: %w", err)
			}
			if online || !errors.Is(err, ErrMintUnreachable) {
				return Received{}, fmt.Errorf("cashu: receive: %w", err)
			}
		}
	}
	if !online && !opts.AllowOffline {
		return Received{}, fmt.Errorf("cashu: receive: %w", ErrMintUnreachable)
	}
	if !online && ks == nil {
		return Received{}, fmt.Errorf("cashu: receive: %w: mint keys never fetched", ErrMintUnreachable)
	}
	fee := w.inputFee(proofs)
	if fee >= value {
		return Received{}, fmt.Errorf("cashu: receive: %w: token %d sat does not cover the mint fee %d", ErrWrongAmount, value, fee)
	}
	credit := value - fee
	if opts.Amount != 0 && credit < opts.Amount {
		return Received{}, fmt.Errorf("cashu: receive: %w: token %d sat nets %d after the mint fee %d, expected %d", ErrWrongAmount, value, credit, fee, opts.Amount)
	}
	outs, err := newOutputs(ks, gcashu.AmountSplit(credit), false, nil)
	if err != nil {
		return Received{}, err
	}
	d := &opData{Inputs: proofs, Outputs: outs, SentOp: sentOp}
	op := journal.Op{Kind: kind, State: journal.StatePrepared, Mint: mint, Amount: credit, Counterparty: opts.Counterparty}
	if !online {
		if err := w.verifyOffline(ctx, mint, proofs, value); err != nil {
			return Received{}, fmt.Errorf("cashu: receive offline: %w", err)
		}
		op.State = journal.StateQueued
		d.Offline = true
	}
	w.mu.Lock()
	var derived []output
	err = w.tx(ctx, func(tx *sql.Tx) error {
		if !online {
			if err := w.checkExposure(ctx, tx, mint, value, 0); err != nil {
				return err
			}
		}
		var err error
		if derived, op.Data, err = w.withDerived(ctx, tx, d); err != nil {
			return err
		}
		id, err := journal.Insert(ctx, tx, op)
		if err != nil {
			return err
		}
		op.ID = id
		if opts.OnJournal != nil {
			if err := opts.OnJournal(ctx, tx, id); err != nil {
				return err
			}
		}
		if kind != KindReceive {
			return nil
		}
		for _, y := range ys {
			res, err := tx.ExecContext(ctx, `INSERT INTO seen_proofs (y, op_id) VALUES (?, ?) ON CONFLICT(y) DO NOTHING`, y, id)
			if err != nil {
				return fmt.Errorf("cashu: record proof: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrReplayed
			}
		}
		return nil
	})
	w.mu.Unlock()
	if err != nil {
		return Received{}, fmt.Errorf("cashu: receive: %w", err)
	}
	d.Outputs = derived
	rec := Received{OpID: op.ID, Amount: credit, Value: value, Mint: mint}
	if !online {
		rec.Offline = true
		w.log.Info("payment accepted offline", "op", op.ID, "amount", value)
		return rec, nil
	}
	if _, err := w.execSwap(ctx, op, d); err != nil {
		var qerr error
		if errors.Is(err, ErrPending) && opts.AllowOffline && kind == KindReceive {
			if qerr = w.queueOffline(ctx, op, d, mint, proofs, value); qerr == nil {
				rec.Offline = true
				return rec, nil
			}
		}
		if errors.Is(err, errNotSent) && kind == KindReceive {
			// The mint never saw it: undo, so the payer keeps a usable token.
			w.forget(ctx, op, d, ys)
			if qerr != nil {
				return Received{OpID: op.ID}, fmt.Errorf("cashu: receive: %w, and not accepted offline: %w", ErrMintUnreachable, qerr)
			}
			return Received{OpID: op.ID}, fmt.Errorf("cashu: receive: %w: request not sent", ErrMintUnreachable)
		}
		if qerr != nil {
			err = fmt.Errorf("%w; not accepted offline: %w", err, qerr)
		}
		return Received{OpID: op.ID}, fmt.Errorf("cashu: receive: %w", err)
	}
	return rec, nil
}

// forget fails a receive op whose swap never reached the mint and forgets
// its proofs, so the same token can be offered again.
func (w *Wallet) forget(ctx context.Context, op journal.Op, d *opData, ys []string) {
	err := w.tx(ctx, func(tx *sql.Tx) error {
		for _, y := range ys {
			if _, err := tx.ExecContext(ctx, `DELETE FROM seen_proofs WHERE y = ? AND op_id = ?`, y, op.ID); err != nil {
				return err
			}
		}
		return journal.SetState(ctx, tx, op.ID, journal.StateFailed, nil, "mint unreachable, not sent")
	})
	if err != nil {
		w.log.Warn("forget unsent receive", "op", op.ID, "err", err)
	}
}

func (w *Wallet) seenAny(ctx context.Context, ys []string) (bool, error) {
	for _, y := range ys {
		var n int
		if err := w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM seen_proofs WHERE y = ?`, y).Scan(&n); err != nil {
			return false, fmt.Errorf("cashu: check replay: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// VerifyDLEQ checks every proof's DLEQ (NUT-12) against the mint keys the
// wallet has cached: proof that the mint signed it, without asking the mint.
// It cannot tell whether the proof was already spent.
func (w *Wallet) verifyDLEQ(ctx context.Context, mint string, proofs gcashu.Proofs) error {
	for i, p := range proofs {
		if p.DLEQ == nil || p.DLEQ.R == "" {
			return fmt.Errorf("%w (proof %d)", ErrNoDLEQ, i)
		}
		ks, err := w.keysetByID(ctx, mint, p.Id, false)
		if err != nil {
			return err
		}
		K, ok := ks.Keys[p.Amount]
		if !ok || !nut12.VerifyProofDLEQ(p, K) {
			return fmt.Errorf("%w (proof %d)", ErrBadDLEQ, i)
		}
	}
	return nil
}

func (w *Wallet) verifyOffline(ctx context.Context, mint string, proofs gcashu.Proofs, value uint64) error {
	if w.cfg.OfflineLimit == 0 {
		return fmt.Errorf("%w: offline acceptance disabled", ErrOfflineLimit)
	}
	return w.verifyDLEQ(ctx, mint, proofs)
}

// checkExposure refuses when the unconfirmed receipts of mint (queued
// offline, or journaled with no answer from the mint yet) plus value would
// exceed the configured limit.
func (w *Wallet) checkExposure(ctx context.Context, tx *sql.Tx, mint string, value uint64, excludeOp int64) error {
	var queued sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT SUM(amount) FROM ops WHERE kind = ? AND state IN (?, ?) AND mint = ? AND id != ?`,
		KindReceive, journal.StateQueued, journal.StatePrepared, mint, excludeOp).Scan(&queued); err != nil {
		return fmt.Errorf("cashu: offline exposure: %w", err)
	}
	if uint64(queued.Int64)+value > w.cfg.OfflineLimit {
		return fmt.Errorf("%w: %d sat queued, %d more would pass the limit of %d", ErrOfflineLimit, queued.Int64, value, w.cfg.OfflineLimit)
	}
	return nil
}

// queueOffline turns a prepared receive whose swap got no answer into an
// offline acceptance, if its DLEQ proofs verify and the limit allows.
func (w *Wallet) queueOffline(ctx context.Context, op journal.Op, d *opData, mint string, proofs gcashu.Proofs, value uint64) error {
	if err := w.verifyOffline(ctx, mint, proofs, value); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tx(ctx, func(tx *sql.Tx) error {
		if err := w.checkExposure(ctx, tx, mint, value, op.ID); err != nil {
			return err
		}
		d.Offline = true
		return journal.SetState(ctx, tx, op.ID, journal.StateQueued, d.raw(), "")
	})
}

// OfflineExposure returns the sats received and not yet confirmed by the
// mint (accepted offline, or awaiting its answer), per mint.
func (w *Wallet) OfflineExposure(ctx context.Context) (map[string]uint64, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT mint, SUM(amount) FROM ops WHERE kind = ? AND state IN (?, ?) GROUP BY mint`, KindReceive, journal.StateQueued, journal.StatePrepared)
	if err != nil {
		return nil, fmt.Errorf("cashu: offline exposure: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var m string
		var a int64
		if err := rows.Scan(&m, &a); err != nil {
			return nil, err
		}
		out[m] = uint64(a)
	}
	return out, rows.Err()
}

var _ = slices.Contains[[]string]

// VerifyOffline checks a token without the mint: allow-listed mint, well
// formed, DLEQ proofs valid against cached keys, not seen before. It cannot
// detect a double spend; Receive with AllowOffline is the journaled form.
func (w *Wallet) VerifyOffline(ctx context.Context, token string) (TokenInfo, error) {
	info, err := Inspect(token)
	if err != nil {
		return info, err
	}
	mint, err := NormalizeMintURL(info.Mint)
	if err != nil || !w.Allowed(mint) {
		return info, ErrUnknownMint
	}
	tok, _ := decodeToken(token)
	proofs, err := w.checkProofs(tok.Proofs())
	if err != nil {
		return info, err
	}
	return info, w.verifyDLEQ(ctx, mint, proofs)
}

// Receipt is an earlier receive of a token by this wallet.
type Receipt struct {
	OpID  int64
	State string // journal state of the receive op: done, queued, prepared, failed
	// Amount credited.
	Amount uint64
	At     time.Time
}

// ReceivedBefore reports whether this wallet already took token, and how
// that receive went: a server that redeemed a token and then failed to
// deliver can recognise the payment when the client retries with it.
func (w *Wallet) ReceivedBefore(ctx context.Context, token string) (Receipt, bool, error) {
	tok, err := decodeToken(token)
	if err != nil {
		return Receipt{}, false, err
	}
	var opID int64
	for _, p := range tok.Proofs() {
		y, err := proofY(p.Secret)
		if err != nil {
			return Receipt{}, false, fmt.Errorf("%w: %v", ErrMalformedToken, err)
		}
		var id int64
		err = w.db.QueryRowContext(ctx, `SELECT op_id FROM seen_proofs WHERE y = ?`, y).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return Receipt{}, false, nil // not every proof: not this token
		}
		if err != nil {
			return Receipt{}, false, fmt.Errorf("cashu: received before: %w", err)
		}
		if opID != 0 && id != opID {
			return Receipt{}, false, nil // proofs taken by different receives
		}
		opID = id
	}
	op, err := w.j.Get(ctx, opID)
	if err != nil {
		return Receipt{}, false, err
	}
	return Receipt{OpID: op.ID, State: op.State, Amount: op.Amount, At: op.CreatedAt}, true, nil
}
