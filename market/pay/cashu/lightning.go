package cashu

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut04"
	"github.com/elnosh/gonuts/cashu/nuts/nut05"
	"github.com/elnosh/gonuts/cashu/nuts/nut09"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// MintQuote is a Lightning invoice that, once paid, becomes ecash in the
// wallet (NUT-04). The op is journaled so a paid quote is claimed by Resume
// even after a crash.
type MintQuote struct {
	OpID    int64
	Quote   string
	Invoice string
	Amount  uint64
	Mint    string
}

// RequestMint asks the mint (default: first of the allow-list) for an
// invoice of amount sats.
func (w *Wallet) RequestMint(ctx context.Context, mint string, amount uint64) (MintQuote, error) {
	if mint == "" {
		mint = w.cfg.Mints[0]
	}
	mint, err := NormalizeMintURL(mint)
	if err != nil || !w.Allowed(mint) {
		return MintQuote{}, fmt.Errorf("cashu: mint quote: %w", ErrUnknownMint)
	}
	if amount == 0 {
		return MintQuote{}, fmt.Errorf("cashu: mint quote: %w: amount must be positive", ErrWrongAmount)
	}
	q, err := w.client.mintQuote(ctx, mint, amount)
	if err != nil {
		return MintQuote{}, fmt.Errorf("cashu: mint quote: %w", err)
	}
	d := &opData{Quote: q.Quote, Invoice: q.Request}
	var id int64
	err = w.tx(ctx, func(tx *sql.Tx) error {
		id, err = journal.Insert(ctx, tx, journal.Op{Kind: KindMint, State: journal.StatePrepared, Mint: mint, Amount: amount, Data: d.raw()})
		return err
	})
	if err != nil {
		return MintQuote{}, fmt.Errorf("cashu: mint quote: %w", err)
	}
	return MintQuote{OpID: id, Quote: q.Quote, Invoice: q.Request, Amount: amount, Mint: mint}, nil
}

// ClaimMint turns a paid mint quote into proofs. ErrQuoteUnpaid when the
// invoice is not paid yet.
func (w *Wallet) ClaimMint(ctx context.Context, opID int64) (uint64, error) {
	return w.claimMint(ctx, opID, false)
}

// claimMint is ClaimMint; retried is set on the one retry after the mint
// found our outputs already signed.
func (w *Wallet) claimMint(ctx context.Context, opID int64, retried bool) (uint64, error) {
	op, err := w.j.Get(ctx, opID)
	if err != nil {
		return 0, err
	}
	if op.Kind != KindMint {
		return 0, fmt.Errorf("cashu: claim: op %d is a %s", opID, op.Kind)
	}
	if op.State == journal.StateDone {
		return op.Amount, nil
	}
	if op.State != journal.StatePrepared {
		return 0, fmt.Errorf("cashu: claim: op %d is %s", opID, op.State)
	}
	d, err := decodeOp(op)
	if err != nil {
		return 0, err
	}
	st, err := w.client.mintQuoteState(ctx, op.Mint, d.Quote)
	if err != nil {
		return 0, fmt.Errorf("cashu: claim: %w", err)
	}
	if len(d.Outputs) > 0 && st.State != nut04.Unpaid {
		// An earlier attempt may have been signed.
		res, err := w.client.restore(ctx, op.Mint, nut09.PostRestoreRequest{Outputs: blinded(d.Outputs)})
		if err != nil {
			return 0, fmt.Errorf("cashu: claim: %w", err)
		}
		idx, sigs := matchRestored(d.Outputs, res)
		switch {
		case len(idx) == len(d.Outputs) && st.State == nut04.Issued:
			outs := make([]output, len(idx))
			for i, j := range idx {
				outs[i] = d.Outputs[j]
			}
			d.Outputs = outs
			return op.Amount, w.completeSwap(ctx, op, d, sigs)
		case len(idx) > 0 && st.State != nut04.Issued:
			// Signed, yet the quote is not issued: the signatures are
			// another wallet's with this key. Move the counters past
			// them and make new outputs.
			if _, err := w.restoreMint(ctx, op.Mint); err != nil {
				return 0, fmt.Errorf("cashu: claim: %w", err)
			}
			d.Outputs = nil
		}
	}
	switch st.State {
	case nut04.Unpaid:
		return 0, fmt.Errorf("cashu: claim: %w", ErrQuoteUnpaid)
	case nut04.Issued:
		if len(d.Outputs) == 0 {
			return 0, w.failOp(ctx, op, d, errors.New("quote issued to another wallet"))
		}
	}
	if len(d.Outputs) == 0 {
		ks, err := w.activeKeyset(ctx, op.Mint)
		if err != nil {
			return 0, fmt.Errorf("cashu: claim: %w", err)
		}
		if d.Outputs, err = newOutputs(ks, gcashu.AmountSplit(op.Amount), false, nil); err != nil {
			return 0, err
		}
		var outs []output
		if err := w.tx(ctx, func(tx *sql.Tx) error {
			var data json.RawMessage
			if outs, data, err = w.withDerived(ctx, tx, d); err != nil {
				return err
			}
			return journal.SetState(ctx, tx, op.ID, journal.StatePrepared, data, "")
		}); err != nil {
			return 0, err
		}
		d.Outputs = outs
	}
	if err := w.step("mint.journaled"); err != nil {
		return 0, err
	}
	res, err := w.client.mintTokens(ctx, op.Mint, nut04.PostMintBolt11Request{Quote: d.Quote, Outputs: blinded(d.Outputs)})
	if code, ok := mintErrCode(err); ok && code == int(gcashu.BlindedMessageAlreadySignedErrCode) && !retried {
		// Another wallet with this key used these counters: the retry
		// restores past them and makes new outputs.
		return w.claimMint(ctx, opID, true)
	}
	if err != nil {
		return 0, fmt.Errorf("cashu: claim: %w", err)
	}
	return op.Amount, w.completeSwap(ctx, op, d, res.Signatures)
}

// Fund requests a mint quote and claims it at once: with the dev mint (whose
// fake Lightning backend pays every invoice) it is how tests get money.
func (w *Wallet) Fund(ctx context.Context, amount uint64) error {
	q, err := w.RequestMint(ctx, "", amount)
	if err != nil {
		return err
	}
	_, err = w.ClaimMint(ctx, q.OpID)
	return err
}

// PayOptions shape a Lightning payment.
type PayOptions struct {
	// Mint to pay from; default the first of the allow-list.
	Mint string
	// Counterparty is checked against the budget.
	Counterparty string
	// Expect is checked against the invoice before paying.
	Expect bolt11.Expect
	// Network of the invoice ("bitcoin", "signet", ...). Default "bitcoin".
	Network string
}

// Paid is a completed Lightning payment.
type Paid struct {
	OpID     int64
	Amount   uint64
	Fee      uint64
	Preimage string
}

// PayInvoice pays a BOLT11 invoice by melting ecash (NUT-05). The invoice is
// checked first (amount, expiry, network, description hash) and the
// preimage against its payment hash after. The melt's inputs are worth the
// quote, its fee reserve and their own input fee (NUT-02) exactly, since a
// mint keeps any excess; when the wallet holds no such set it first swaps
// its proofs into one (a "split" op), paying that swap's input fee. The
// melt is journaled with blank outputs for the fee reserve (NUT-08), on
// which a mint that paid less Lightning fee than it reserved returns the
// rest as change. Paid.Fee is every fee: the reserve less its change, the
// melt's and the split's input fees. The budget is asked for the quote plus
// the most those fees can be.
func (w *Wallet) PayInvoice(ctx context.Context, invoice string, opts PayOptions) (Paid, error) {
	if opts.Network == "" {
		opts.Network = "bitcoin"
	}
	inv, err := bolt11.Decode(invoice, opts.Network)
	if err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	if err := inv.Check(opts.Expect); err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	mint := w.cfg.Mints[0]
	if opts.Mint != "" {
		if mint, err = NormalizeMintURL(opts.Mint); err != nil || !w.Allowed(mint) {
			return Paid{}, fmt.Errorf("cashu: pay invoice: %w", ErrUnknownMint)
		}
	}
	q, err := w.client.meltQuote(ctx, mint, inv.Raw)
	if err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: melt quote: %w", err)
	}
	if q.Amount*1000 < inv.AmountMsat {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w: mint quoted %d sat for %d msat", ErrWrongAmount, q.Amount, inv.AmountMsat)
	}
	ks, err := w.activeKeyset(ctx, mint) // fresh fees for the selection
	if err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	need := q.Amount + q.FeeReserve
	plan, err := planMelt(ks, need)
	if err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	commit := func(context.Context, bool) error { return nil }
	if w.cfg.Budget != nil {
		most := need + plan.fee
		if ks.FeePpk > 0 {
			// A split swap, if one is needed, takes at most every proof.
			n, err := w.proofCount(ctx, mint)
			if err != nil {
				return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
			}
			most += feeFor(ks, n)
		}
		if commit, err = w.cfg.Budget.Reserve(ctx, opts.Counterparty, most); err != nil {
			return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
		}
	}
	paid, err := w.melt(ctx, mint, need, plan, q, inv)
	ok := err == nil || errors.Is(err, ErrPending) || errors.Is(err, ErrCrashed) || errors.Is(err, ErrBadPreimage)
	_ = commit(ctx, ok)
	return paid, err
}

// meltPlan is the input set a melt of need sats aims for when the wallet
// holds no exact set: amounts (powers of two) worth need plus their own
// input fee, fee.
type meltPlan struct {
	ks      *keyset // the mint's active keyset the plan was made with
	amounts []uint64
	fee     uint64
}

func planMelt(ks *keyset, need uint64) (meltPlan, error) {
	amounts, fee, err := sendSplit(ks, need, true)
	if err != nil {
		return meltPlan{}, err
	}
	return meltPlan{ks: ks, amounts: amounts, fee: fee}, nil
}

// exactMeltInputs finds unspent proofs worth need plus their own input fee
// exactly, that fee being at most most. Called with w.mu held.
func (w *Wallet) exactMeltInputs(ctx context.Context, mint string, need, most uint64) (gcashu.Proofs, uint64, bool, error) {
	for f := uint64(0); f <= most; f++ {
		s, exact, err := w.selectProofs(ctx, mint, need+f, f, true)
		if errors.Is(err, ErrInsufficient) {
			return nil, 0, false, nil
		}
		if err != nil {
			return nil, 0, false, err
		}
		if exact {
			return s, f, true, nil
		}
	}
	return nil, 0, false, nil
}

func (w *Wallet) melt(ctx context.Context, mint string, need uint64, plan meltPlan, q *nut05.PostMeltQuoteBolt11Response, inv *bolt11.Invoice) (Paid, error) {
	var sel gcashu.Proofs
	var inputFee, splitFee uint64
	var made []string // secrets of the proofs a split made for this melt
	for attempt := 0; ; attempt++ {
		w.mu.Lock()
		var found bool
		var err error
		if made != nil {
			sel, found, err = w.proofsBySecret(ctx, mint, made)
			inputFee = plan.fee
		} else {
			sel, inputFee, found, err = w.exactMeltInputs(ctx, mint, need, plan.fee)
		}
		if err != nil {
			w.mu.Unlock()
			return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
		}
		if found && w.inputFee(sel) == inputFee {
			break // keep the lock through the journal write
		}
		w.mu.Unlock()
		if attempt > 1 {
			return Paid{}, fmt.Errorf("cashu: pay invoice: cannot make exact inputs for %d sat", need)
		}
		// Swap our proofs so an exact set exists.
		var fee uint64
		if made, fee, err = w.split(ctx, mint, plan.amounts); err != nil {
			return Paid{}, fmt.Errorf("cashu: pay invoice: split: %w", err)
		}
		splitFee += fee // a second split, if the first one's proofs were taken, costs too
	}
	// NUT-08: blank outputs for the unused part of the fee reserve, journaled
	// with the op so the change can be unblinded after a crash too.
	blanks, err := blankOutputs(plan.ks, q.FeeReserve)
	if err != nil {
		w.mu.Unlock()
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	d := &opData{Inputs: sel, OwnInputs: true, Outputs: blanks, Quote: q.Quote, Invoice: inv.Raw, Fee: q.FeeReserve + inputFee + splitFee}
	op := journal.Op{Kind: KindMelt, State: journal.StatePrepared, Mint: mint, Amount: q.Amount}
	err = w.journalWithInputs(ctx, &op, d, sel, nil)
	w.mu.Unlock()
	if err != nil {
		return Paid{}, fmt.Errorf("cashu: pay invoice: %w", err)
	}
	defer w.landed()
	if err := w.step("melt.journaled"); err != nil {
		return Paid{OpID: op.ID}, err
	}
	res, err := w.client.melt(ctx, mint, nut05.PostMeltBolt11Request{Quote: q.Quote, Inputs: sel, Outputs: blinded(d.Outputs)})
	if err != nil {
		if _, definite := mintErrCode(err); definite {
			// The mint refused: check the quote before giving the proofs back.
			return w.settleMelt(ctx, op, d)
		}
		return Paid{OpID: op.ID}, fmt.Errorf("cashu: pay invoice: %w: %w", ErrPending, err)
	}
	// The mint has answered; a crash here leaves the op journaled as
	// prepared, and Resume asks the mint for the quote's state.
	if err := w.step("melt.answered"); err != nil {
		return Paid{OpID: op.ID}, err
	}
	return w.finishMelt(ctx, op, d, res)
}

// settleMelt looks up a journaled melt's quote and finishes or refunds it.
func (w *Wallet) settleMelt(ctx context.Context, op journal.Op, d *opData) (Paid, error) {
	st, err := w.client.meltQuoteState(ctx, op.Mint, d.Quote)
	if err != nil {
		if _, definite := mintErrCode(err); !definite {
			return Paid{OpID: op.ID}, fmt.Errorf("cashu: pay invoice: %w: %w", ErrPending, err)
		}
		// Unknown quote: the melt never happened. Check the inputs to be sure.
		if done, rerr := w.recoverSwap(ctx, op, d, false); done || rerr != nil {
			return Paid{OpID: op.ID}, rerr
		}
		return Paid{OpID: op.ID}, w.failOp(ctx, op, d, fmt.Errorf("%w: %w", ErrPaymentFailed, err))
	}
	return w.finishMelt(ctx, op, d, st)
}

func (w *Wallet) finishMelt(ctx context.Context, op journal.Op, d *opData, res *nut05.PostMeltQuoteBolt11Response) (Paid, error) {
	switch res.State {
	case nut05.Paid:
		d.Preimage = res.Preimage
		change := w.meltChange(ctx, op, d.Outputs, res.Change)
		d.Change = min(change.Amount(), d.Fee)
		if err := w.tx(ctx, func(tx *sql.Tx) error {
			if err := insertProofs(ctx, tx, op.Mint, change, "unspent", op.ID); err != nil {
				return err
			}
			if err := setReserved(ctx, tx, op.ID, "spent"); err != nil {
				return err
			}
			return journal.SetState(ctx, tx, op.ID, journal.StateDone, d.raw(), "")
		}); err != nil {
			return Paid{OpID: op.ID}, err
		}
		paid := Paid{OpID: op.ID, Amount: op.Amount, Fee: d.Fee - d.Change, Preimage: res.Preimage}
		inv, err := bolt11.DecodeAny(d.Invoice)
		if err == nil {
			err = inv.VerifyPreimage(res.Preimage)
		}
		if err != nil {
			return paid, fmt.Errorf("cashu: pay invoice: paid, but %w", ErrBadPreimage)
		}
		return paid, nil
	case nut05.Pending:
		return Paid{OpID: op.ID}, fmt.Errorf("cashu: pay invoice: %w", ErrPending)
	default:
		return Paid{OpID: op.ID}, w.failOp(ctx, op, d, ErrPaymentFailed)
	}
}

// blankOutputs makes the NUT-08 blank outputs for a melt with fee reserve
// reserve: ceil(log2(reserve)) of them, at least one, enough for any change
// up to the reserve. Their amount (1) is a placeholder the mint replaces.
// None for a reserve of 0.
func blankOutputs(ks *keyset, reserve uint64) ([]output, error) {
	if reserve == 0 {
		return nil, nil
	}
	ones := make([]uint64, max(1, bits.Len64(reserve-1)))
	for i := range ones {
		ones[i] = 1
	}
	return newOutputs(ks, ones, false, nil)
}

// meltChange unblinds the change a mint returned on a melt's blank outputs
// (NUT-08): the i-th signature is for the i-th blank output, at the amount
// the mint chose. Change that does not check out is logged and dropped; the
// payment itself is done either way.
func (w *Wallet) meltChange(ctx context.Context, op journal.Op, blanks []output, sigs gcashu.BlindedSignatures) gcashu.Proofs {
	if len(sigs) == 0 {
		return nil
	}
	if len(sigs) > len(blanks) {
		w.log.Warn("melt change refused", "op", op.ID, "err", fmt.Sprintf("%d signatures for %d blank outputs", len(sigs), len(blanks)))
		return nil
	}
	outs := make([]output, len(sigs))
	for i, s := range sigs {
		outs[i] = blanks[i]
		outs[i].Amount = s.Amount
	}
	proofs, err := w.unblind(ctx, op.Mint, outs, sigs)
	if err != nil {
		w.log.Warn("melt change refused", "op", op.ID, "err", err)
		return nil
	}
	return proofs
}
