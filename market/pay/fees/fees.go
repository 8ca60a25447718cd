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
// pubkey (or, without AUTH, of the event's author), topped up with TopUp.
// Each event is charged at most once per fee; Refund credits a fee back to
// the balance when the relay could not store the event after charging it.
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
	"strings"
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
	// unknown mint, too many tags).
	ErrBadPayment = errors.New("payment refused")
)

// Prefix returns the NIP-01 prefix for an error of Charge or TopUp:
// "payment-required" or "blocked" (or "error" for anything else).
func Prefix(err error) string {
	switch {
	case errors.Is(err, ErrPaymentRequired):
		return "payment-required"
	case errors.Is(err, ErrBadPayment):
		return "blocked"
	}
	return "error"
}

// Receiver redeems tokens into the relay's wallet; *cashu.Wallet is one.
type Receiver interface {
	Receive(ctx context.Context, token string, opts cashu.ReceiveOptions) (cashu.Received, error)
}

// Config sets the fees, in sats per event, by kind. Offer kinds come from the
// nips package; the relay passes them here.
type Config struct {
	Publication map[int]uint64
	Matching    map[int]uint64
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
	return nil
}

// Collector charges fees. Safe for concurrent use.
type Collector struct {
	cfg    Config
	wallet Receiver
	j      *journal.Journal
	log    *slog.Logger
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
func (c *Collector) Charge(ctx context.Context, ev *nostr.Event, authed string) error {
	fee, reason := c.Fee(ev.Kind)
	if fee == 0 {
		return nil
	}
	payer := ev.PubKey
	if authed != "" {
		payer = authed
	}
	if paid, err := c.charged(ctx, ev.ID, reason); err != nil {
		return err
	} else if paid {
		return nil // a resent event is not charged twice
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
	source := "balance"
	if token != "" {
		rec, err := c.wallet.Receive(ctx, token, cashu.ReceiveOptions{Counterparty: ev.PubKey})
		if err != nil {
			return fmt.Errorf("%w: %s fee token: %w", ErrBadPayment, reason, err)
		}
		if err := c.credit(ctx, payer, rec.Amount); err != nil {
			return err
		}
		source = "token"
	}
	err := c.j.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE fee_balances SET sats = sats - ?, updated_at = ? WHERE pubkey = ? AND sats >= ?`,
			int64(fee), time.Now().Unix(), payer, int64(fee))
		if err != nil {
			return fmt.Errorf("fees: debit: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: %s fee is %d sat; attach a %q tag with a token or prepay", ErrPaymentRequired, reason, fee, TagName)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO fee_ledger (event_id, pubkey, kind, reason, amount, source, day, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ev.ID, payer, ev.Kind, reason, int64(fee), source, day(time.Now()), time.Now().Unix())
		if err != nil {
			return fmt.Errorf("fees: ledger: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.log.Debug("fee charged", "event", ev.ID, "kind", ev.Kind, "reason", reason, "sats", fee, "source", source)
	return nil
}

func (c *Collector) charged(ctx context.Context, eventID, reason string) (bool, error) {
	var n int
	err := c.j.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM fee_ledger WHERE event_id = ? AND reason = ? AND refunded = 0`, eventID, reason).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("fees: ledger: %w", err)
	}
	return n > 0, nil
}

func (c *Collector) credit(ctx context.Context, pubkey string, sats uint64) error {
	_, err := c.j.DB().ExecContext(ctx, `INSERT INTO fee_balances (pubkey, sats, updated_at) VALUES (?, ?, ?)
		ON CONFLICT(pubkey) DO UPDATE SET sats = sats + excluded.sats, updated_at = excluded.updated_at`,
		pubkey, int64(sats), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("fees: credit: %w", err)
	}
	return nil
}

// TopUp redeems token into the relay's wallet and credits pubkey's prepaid
// balance; it returns the new balance.
func (c *Collector) TopUp(ctx context.Context, pubkey, token string) (uint64, error) {
	if !nostr.IsValid32ByteHex(pubkey) {
		return 0, fmt.Errorf("fees: top up: bad pubkey")
	}
	rec, err := c.wallet.Receive(ctx, token, cashu.ReceiveOptions{Counterparty: pubkey})
	if err != nil {
		return 0, fmt.Errorf("%w: top up: %w", ErrBadPayment, err)
	}
	if err := c.credit(ctx, pubkey, rec.Amount); err != nil {
		return 0, err
	}
	return c.Balance(ctx, pubkey)
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
				ON CONFLICT(pubkey) DO UPDATE SET sats = sats + excluded.sats, updated_at = excluded.updated_at`, r.pubkey, r.amount, now); err != nil {
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
// publication entry per distinct fee, amounts in msats.
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
	slices.Sort(fees)
	for _, f := range fees {
		kinds := byFee[f]
		slices.Sort(kinds)
		doc.Publication = append(doc.Publication, struct {
			Kinds  []int  `json:"kinds"`
			Amount int    `json:"amount"`
			Unit   string `json:"unit"`
		}{Kinds: kinds, Amount: int(f * 1000), Unit: "msats"})
	}
	return doc
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

var _ = strings.TrimSpace
