// Package budget enforces spending authorizations: an owner key signs a Nostr
// event allowing an agent key to spend up to so many sats per UTC day, and
// per counterparty per day, until an expiry. Any payment over it is refused
// with ErrOverBudget before any money moves; the owner revokes the
// authorization with a NIP-09 deletion (kind 5, ["e", <authorization id>]).
//
// Authorization event (kind chosen by the caller, from the nips package):
//
//	tags: ["p", <agent pubkey>], ["per_day", "<sats>"],
//	      ["per_counterparty", "<sats>"] (0 or absent: no per-counterparty cap),
//	      ["expiration", "<unix>"] (NIP-40, required)
//
// Guard implements cashu.Budget, so a wallet asks it before every payment.
package budget

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Errors.
var (
	ErrOverBudget   = errors.New("payment over budget")
	ErrNoBudget     = errors.New("no valid spending authorization")
	ErrInvalidAuth  = errors.New("invalid spending authorization")
	ErrInvalidRevok = errors.New("invalid revocation")
)

// Authorization is a parsed spending authorization.
type Authorization struct {
	ID              string
	Owner           string
	Agent           string
	PerDay          uint64
	PerCounterparty uint64
	Expires         time.Time
}

// Sign makes and signs an authorization event with the owner's secret key.
func Sign(ownerSK string, kind int, a Authorization) (*nostr.Event, error) {
	ev := &nostr.Event{
		Kind:      kind,
		CreatedAt: nostr.Now(),
		Tags: nostr.Tags{
			{"p", a.Agent},
			{"per_day", strconv.FormatUint(a.PerDay, 10)},
			{"per_counterparty", strconv.FormatUint(a.PerCounterparty, 10)},
			{"expiration", strconv.FormatInt(a.Expires.Unix(), 10)},
		},
	}
	if err := ev.Sign(ownerSK); err != nil {
		return nil, fmt.Errorf("budget: sign: %w", err)
	}
	return ev, nil
}

// Parse checks an authorization event's signature and fields.
func Parse(ev *nostr.Event, kind int) (Authorization, error) {
	if ev.Kind != kind {
		return Authorization{}, fmt.Errorf("%w: kind %d", ErrInvalidAuth, ev.Kind)
	}
	if ok, err := ev.CheckSignature(); err != nil || !ok {
		return Authorization{}, fmt.Errorf("%w: bad signature", ErrInvalidAuth)
	}
	a := Authorization{ID: ev.ID, Owner: ev.PubKey}
	var err error
	get := func(name string) string {
		if t := ev.Tags.Find(name); len(t) >= 2 {
			return t[1]
		}
		return ""
	}
	if a.Agent = get("p"); !nostr.IsValid32ByteHex(a.Agent) {
		return a, fmt.Errorf("%w: missing or bad p tag", ErrInvalidAuth)
	}
	if a.PerDay, err = strconv.ParseUint(get("per_day"), 10, 63); err != nil {
		return a, fmt.Errorf("%w: per_day", ErrInvalidAuth)
	}
	if s := get("per_counterparty"); s != "" {
		if a.PerCounterparty, err = strconv.ParseUint(s, 10, 63); err != nil {
			return a, fmt.Errorf("%w: per_counterparty", ErrInvalidAuth)
		}
	}
	exp, err := strconv.ParseInt(get("expiration"), 10, 64)
	if err != nil || exp <= 0 {
		return a, fmt.Errorf("%w: expiration required", ErrInvalidAuth)
	}
	a.Expires = time.Unix(exp, 0)
	return a, nil
}

// Guard checks payments of one agent key against its authorizations.
type Guard struct {
	j     *journal.Journal
	agent string
	kind  int
	now   func() time.Time
}

// NewGuard returns a guard for agent (hex pubkey) on the journal j;
// authorizations are events of kind.
func NewGuard(j *journal.Journal, agent string, kind int) *Guard {
	return &Guard{j: j, agent: agent, kind: kind, now: time.Now}
}

// Add stores an authorization after checking it is signed and for this agent.
func (g *Guard) Add(ctx context.Context, ev *nostr.Event) (Authorization, error) {
	a, err := Parse(ev, g.kind)
	if err != nil {
		return a, err
	}
	if a.Agent != g.agent {
		return a, fmt.Errorf("%w: for another agent", ErrInvalidAuth)
	}
	if !a.Expires.After(g.now()) {
		return a, fmt.Errorf("%w: expired", ErrInvalidAuth)
	}
	_, err = g.j.DB().ExecContext(ctx, `INSERT INTO budget_auths (id, owner, agent, per_day, per_counterparty, expires_at, event)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		a.ID, a.Owner, a.Agent, int64(a.PerDay), int64(a.PerCounterparty), a.Expires.Unix(), ev.String())
	if err != nil {
		return a, fmt.Errorf("budget: store: %w", err)
	}
	return a, nil
}

// Revoke applies a NIP-09 deletion signed by the owner of the referenced
// authorizations.
func (g *Guard) Revoke(ctx context.Context, del *nostr.Event) (int, error) {
	if del.Kind != nostr.KindDeletion {
		return 0, fmt.Errorf("%w: not a deletion", ErrInvalidRevok)
	}
	if ok, err := del.CheckSignature(); err != nil || !ok {
		return 0, fmt.Errorf("%w: bad signature", ErrInvalidRevok)
	}
	n := 0
	for _, t := range del.Tags {
		if len(t) < 2 || t[0] != "e" {
			continue
		}
		res, err := g.j.DB().ExecContext(ctx, `UPDATE budget_auths SET revoked_at = ? WHERE id = ? AND owner = ? AND revoked_at IS NULL`,
			g.now().Unix(), t[1], del.PubKey)
		if err != nil {
			return n, fmt.Errorf("budget: revoke: %w", err)
		}
		c, _ := res.RowsAffected()
		n += int(c)
	}
	return n, nil
}

// Reserve implements cashu.Budget: it reserves sats for counterparty under
// the newest valid authorization, or refuses.
func (g *Guard) Reserve(ctx context.Context, counterparty string, sats uint64) (func(context.Context, bool) error, error) {
	now := g.now()
	day := now.UTC().Unix() / 86400
	var spendID int64
	err := g.j.Tx(ctx, func(tx *sql.Tx) error {
		var id string
		var perDay, perCp int64
		err := tx.QueryRowContext(ctx, `SELECT id, per_day, per_counterparty FROM budget_auths
			WHERE agent = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY rowid DESC LIMIT 1`, g.agent, now.Unix()).
			Scan(&id, &perDay, &perCp)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoBudget
		}
		if err != nil {
			return fmt.Errorf("budget: %w", err)
		}
		var today, withCp sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT SUM(amount), SUM(CASE WHEN counterparty = ? THEN amount ELSE 0 END)
			FROM budget_spends WHERE auth_id = ? AND day = ? AND state != 'released'`, counterparty, id, day).Scan(&today, &withCp); err != nil {
			return fmt.Errorf("budget: %w", err)
		}
		if uint64(today.Int64)+sats > uint64(perDay) {
			return fmt.Errorf("%w: %d sat today + %d > %d per day", ErrOverBudget, today.Int64, sats, perDay)
		}
		if perCp > 0 && uint64(withCp.Int64)+sats > uint64(perCp) {
			return fmt.Errorf("%w: %d sat to this counterparty today + %d > %d", ErrOverBudget, withCp.Int64, sats, perCp)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO budget_spends (auth_id, counterparty, amount, day, state, created_at)
			VALUES (?, ?, ?, ?, 'reserved', ?)`, id, counterparty, int64(sats), day, now.Unix())
		if err != nil {
			return fmt.Errorf("budget: %w", err)
		}
		spendID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, paid bool) error {
		state := "released"
		if paid {
			state = "spent"
		}
		_, err := g.j.DB().ExecContext(ctx, `UPDATE budget_spends SET state = ? WHERE id = ?`, state, spendID)
		return err
	}, nil
}
