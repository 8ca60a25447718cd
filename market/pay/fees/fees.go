// Package fees collects the relay operator's fees in Cashu: a publication
// fee for offers and a matching fee, per event kind, announced in the NIP-11
// document's `fees`.
//
// An event pays either with a token in a tag of its own,
//
//	["cashu", "cashuB..."]
//
// (redeemed at once into the relay's wallet, so it is worthless to anyone who
// reads the stored event; any excess over the fee is credited to the payer's
// prepaid balance), or from the prepaid balance of the NIP-42 authenticated
// pubkey (or, without AUTH, of the event's author), topped up with TopUp
// (the relay calls it for a top-up event, which carries only a token).
// Each event is charged at most once per fee; Refund credits a fee back to
// the balance when the relay could not store the event after charging it.
// With a PublicationPeriod, an addressable event (an offer) pays its
// publication fee once per address (kind:pubkey:d) per period: republishing
// it, at a new price say, within the period that the last fee paid for is
// free.
//
// The relay calls Charge from a khatru RejectEvent policy, after the
// signature check, as the last policy, and maps the error with Prefix.
package fees

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip11"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// TagName is the event tag that carries a fee token.
const TagName = "cashu"

// Errors. Prefix maps them to NIP-01 OK/CLOSED machine-readable prefixes.
var (
	// ErrPaymentRequired: no token and not enough prepaid balance.
	ErrPaymentRequired = errors.New("payment required")
	// ErrBadPayment: the token was refused (spent, replayed, malformed,
	// unknown mint, too many tags). Nothing was credited.
	ErrBadPayment = errors.New("payment refused")
	// ErrNotSettled: the relay journaled a top-up token but the mint has not
	// said whether it took it; Resume credits it if it did. The same
	// top-up sent again reports the outcome.
	ErrNotSettled = errors.New("payment not settled")
)

// Prefix returns the NIP-01 prefix for an error of Charge or TopUp:
// "payment-required" or "blocked" (or "error" for anything else, such as
// ErrNotSettled).
func Prefix(err error) string {
	switch {
	case errors.Is(err, ErrPaymentRequired):
		return "payment-required"
	case errors.Is(err, ErrNotSettled):
		return "error"
	case errors.Is(err, ErrBadPayment):
		return "blocked"
	}
	return "error"
}

// reasonTopUp is the reason of a top-up's fee receipt: a credit, no fee.
const reasonTopUp = "topup"

// Receiver redeems tokens into the relay's wallet; *cashu.Wallet is one.
type Receiver interface {
	Receive(ctx context.Context, token string, opts cashu.ReceiveOptions) (cashu.Received, error)
}

// Config sets the fees, in sats per event, by kind. Offer kinds come from the
// nips package; the relay passes them here.
type Config struct {
	Publication map[int]uint64
	Matching    map[int]uint64
	// PublicationPeriod, when not zero, is how long a publication fee paid
	// for an addressable event covers its address (kind:pubkey:d): events
	// of the same address published within it are not charged again.
	// Announced in NIP-11 as the publication fee's "period" (seconds).
	PublicationPeriod time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// StepHook, for crash tests, is called after each journaled step of a
	// charge ("fee.received"); an error stops the charge there, as a crash
	// would. meshrelay sets it from SOVMESH_CRASH_AT (internal/crashat).
	StepHook func(step string) error
}

// Validate checks the config.
func (c Config) Validate() error {
	for k := range c.Publication {
		if k < 0 || k > 65535 {
			return fmt.Errorf("fees: bad kind %d", k)
		}
	}
	for k := range c.Matching {
		if k < 0 || k > 65535 {
			return fmt.Errorf("fees: bad kind %d", k)
		}
	}
	if c.PublicationPeriod < 0 {
		return fmt.Errorf("fees: negative publication period %v", c.PublicationPeriod)
	}
	return nil
}

// Collector charges fees. Safe for concurrent use.
type Collector struct {
	cfg    Config
	wallet Receiver
	j      *journal.Journal
	log    *slog.Logger
	// resumed runs Resume once, at the first charge, in case the owner
	// did not call it at start.
	resumed sync.Once
}

func (c *Collector) step(name string) error {
	if c.cfg.StepHook == nil {
		return nil
	}
	if err := c.cfg.StepHook(name); err != nil {
		return fmt.Errorf("%w at %s: %v", cashu.ErrCrashed, name, err)
	}
	return nil
}

// New returns a collector that redeems into wallet and keeps balances and
// its ledger in j (the relay wallet's journal).
func New(j *journal.Journal, wallet Receiver, cfg Config, log *slog.Logger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Collector{cfg: cfg, wallet: wallet, j: j, log: log}, nil
}

// Fee returns the fee (sats) and its reason ("publication", "matching")
// for an event kind; 0 when the kind is free.
func (c *Collector) Fee(kind int) (uint64, string) {
	if f := c.cfg.Publication[kind]; f > 0 {
		return f, "publication"
	}
	if f := c.cfg.Matching[kind]; f > 0 {
		return f, "matching"
	}
	return 0, ""
}

// Charge takes the fee for ev, if its kind has one. authed is the NIP-42
// authenticated pubkey of the connection ("" if none). A nil error means the
// fee is paid (or there is none) and the event may be stored.
//
// A token is redeemed as one journaled operation: the fee receipt (payer,
// event, fee) is written in the same transaction as the wallet's receive op,
// before the mint is asked, and the credit, the debit and the ledger entry
// are written together once the op is done. If the relay stops in between,
// Resume (or the same event sent again) completes the charge: the payer is
// credited for every token the relay's wallet redeemed.
func (c *Collector) Charge(ctx context.Context, ev *nostr.Event, authed string) error {
	fee, reason := c.Fee(ev.Kind)
	if fee == 0 {
		return nil
	}
	c.resumeOnce(ctx)
	payer := ev.PubKey
	if authed != "" {
		payer = authed
	}
	if paid, err := c.charged(ctx, ev.ID, reason); err != nil {
		return err
	} else if paid {
		return nil // a resent event is not charged twice
	}

	// An earlier attempt for this event was interrupted: finish it first.
	if err := c.resumeEvent(ctx, ev.ID); err != nil {
		return err
	}
	if paid, err := c.charged(ctx, ev.ID, reason); err != nil {
		return err
	} else if paid {
		return nil
	}
	var token string
	for _, t := range ev.Tags {
		if len(t) >= 2 && t[0] == TagName {
			if token != "" {
				return fmt.Errorf("%w: more than one %q tag", ErrBadPayment, TagName)
			}
			token = t[1]
		}
	}
	addr, until := c.period(ev, reason)
	if addr != "" {
		if covered, err := c.covered(ctx, addr); err != nil {
			return err
		} else if covered {
			c.log.Debug("fee covered by the period paid", "event", ev.ID, "kind", ev.Kind, "reason", reason)
			if token == "" {
				return nil
			}
			// The token is redeemed all the same (the stored event must
			// not carry a live token), all of it to the prepaid balance.
			if _, _, err := c.redeem(ctx, token, ev.PubKey, receipt{pubkey: payer, eventID: ev.ID, reason: reasonTopUp}); err != nil {
				return fmt.Errorf("%w: %s fee token: %w", ErrBadPayment, reason, err)
			}
			return nil
		}
	}
	if token != "" {
		r := receipt{pubkey: payer, eventID: ev.ID, kind: ev.Kind, reason: reason, fee: fee, address: addr}
		_, opID, err := c.redeem(ctx, token, ev.PubKey, r)
		if err != nil && !errors.Is(err, ErrPaymentRequired) {
			if opID != 0 && c.receiptPending(ctx, opID) {
				// The mint has not answered: the fee counts if it took the
				// token, and the same event sent again is then free.
				return fmt.Errorf("%w: %s fee token: %w; send the same event again to see", ErrNotSettled, reason, err)
			}
			return fmt.Errorf("%w: %s fee token: %w", ErrBadPayment, reason, err)
		}
		if err == nil {
			c.log.Debug("fee charged", "event", ev.ID, "kind", ev.Kind, "reason", reason, "sats", fee, "source", "token")
		}
		return err
	}
	err := c.j.Tx(ctx, func(tx *sql.Tx) error {
		return debit(ctx, tx, payer, ev.ID, ev.Kind, reason, fee, "balance", addr, until)
	})
	if err != nil {
		return err
	}
	c.log.Debug("fee charged", "event", ev.ID, "kind", ev.Kind, "reason", reason, "sats", fee, "source", "balance")
	return nil
}

// resumeOnce runs Resume at the first charge or top-up, in case the owner
// did not call it at start.
func (c *Collector) resumeOnce(ctx context.Context) {
	c.resumed.Do(func() {
		if _, err := c.Resume(ctx); err != nil {
			c.log.Warn("fee receipts not all resumed", "err", err)
		}
	})
}

// receipt is what a redeemed token pays for: a credit to pubkey and, for an
// event, its fee. A top-up's eventID is its request's ref, and it has no fee.
type receipt struct {
	pubkey  string
	eventID string
	kind    int
	reason  string
	fee     uint64
	address string // the offer address a periodic publication fee covers
}

// charges reports whether the receipt pays an event's fee (not a top-up).
func (r receipt) charges() bool { return r.eventID != "" && r.reason != reasonTopUp }

// redeem receives token with the receipt journaled alongside the receive op
// and completes it. It returns the sats credited and the receive op's id
// (0 when nothing was journaled).
func (c *Collector) redeem(ctx context.Context, token, counterparty string, r receipt) (credited uint64, opID int64, err error) {
	var journaled int64 // the receive op, once journaled
	rec, err := c.wallet.Receive(ctx, token, cashu.ReceiveOptions{
		Counterparty: counterparty,
		OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
			journaled = opID
			_, err := tx.ExecContext(ctx, `INSERT INTO fee_receipts (op_id, pubkey, event_id, event_kind, reason, fee, state, created_at, address)
				VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`, opID, r.pubkey, r.eventID, r.kind, r.reason, int64(r.fee), c.cfg.Now().Unix(), r.address)
			if err != nil {
				return fmt.Errorf("fees: journal receipt: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		if journaled != 0 && !errors.Is(err, cashu.ErrCrashed) {
			// A definite failure (spent token) fails the receipt now; an
			// unknown outcome leaves it to Resume.
			if _, cerr := c.complete(ctx, journaled); cerr != nil && !errors.Is(cerr, cashu.ErrPending) && !errors.Is(cerr, sql.ErrNoRows) {
				c.log.Warn("fee receipt not settled", "op", journaled, "err", cerr)
			}
		}
		return 0, journaled, err
	}
	if journaled == 0 {
		// A Receiver that does not journal: credit directly.
		return rec.Amount, 0, c.j.Tx(ctx, func(tx *sql.Tx) error {
			if err := credit(ctx, tx, r.pubkey, rec.Amount); err != nil {
				return err
			}
			if !r.charges() {
				return nil
			}
			return debit(ctx, tx, r.pubkey, r.eventID, r.kind, r.reason, r.fee, "token", r.address, c.paidUntil(r.address))
		})
	}
	if err := c.step("fee.received"); err != nil {
		return 0, journaled, err
	}
	_, err = c.complete(ctx, journaled)
	return rec.Amount, journaled, err
}

// complete settles the fee receipt of a receive op in one transaction: a
// done (or offline-accepted) op credits the payer and charges the event's
// fee; a failed op fails the receipt; an op still open returns ErrPending.
// done reports whether the receipt is settled. Completing twice does nothing.
func (c *Collector) complete(ctx context.Context, opID int64) (done bool, err error) {
	var shortfall error
	err = c.j.Tx(ctx, func(tx *sql.Tx) error {
		var r receipt
		var state, opState string
		var fee, amount int64
		err := tx.QueryRowContext(ctx, `SELECT r.pubkey, r.event_id, r.event_kind, r.reason, r.fee, r.address, r.state, o.state, o.amount
			FROM fee_receipts r JOIN ops o ON o.id = r.op_id WHERE r.op_id = ?`, opID).
			Scan(&r.pubkey, &r.eventID, &r.kind, &r.reason, &fee, &r.address, &state, &opState, &amount)
		if err != nil {
			return fmt.Errorf("fees: receipt of op %d: %w", opID, err)
		}
		r.fee = uint64(fee)
		if state != "pending" {
			done = true
			return nil
		}
		switch opState {
		case journal.StateDone, journal.StateQueued:
		case journal.StateFailed, journal.StateRefunded:
			done = true
			_, err := tx.ExecContext(ctx, `UPDATE fee_receipts SET state = 'failed' WHERE op_id = ?`, opID)
			return err
		default:
			return cashu.ErrPending
		}
		if err := credit(ctx, tx, r.pubkey, uint64(amount)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE fee_receipts SET state = 'done' WHERE op_id = ?`, opID); err != nil {
			return err
		}
		done = true
		if !r.charges() {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM fee_ledger WHERE event_id = ? AND reason = ? AND refunded = 0`,
			r.eventID, r.reason).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil // charged meanwhile (from the balance): the token stays credited
		}
		if err := debit(ctx, tx, r.pubkey, r.eventID, r.kind, r.reason, r.fee, "token", r.address, c.paidUntil(r.address)); err != nil {
			if errors.Is(err, ErrPaymentRequired) {
				shortfall = err // keep the credit, report the shortfall
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return done, err
	}
	return done, shortfall
}

// Resume settles the fee receipts a previous run left pending: call it at
// start, after the wallet's Resume (the first Charge runs it too). It returns how many it settled; those
// whose receive op is still open stay pending for the next call.
func (c *Collector) Resume(ctx context.Context) (int, error) {
	ids, err := c.pending(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		done, err := c.complete(ctx, id)
		if done {
			n++
		}
		if err != nil && !errors.Is(err, cashu.ErrPending) && !errors.Is(err, ErrPaymentRequired) {
			errs = append(errs, err)
		}
	}
	if n > 0 {
		c.log.Info("fee receipts resumed", "settled", n, "pending", len(ids)-n)
	}
	return n, errors.Join(errs...)
}

func (c *Collector) resumeEvent(ctx context.Context, eventID string) error {
	ids, err := c.pending(ctx, eventID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := c.complete(ctx, id); err != nil && !errors.Is(err, cashu.ErrPending) && !errors.Is(err, ErrPaymentRequired) {
			return err
		}
	}
	return nil
}

func (c *Collector) pending(ctx context.Context, eventID string) ([]int64, error) {
	q, args := `SELECT op_id FROM fee_receipts WHERE state = 'pending'`, []any{}
	if eventID != "" {
		q += ` AND event_id = ?`
		args = append(args, eventID)
	}
	rows, err := c.j.DB().QueryContext(ctx, q+` ORDER BY op_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("fees: pending receipts: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// debit charges fee for an event from pubkey's balance and writes the
// ledger; a periodic publication fee records the address it paid for and
// until when (unix seconds), otherwise address is "" and until 0.
func debit(ctx context.Context, tx *sql.Tx, pubkey, eventID string, kind int, reason string, fee uint64, source, address string, until int64) error {
	now := time.Now()
	res, err := tx.ExecContext(ctx, `UPDATE fee_balances SET sats = sats - ?, updated_at = ? WHERE pubkey = ? AND sats >= ?`,
		int64(fee), now.Unix(), pubkey, int64(fee))
	if err != nil {
		return fmt.Errorf("fees: debit: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var bal int64
		if err := tx.QueryRowContext(ctx, `SELECT sats FROM fee_balances WHERE pubkey = ?`, pubkey).Scan(&bal); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("fees: debit: %w", err)
		}
		return fmt.Errorf("%w: %s fee is %d sat, prepaid balance of %.8s... is %d sat; attach a %q tag with a token or top up the balance",
			ErrPaymentRequired, reason, fee, pubkey, bal, TagName)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO fee_ledger (event_id, pubkey, kind, reason, amount, source, day, created_at, address, paid_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, eventID, pubkey, kind, reason, int64(fee), source, day(now), now.Unix(), address, until)
	if err != nil {
		return fmt.Errorf("fees: ledger: %w", err)
	}
	return nil
}

// period returns the address a publication fee for ev covers, and until
// when if paid now: "" when fees are per event (no period, or ev is not
// addressable).
func (c *Collector) period(ev *nostr.Event, reason string) (address string, until int64) {
	if reason != "publication" || c.cfg.PublicationPeriod <= 0 || !nostr.IsAddressableKind(ev.Kind) {
		return "", 0
	}
	address = fmt.Sprintf("%d:%s:%s", ev.Kind, ev.PubKey, ev.Tags.GetD())
	return address, c.paidUntil(address)
}

// paidUntil is when a publication fee for address paid now stops covering
// it (0 for no address).
func (c *Collector) paidUntil(address string) int64 {
	if address == "" {
		return 0
	}
	return c.cfg.Now().Add(c.cfg.PublicationPeriod).Unix()
}

// covered reports whether a publication fee paid (and not refunded) for
// address still covers it.
func (c *Collector) covered(ctx context.Context, address string) (bool, error) {
	var n int
	err := c.j.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM fee_ledger WHERE address = ? AND paid_until > ? AND refunded = 0`,
		address, c.cfg.Now().Unix()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("fees: ledger: %w", err)
	}
	return n > 0, nil
}

func (c *Collector) charged(ctx context.Context, eventID, reason string) (bool, error) {
	var n int
	err := c.j.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM fee_ledger WHERE event_id = ? AND reason = ? AND refunded = 0`, eventID, reason).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("fees: ledger: %w", err)
	}
	return n > 0, nil
}

func credit(ctx context.Context, tx *sql.Tx, pubkey string, sats uint64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO fee_balances (pubkey, sats, updated_at) VALUES (?, ?, ?)
		ON CONFLICT(pubkey) DO UPDATE SET sats = fee_balances.sats + excluded.sats, updated_at = excluded.updated_at`,
		pubkey, int64(sats), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("fees: credit: %w", err)
	}
	return nil
}

// TopUpResult is the outcome of a top-up.
type TopUpResult struct {
	// Credited is what the token added to the balance: its value less the
	// mint's input fee.
	Credited uint64
	// Balance is the prepaid balance after the credit.
	Balance uint64
}

// TopUp redeems token into the relay's wallet and credits pubkey's prepaid
// balance, journaled as Charge's tokens are: a token the wallet redeemed is
// credited even if the relay stops in between (Resume settles it), and a
// token the mint or the wallet refused credits nothing (ErrBadPayment).
// When the mint has not answered, TopUp returns ErrNotSettled, and Resume
// credits the token later if the mint took it.
//
// ref, when not "", names the request (the top-up event's id): the same ref
// and pubkey again return the first outcome (what was credited, and the
// balance now) instead of redeeming anew, so a client that lost the answer
// can send the same request again. Errors never quote the token.
func (c *Collector) TopUp(ctx context.Context, pubkey, token, ref string) (TopUpResult, error) {
	if !nostr.IsValid32ByteHex(pubkey) {
		return TopUpResult{}, fmt.Errorf("fees: top up: bad pubkey")
	}
	c.resumeOnce(ctx)
	if ref != "" {
		if res, found, err := c.toppedUp(ctx, pubkey, ref); err != nil || found {
			return res, err
		}
	}
	credited, opID, err := c.redeem(ctx, token, pubkey, receipt{pubkey: pubkey, eventID: ref, reason: reasonTopUp})
	if err != nil {
		if opID != 0 && c.receiptPending(ctx, opID) {
			return TopUpResult{}, fmt.Errorf("%w: top-up token: %w; it is credited if the mint took it: send the same top-up again to see", ErrNotSettled, err)
		}
		return TopUpResult{}, fmt.Errorf("%w: top-up token: %w; nothing credited", ErrBadPayment, err)
	}
	c.log.Debug("prepaid balance topped up", "pubkey", pubkey, "sats", credited)
	bal, err := c.Balance(ctx, pubkey)
	return TopUpResult{Credited: credited, Balance: bal}, err
}

// toppedUp finds an earlier top-up of pubkey under ref that was not refused
// and reports its outcome, settling it first if a previous run left it
// pending. found is false when there is none (or it turned out refused).
func (c *Collector) toppedUp(ctx context.Context, pubkey, ref string) (res TopUpResult, found bool, err error) {
	opID, state, amount, err := c.topUpReceipt(ctx, pubkey, ref)
	if errors.Is(err, sql.ErrNoRows) {
		return TopUpResult{}, false, nil
	}
	if err != nil {
		return TopUpResult{}, false, err
	}
	if state == "pending" {
		if _, err := c.complete(ctx, opID); err != nil && !errors.Is(err, cashu.ErrPending) {
			return TopUpResult{}, true, err
		}
		opID, state, amount, err = c.topUpReceipt(ctx, pubkey, ref)
		if errors.Is(err, sql.ErrNoRows) {
			return TopUpResult{}, false, nil // refused after all: redeem again
		}
		if err != nil {
			return TopUpResult{}, true, err
		}
		if state == "pending" {
			return TopUpResult{}, true, fmt.Errorf("%w: the mint has not answered for this top-up yet (op %d); send it again later", ErrNotSettled, opID)
		}
	}
	bal, err := c.Balance(ctx, pubkey)
	return TopUpResult{Credited: amount, Balance: bal}, true, err
}

// topUpReceipt returns the latest top-up receipt of pubkey under ref that
// did not fail, with the amount its receive op credits, or sql.ErrNoRows.
func (c *Collector) topUpReceipt(ctx context.Context, pubkey, ref string) (opID int64, state string, amount uint64, err error) {
	var a int64
	err = c.j.DB().QueryRowContext(ctx, `SELECT r.op_id, r.state, o.amount FROM fee_receipts r JOIN ops o ON o.id = r.op_id
		WHERE r.event_id = ? AND r.pubkey = ? AND r.reason = ? AND r.state != 'failed' ORDER BY r.op_id DESC LIMIT 1`,
		ref, pubkey, reasonTopUp).Scan(&opID, &state, &a)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("fees: top-up receipt: %w", err)
	}
	return opID, state, uint64(a), err
}

// receiptPending reports whether the receipt of a receive op is still
// pending (or cannot be read, which is as unsure). A receipt that was never
// written (its transaction failed) is not.
func (c *Collector) receiptPending(ctx context.Context, opID int64) bool {
	var state string
	err := c.j.DB().QueryRowContext(ctx, `SELECT state FROM fee_receipts WHERE op_id = ?`, opID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	return err != nil || state == "pending"
}

// Balance returns pubkey's prepaid balance in sats.
func (c *Collector) Balance(ctx context.Context, pubkey string) (uint64, error) {
	var sats int64
	err := c.j.DB().QueryRowContext(ctx, `SELECT sats FROM fee_balances WHERE pubkey = ?`, pubkey).Scan(&sats)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fees: balance: %w", err)
	}
	return uint64(sats), nil
}

// Refund credits the fees charged for eventID back to the payer's prepaid
// balance: the relay calls it when it charged an event and then failed to
// store it. Refunding twice does nothing.
func (c *Collector) Refund(ctx context.Context, eventID string) error {
	return c.j.Tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, pubkey, amount FROM fee_ledger WHERE event_id = ? AND refunded = 0`, eventID)
		if err != nil {
			return fmt.Errorf("fees: refund: %w", err)
		}
		type row struct {
			id     int64
			pubkey string
			amount int64
		}
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.pubkey, &r.amount); err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, r)
		}
		rows.Close()
		now := time.Now().Unix()
		for _, r := range rs {
			if _, err := tx.ExecContext(ctx, `UPDATE fee_ledger SET refunded = 1 WHERE id = ?`, r.id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO fee_balances (pubkey, sats, updated_at) VALUES (?, ?, ?)
				ON CONFLICT(pubkey) DO UPDATE SET sats = fee_balances.sats + excluded.sats, updated_at = excluded.updated_at`, r.pubkey, r.amount, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// DayEarnings is one UTC day of collected fees.
type DayEarnings struct {
	Day         string `json:"day"` // YYYY-MM-DD, UTC
	Publication uint64 `json:"publication_sats"`
	Matching    uint64 `json:"matching_sats"`
	Events      int    `json:"events"`
}

// Earnings reports the fees collected per UTC day between from and to
// (inclusive days), refunded fees excluded.
func (c *Collector) Earnings(ctx context.Context, from, to time.Time) ([]DayEarnings, error) {
	rows, err := c.j.DB().QueryContext(ctx, `SELECT day, reason, SUM(amount), COUNT(*) FROM fee_ledger
		WHERE refunded = 0 AND day >= ? AND day <= ? GROUP BY day, reason ORDER BY day`, day(from), day(to))
	if err != nil {
		return nil, fmt.Errorf("fees: earnings: %w", err)
	}
	defer rows.Close()
	var out []DayEarnings
	for rows.Next() {
		var d, reason string
		var sum int64
		var n int
		if err := rows.Scan(&d, &reason, &sum, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Day != d {
			out = append(out, DayEarnings{Day: d})
		}
		e := &out[len(out)-1]
		e.Events += n
		if reason == "matching" {
			e.Matching += uint64(sum)
		} else {
			e.Publication += uint64(sum)
		}
	}
	return out, rows.Err()
}

// NIP11 returns the `fees` object of the relay's NIP-11 document: one
// publication entry per distinct fee, amounts in msats; nil when every fee
// is zero (a free relay).
func (c *Collector) NIP11() *nip11.RelayFeesDocument {
	byFee := map[uint64][]int{}
	for k, f := range c.cfg.Publication {
		byFee[f] = append(byFee[f], k)
	}
	for k, f := range c.cfg.Matching {
		if c.cfg.Publication[k] == 0 {
			byFee[f] = append(byFee[f], k)
		}
	}
	doc := &nip11.RelayFeesDocument{}
	fees := make([]uint64, 0, len(byFee))
	for f := range byFee {
		if f > 0 {
			fees = append(fees, f)
		}
	}
	if len(fees) == 0 {
		return nil // free relay: no fees document, payment_required false
	}
	slices.Sort(fees)
	for _, f := range fees {
		kinds := byFee[f]
		slices.Sort(kinds)
		doc.Publication = append(doc.Publication, nip11.PublicationFee{Kinds: kinds, Amount: int(f * 1000), Unit: "msats",
			Period: int(c.cfg.PublicationPeriod / time.Second)})
	}
	return doc
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
