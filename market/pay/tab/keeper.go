// Package tab is pay-as-you-go for the transport protocols: a buyer opens a
// tab with a seller by paying a Cashu deposit; the seller debits the tab one
// step at a time (per chunk, per MiB, per request) as data flows; when the
// tab is closed, the seller returns the rest as a change token.
//
// Keeper is the seller's side and implements transport.PaymentGate; Payer
// is the buyer's side and implements transport.Payer. At a pause point the
// buyer sends either a deposit (a cashuA/cashuB token, redeemed at the mint
// into the seller's wallet) or DrawToken, which asks for the next step from
// the open tab with no mint round trip; per MiB that is one SQLite
// transaction instead of two mint swaps.
//
// No sat is lost:
//   - a deposit is recorded in the same transaction as the wallet's receive
//     op, so it counts once the mint has swapped it, whatever stops between;
//   - a step is debited only while deposited - debited covers it, so a buyer
//     is never charged beyond the deposit;
//   - the change is a journaled send whose op is tied to the tab in the same
//     transaction; Resume sends or finishes it after a crash, and Change
//     returns the same token again until the buyer redeems it;
//   - granted units a stream did not use stay on the tab (carry) and are
//     granted first to the buyer's next stream, or refunded at closing.
//
// A crash of the seller in the middle of a stream loses only that stream's
// unused granted units (at most one draw: Config.DrawSteps steps): they were
// debited when granted.
// Open tab balances are the seller's debt: Liabilities reports them, and the
// seller's wallet must keep that much at the tabs' mints.
package tab

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/transport"
)

// DrawToken is the payment step a buyer sends to draw the next step from
// its open tab.
const DrawToken = "sovmesh-tab:draw"

// Errors.
var (
	ErrBadToken = errors.New("tab: payment step is neither a cashu token nor a draw")
	ErrNoTab    = errors.New("tab: no open tab for this buyer")
	ErrSmall    = errors.New("tab: deposit below the minimum")
	ErrPending  = errors.New("tab: a deposit or the change is still pending at the mint; retry later")
)

// Tab states.
const (
	StateOpen    = "open"
	StateClosing = "closing"
	StateClosed  = "closed"
)

// Config sets the seller's price and the change rules.
type Config struct {
	// StepUnits are the units one step grants (e.g. 1 MiB of bandwidth).
	StepUnits uint64
	// StepSats is the price of one step.
	StepSats uint64
	// MinDeposit refuses smaller deposits before anything is redeemed.
	// Default StepSats.
	MinDeposit uint64
	// DrawSteps is how many steps one draw grants at most (as the balance
	// covers; default 1). More steps per draw mean fewer pause points on a
	// fast stream; steps granted and not used are carried, not lost.
	DrawSteps uint64
	// LockChange locks the change token to the buyer's key (NUT-11), with
	// a refund to the seller after ChangeRefundAfter, so it can be
	// delivered over any channel. Default true (see DefaultConfig).
	LockChange bool
	// ChangeRefundAfter: default 30 days.
	ChangeRefundAfter time.Duration
	// Logger; default discard. Tokens are never logged.
	Logger *slog.Logger
}

// DefaultConfig returns a config with the defaults and no price.
func DefaultConfig() Config {
	return Config{LockChange: true, ChangeRefundAfter: 30 * 24 * time.Hour}
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.StepUnits == 0 || c.StepSats == 0 {
		return errors.New("tab: config: StepUnits and StepSats must be positive")
	}
	if c.MinDeposit == 0 {
		c.MinDeposit = c.StepSats
	}
	if c.DrawSteps == 0 {
		c.DrawSteps = 1
	}
	if c.ChangeRefundAfter <= 0 {
		c.ChangeRefundAfter = 30 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Tab is a tab's state.
type Tab struct {
	ID        string
	Buyer     string
	Mint      string
	Deposited uint64 // sats redeemed into the seller's wallet
	Debited   uint64 // sats charged for granted steps
	Carry     uint64 // units granted, paid and not used yet
	StepUnits uint64
	StepSats  uint64
	State     string
	ChangeOp  int64 // the change's send op, once made
}

// Balance is what the buyer has left on the tab, in sats (carry excluded).
func (t Tab) Balance() uint64 {
	if t.Debited > t.Deposited { // an offline deposit the mint refused later
		return 0
	}
	return t.Deposited - t.Debited
}

// Change is the change of a closed tab.
type Change struct {
	TabID  string
	Amount uint64
	// Token is the change (a cashuB token, locked to the buyer when
	// Config.LockChange); empty when there was nothing to return.
	Token string
	OpID  int64
}

// Keeper is the seller's side: it keeps tabs in the wallet's journal and
// implements transport.PaymentGate. Safe for concurrent use.
type Keeper struct {
	w   *cashu.Wallet
	j   *journal.Journal
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream // by transport session id
}

type stream struct {
	tab     string
	granted uint64
}

var _ transport.PaymentGate = (*Keeper)(nil)

// NewKeeper returns a keeper on the seller's wallet.
func NewKeeper(w *cashu.Wallet, cfg Config) (*Keeper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Keeper{w: w, j: w.Journal(), cfg: cfg, log: cfg.Logger, streams: map[string]*stream{}}, nil
}

// Open grants a new stream the buyer's carried units and, when less than a
// step is carried and the open tab covers it, a draw.
func (k *Keeper) Open(ctx context.Context, s transport.Session) (uint64, error) {
	var tabID string
	var credit uint64
	err := k.j.Tx(ctx, func(tx *sql.Tx) error {
		t, err := openTab(ctx, tx, s.Buyer)
		if errors.Is(err, ErrNoTab) {
			return nil
		}
		if err != nil {
			return err
		}
		tabID = t.ID
		if t.Carry > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE tabs SET carry_units = 0, updated_at = ? WHERE id = ?`, time.Now().Unix(), t.ID); err != nil {
				return fmt.Errorf("tab: take carry: %w", err)
			}
			credit = t.Carry
		}
		if t.Carry >= t.StepUnits {
			return nil // a step's worth carried already: no debit yet
		}
		units, err := draw(ctx, tx, t, k.cfg.DrawSteps)
		credit += units
		return err
	})
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	k.streams[s.ID] = &stream{tab: tabID, granted: credit}
	k.mu.Unlock()
	return credit, nil
}

// Redeem takes a payment step: a deposit token (redeemed into the seller's
// wallet and the buyer's open tab, opening one) or DrawToken. Either way it
// then grants one step if the tab covers it, and 0 units if not (the
// buyer's Payer then deposits).
func (k *Keeper) Redeem(ctx context.Context, s transport.Session, token []byte) (uint64, error) {
	tok := strings.TrimSpace(string(token))
	switch {
	case tok == DrawToken:
	case strings.HasPrefix(tok, "cashuA"), strings.HasPrefix(tok, "cashuB"):
		if err := k.deposit(ctx, s.Buyer, tok); err != nil {
			return 0, err
		}
	default:
		return 0, ErrBadToken
	}
	var units uint64
	var tabID string
	err := k.j.Tx(ctx, func(tx *sql.Tx) error {
		t, err := openTab(ctx, tx, s.Buyer)
		if err != nil {
			return err
		}
		tabID = t.ID
		units, err = draw(ctx, tx, t, k.cfg.DrawSteps)
		return err
	})
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	st := k.streams[s.ID]
	if st == nil {
		st = &stream{}
		k.streams[s.ID] = st
	}
	st.tab = tabID
	st.granted += units
	k.mu.Unlock()
	return units, nil
}

// deposit redeems token into the buyer's open tab (opening one), the tab
// record written in the same transaction as the receive op.
func (k *Keeper) deposit(ctx context.Context, buyer, token string) error {
	info, err := cashu.Inspect(token)
	if err != nil {
		return fmt.Errorf("tab: deposit: %w", err)
	}
	if info.Amount < k.cfg.MinDeposit {
		return fmt.Errorf("%w: %d sat, the minimum is %d", ErrSmall, info.Amount, k.cfg.MinDeposit)
	}
	mint, err := cashu.NormalizeMintURL(info.Mint)
	if err != nil {
		return fmt.Errorf("tab: deposit: %w", cashu.ErrUnknownMint)
	}
	rec, err := k.w.Receive(ctx, token, cashu.ReceiveOptions{
		Counterparty: buyer,
		OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
			t, err := openTab(ctx, tx, buyer)
			if errors.Is(err, ErrNoTab) {
				t, err = k.newTab(ctx, tx, buyer, mint)
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO tab_deposits (op_id, tab_id) VALUES (?, ?)`, opID, t.ID); err != nil {
				return fmt.Errorf("tab: record deposit: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("tab: deposit: %w", err)
	}
	k.log.Debug("tab deposit", "buyer", buyer, "sats", rec.Amount, "op", rec.OpID)
	return nil
}

func (k *Keeper) newTab(ctx context.Context, tx *sql.Tx, buyer, mint string) (Tab, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Tab{}, err
	}
	t := Tab{ID: hex.EncodeToString(b[:]), Buyer: buyer, Mint: mint, StepUnits: k.cfg.StepUnits, StepSats: k.cfg.StepSats, State: StateOpen}
	now := time.Now().Unix()
	_, err := tx.ExecContext(ctx, `INSERT INTO tabs (id, counterparty, mint, state, step_units, step_sats, created_at, updated_at)
		VALUES (?, ?, ?, 'open', ?, ?, ?, ?)`, t.ID, buyer, mint, int64(t.StepUnits), int64(t.StepSats), now, now)
	if err != nil {
		return Tab{}, fmt.Errorf("tab: open: %w", err)
	}
	k.log.Info("tab opened", "tab", t.ID, "buyer", buyer)
	return t, nil
}

// draw debits up to n steps from t, as many as its balance covers, and
// returns the units granted (0 if not even one step is covered).
func draw(ctx context.Context, tx *sql.Tx, t Tab, n uint64) (uint64, error) {
	if t.StepSats == 0 || t.State != StateOpen {
		return 0, nil
	}
	steps := min(n, t.Balance()/t.StepSats)
	if steps == 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE tabs SET debited = debited + ?, updated_at = ?
		WHERE id = ? AND state = 'open' AND debited + ? <= ?`,
		int64(steps*t.StepSats), time.Now().Unix(), t.ID, int64(steps*t.StepSats), int64(t.Deposited))
	if err != nil {
		return 0, fmt.Errorf("tab: debit: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, nil
	}
	return steps * t.StepUnits, nil
}

// Close keeps the units the stream was granted and did not use on its tab.
func (k *Keeper) Close(ctx context.Context, s transport.Session, u transport.Usage) {
	k.mu.Lock()
	st := k.streams[s.ID]
	delete(k.streams, s.ID)
	k.mu.Unlock()
	if st == nil || st.tab == "" || st.granted <= u.Units {
		return
	}
	unused := st.granted - u.Units
	_, err := k.j.DB().ExecContext(ctx, `UPDATE tabs SET carry_units = carry_units + ?, updated_at = ? WHERE id = ? AND state = 'open'`,
		int64(unused), time.Now().Unix(), st.tab)
	if err != nil {
		k.log.Warn("tab carry not recorded", "tab", st.tab, "units", unused, "err", err)
	}
}

// Tab returns the buyer's open tab (ErrNoTab if none).
func (k *Keeper) Tab(ctx context.Context, buyer string) (Tab, error) {
	var t Tab
	err := k.j.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = openTab(ctx, tx, buyer)
		return err
	})
	return t, err
}

// Get returns a tab by id.
func (k *Keeper) Get(ctx context.Context, id string) (Tab, error) {
	var t Tab
	err := k.j.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = getTab(ctx, tx, `id = ?`, id)
		return err
	})
	return t, err
}

// Liabilities returns the sats owed on open and closing tabs (their
// balances and the sats value of their carried units): what the seller's
// wallet must keep.
func (k *Keeper) Liabilities(ctx context.Context) (uint64, error) {
	rows, err := k.j.DB().QueryContext(ctx, `SELECT id FROM tabs WHERE state IN ('open', 'closing')`)
	if err != nil {
		return 0, fmt.Errorf("tab: liabilities: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	var sum uint64
	for _, id := range ids {
		t, err := k.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		sum += t.Balance() + carrySats(t)
	}
	return sum, nil
}

// carrySats is the value of a tab's carried units, rounded down.
func carrySats(t Tab) uint64 {
	if t.StepUnits == 0 {
		return 0
	}
	return t.Carry * t.StepSats / t.StepUnits
}

const tabSelect = `SELECT id, counterparty, mint, debited, carry_units, step_units, step_sats, state, COALESCE(change_op, 0) FROM tabs WHERE `

// getTab reads one tab with its deposits summed from the journal's ops: a
// deposit counts once its receive op is done (or accepted offline).
func getTab(ctx context.Context, tx *sql.Tx, where string, args ...any) (Tab, error) {
	var t Tab
	var debited, carry, su, ss int64
	err := tx.QueryRowContext(ctx, tabSelect+where+` ORDER BY created_at DESC LIMIT 1`, args...).
		Scan(&t.ID, &t.Buyer, &t.Mint, &debited, &carry, &su, &ss, &t.State, &t.ChangeOp)
	if errors.Is(err, sql.ErrNoRows) {
		return Tab{}, ErrNoTab
	}
	if err != nil {
		return Tab{}, fmt.Errorf("tab: read: %w", err)
	}
	t.Debited, t.Carry, t.StepUnits, t.StepSats = uint64(debited), uint64(carry), uint64(su), uint64(ss)
	var dep sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT SUM(o.amount) FROM tab_deposits d JOIN ops o ON o.id = d.op_id
		WHERE d.tab_id = ? AND o.state IN (?, ?)`, t.ID, journal.StateDone, journal.StateQueued).Scan(&dep); err != nil {
		return Tab{}, fmt.Errorf("tab: deposits: %w", err)
	}
	t.Deposited = uint64(dep.Int64)
	return t, nil
}

func openTab(ctx context.Context, tx *sql.Tx, buyer string) (Tab, error) {
	return getTab(ctx, tx, `counterparty = ? AND state = 'open'`, buyer)
}
