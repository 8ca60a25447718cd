package cashu

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	gcashu "github.com/elnosh/gonuts/cashu"

	"github.com/sovmesh/sovmesh/market/pay/creq"
)

// Errors of payment requests (NUT-18).
var (
	ErrUnknownRequest = errors.New("payment request not issued by this wallet")
	ErrRequestPaid    = errors.New("single-use payment request already paid")
)

// PayRequestOptions shape the payment of a NUT-18 request.
type PayRequestOptions struct {
	// Amount to pay when the request names none; when it names one, Amount
	// must be 0 or equal to it.
	Amount uint64
	// Max refuses a request for more than this many sats (0: no cap).
	Max uint64
	// Counterparty (the payee's pubkey) is checked against the budget.
	Counterparty string
	// RefundAfter is the locktime of a locked payment whose request sets
	// none: after it, an unredeemed payment can be reclaimed. Default 24h.
	RefundAfter time.Duration
	// Memo goes into the payload.
	Memo string
}

// PayRequest pays a NUT-18 payment request: it checks the unit (sat), the
// amount (against opts), the mints (one of the request's that is in our
// allow-list and holds enough), and the locking condition (P2PK to the
// payee's key, with a refund to us after the locktime; HTLC, multisig and
// SIG_ALL are refused), then makes an exact-amount token. It returns the
// payload to deliver (in band, or by one of req.Transports; delivery is the
// caller's), and the send op, which stays reclaimable until redeemed.
func (w *Wallet) PayRequest(ctx context.Context, req creq.Request, opts PayRequestOptions) (creq.Payload, Sent, error) {
	if err := req.Validate(); err != nil {
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w", err)
	}
	if req.Unit != "" && req.Unit != "sat" {
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w: %q", ErrWrongUnit, truncate(req.Unit, 16))
	}
	amount := req.Amount
	switch {
	case amount == 0 && opts.Amount == 0:
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w: the request names no amount and none was given", ErrWrongAmount)
	case amount == 0:
		amount = opts.Amount
	case opts.Amount != 0 && opts.Amount != amount:
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w: request is for %d sat, agreed %d", ErrWrongAmount, amount, opts.Amount)
	}
	if opts.Max != 0 && amount > opts.Max {
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w: %d sat is over the cap of %d", ErrWrongAmount, amount, opts.Max)
	}
	lock, err := requestLock(req.NUT10, opts.RefundAfter)
	if err != nil {
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w", err)
	}
	mint, err := w.requestMint(ctx, req.Mints, amount)
	if err != nil {
		return creq.Payload{}, Sent{}, fmt.Errorf("cashu: pay request: %w", err)
	}
	sent, err := w.Send(ctx, amount, SendOptions{Mint: mint, Counterparty: opts.Counterparty, Lock: lock, Memo: opts.Memo, IncludeFees: true})
	if err != nil {
		return creq.Payload{}, sent, err
	}
	tok, err := decodeToken(sent.Token)
	if err != nil {
		return creq.Payload{}, sent, err
	}
	proofs, err := json.Marshal(tok.Proofs())
	if err != nil {
		return creq.Payload{}, sent, fmt.Errorf("cashu: pay request: encode proofs: %w", err)
	}
	return creq.Payload{ID: req.ID, Memo: opts.Memo, Mint: sent.Mint, Unit: "sat", Proofs: proofs}, sent, nil
}

// requestLock turns a request's locking condition into an escrow lock.
func requestLock(o *creq.NUT10Option, refundAfter time.Duration) (*Lock, error) {
	if o == nil {
		return nil, nil
	}
	if o.Kind != creq.KindP2PK {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedLock, truncate(o.Kind, 16))
	}
	if _, err := compressedKey(o.Data); err != nil {
		return nil, fmt.Errorf("%w: P2PK key: %v", ErrUnsupportedLock, err)
	}
	if v := o.Tag("sigflag"); len(v) > 0 && v[0] == "SIG_ALL" {
		return nil, fmt.Errorf("%w: SIG_ALL", ErrUnsupportedLock)
	}
	if v := o.Tag("n_sigs"); len(v) > 0 && v[0] != "1" {
		return nil, fmt.Errorf("%w: multisig", ErrUnsupportedLock)
	}
	if v := o.Tag("pubkeys"); len(v) > 0 {
		return nil, fmt.Errorf("%w: additional pubkeys", ErrUnsupportedLock)
	}
	if refundAfter <= 0 {
		refundAfter = 24 * time.Hour
	}
	lock := &Lock{Pubkey: o.Data, Locktime: time.Now().Add(refundAfter).Unix()}
	if v := o.Tag("locktime"); len(v) > 0 {
		lt, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || lt <= time.Now().Unix() {
			return nil, fmt.Errorf("%w: locktime missing, malformed or past", ErrUnsupportedLock)
		}
		lock.Locktime = lt
	}
	return lock, nil
}

// requestMint picks the mint to pay from: the first of the request's mints
// that is in our allow-list and holds amount (our default mint when the
// request names none).
func (w *Wallet) requestMint(ctx context.Context, mints []string, amount uint64) (string, error) {
	if len(mints) == 0 {
		return w.cfg.Mints[0], nil
	}
	var ours []string
	for _, m := range mints {
		if n, err := NormalizeMintURL(m); err == nil && w.Allowed(n) && !slices.Contains(ours, n) {
			ours = append(ours, n)
		}
	}
	if len(ours) == 0 {
		return "", fmt.Errorf("%w: none of the request's %d mints is allowed", ErrUnknownMint, len(mints))
	}
	for _, m := range ours {
		b, err := w.MintBalance(ctx, m)
		if err != nil {
			return "", err
		}
		if b >= amount {
			return m, nil
		}
	}
	return ours[0], nil // Send reports the shortfall
}

// RequestOptions shape a payment request this wallet issues.
type RequestOptions struct {
	// Amount in sats (0: the payer chooses).
	Amount uint64
	// Description shown to the payer.
	Description string
	// SingleUse: the request can be paid once.
	SingleUse bool
	// Lock requires the ecash to be P2PK-locked to this wallet's key, so it
	// can travel over public channels (NIP-61 style).
	Lock bool
	// Transports to advertise; none means in band.
	Transports []creq.Transport
	// Mints accepted; default the whole allow-list. Each must be allowed.
	Mints []string
}

// NewRequest issues a NUT-18 payment request (the payee's side) and records
// it, so ReceiveRequest can match the payment to it.
func (w *Wallet) NewRequest(ctx context.Context, opts RequestOptions) (creq.Request, error) {
	mints := w.Mints()
	if len(opts.Mints) > 0 {
		mints = mints[:0]
		for _, m := range opts.Mints {
			n, err := NormalizeMintURL(m)
			if err != nil || !w.Allowed(n) {
				return creq.Request{}, fmt.Errorf("cashu: new request: %w", ErrUnknownMint)
			}
			mints = append(mints, n)
		}
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return creq.Request{}, err
	}
	r := creq.Request{ID: hex.EncodeToString(id[:]), Amount: opts.Amount, Unit: "sat", Mints: mints,
		Description: opts.Description, SingleUse: opts.SingleUse, Transports: opts.Transports}
	lockKey := ""
	if opts.Lock {
		lockKey = "02" + w.pub
		r.NUT10 = &creq.NUT10Option{Kind: creq.KindP2PK, Data: lockKey}
	}
	enc, err := r.Encode()
	if err != nil {
		return creq.Request{}, fmt.Errorf("cashu: new request: %w", err)
	}
	_, err = w.db.ExecContext(ctx, `INSERT INTO payment_requests (id, amount, unit, single_use, lock_pubkey, encoded, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, int64(r.Amount), r.Unit, r.SingleUse, lockKey, enc, time.Now().Unix())
	if err != nil {
		return creq.Request{}, fmt.Errorf("cashu: new request: %w", err)
	}
	return r, nil
}

// ReceiveRequest accepts the payment of a request this wallet issued: the
// payload must name the request, a unit of sat, one of the request's mints,
// at least its amount, and (for a locked request) proofs locked to us; a
// single-use request is paid once. The proofs are swapped at the mint as by
// Receive.
func (w *Wallet) ReceiveRequest(ctx context.Context, p creq.Payload, opts ReceiveOptions) (Received, error) {
	var (
		amount     int64
		singleUse  bool
		lockPubkey string
		encoded    string
	)
	err := w.db.QueryRowContext(ctx, `SELECT amount, single_use, lock_pubkey, encoded FROM payment_requests WHERE id = ?`, p.ID).
		Scan(&amount, &singleUse, &lockPubkey, &encoded)
	if errors.Is(err, sql.ErrNoRows) {
		return Received{}, fmt.Errorf("cashu: receive request: %w", ErrUnknownRequest)
	}
	if err != nil {
		return Received{}, fmt.Errorf("cashu: receive request: %w", err)
	}
	req, err := creq.DecodeAny(encoded) // creqA (NUT-18) or creqb1 (NUT-26)
	if err != nil {
		return Received{}, fmt.Errorf("cashu: receive request: stored request: %w", err)
	}
	if p.Unit != "sat" {
		return Received{}, fmt.Errorf("cashu: receive request: %w: %q", ErrWrongUnit, truncate(p.Unit, 16))
	}
	mint, err := NormalizeMintURL(p.Mint)
	if err != nil || !w.Allowed(mint) || !slices.Contains(req.Mints, mint) {
		return Received{}, fmt.Errorf("cashu: receive request: %w: %s", ErrUnknownMint, truncate(p.Mint, 100))
	}
	var proofs gcashu.Proofs
	if err := json.Unmarshal(p.Proofs, &proofs); err != nil || len(proofs) == 0 {
		return Received{}, fmt.Errorf("cashu: receive request: %w: bad proofs", ErrMalformedToken)
	}
	if amount > 0 && uint64(amount) > opts.Amount {
		opts.Amount = uint64(amount)
	}
	opts.RequireLock = opts.RequireLock || lockPubkey != ""
	outer := opts.OnJournal
	opts.OnJournal = func(ctx context.Context, tx *sql.Tx, opID int64) error {
		if singleUse {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_request_receipts r JOIN ops o ON o.id = r.op_id
				WHERE r.request_id = ? AND o.state != 'failed'`, p.ID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrRequestPaid
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO payment_request_receipts (op_id, request_id) VALUES (?, ?)`, opID, p.ID); err != nil {
			return err
		}
		if outer != nil {
			return outer(ctx, tx, opID)
		}
		return nil
	}
	return w.receiveProofs(ctx, mint, proofs, KindReceive, opts, 0)
}

// RequestPaid returns the sats received for a request (swapped, or accepted
// offline).
func (w *Wallet) RequestPaid(ctx context.Context, id string) (uint64, error) {
	var sum sql.NullInt64
	err := w.db.QueryRowContext(ctx, `SELECT SUM(o.amount) FROM payment_request_receipts r JOIN ops o ON o.id = r.op_id
		WHERE r.request_id = ? AND o.state IN ('done', 'queued')`, id).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("cashu: request paid: %w", err)
	}
	return uint64(sum.Int64), nil
}
