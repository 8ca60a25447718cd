// Package budget enforces spending authorizations: an owner key signs a Nostr
// event allowing an agent key to spend up to so many sats per UTC day, and
// per counterparty per day, until an expiry. Any payment over it is refused
// with ErrOverBudget before any money moves; the owner revokes the
// authorization with a NIP-09 deletion (kind 5) naming it by id
// (["e", <authorization id>]) or by its address (["a", "<kind>:<owner>:<d>"]:
// every version of that address signed up to the deletion's created_at).
// A Guard knows its owners: authorizations and deletions signed by any
// other key (the agent's own included) are refused, and a stored
// authorization stops counting once its owner leaves the owner set.
//
// Authorization event (kind chosen by the caller, from the nips package;
// addressable, d = the agent, so an owner's newest authorization for an agent
// replaces the previous one):
//
//	tags: ["d", <agent pubkey>], ["p", <agent pubkey>], ["per_day", "<sats>"],
//	      ["per_counterparty", "<sats>"] (0 or absent: no per-counterparty cap),
//	      ["expiration", "<unix>"] (NIP-40, required)
//
// Guard implements cashu.Budget, so a wallet asks it before every payment.
package budget

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Errors.
var (
	ErrOverBudget   = fmt.Errorf("budget: %w", cashu.ErrOverBudget)
	ErrNoBudget     = errors.New("no valid spending authorization")
	ErrInvalidAuth  = errors.New("invalid spending authorization")
	ErrInvalidRevok = errors.New("invalid revocation")
	// ErrExpired is an authorization past its expiration: an expected
	// outcome (relays keep old authorizations), not a forgery.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalidAuth)
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
			{"d", a.Agent},
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

// Guard checks payments of one agent key against its owners'
// authorizations.
type Guard struct {
	j      *journal.Journal
	agent  string
	kinds  []int
	owners map[string]bool
	// ownerArgs and ownerIn are the owners as SQL arguments and the
	// matching "?, ?, ..." list.
	ownerArgs []any
	ownerIn   string
	now       func() time.Time
}

// NewGuard returns a guard for agent (hex pubkey) on the journal j;
// authorizations are events of kind (or of one of the older kinds also
// read), and only those signed by one of owners (hex pubkeys) count. The
// agent's own key is never an owner: an agent may not authorize itself.
func NewGuard(j *journal.Journal, agent string, kind int, owners []string, older ...int) *Guard {
	g := &Guard{j: j, agent: agent, kinds: append([]int{kind}, older...), owners: map[string]bool{}, now: time.Now}
	for _, o := range owners {
		if o == agent || g.owners[o] {
			continue
		}
		g.owners[o] = true
		g.ownerArgs = append(g.ownerArgs, o)
	}
	g.ownerIn = strings.TrimSuffix(strings.Repeat("?, ", len(g.ownerArgs)), ", ")
	return g
}

// IsOwner reports whether pubkey is one of the guard's owners.
func (g *Guard) IsOwner(pubkey string) bool { return g.owners[pubkey] }

// notOwner explains why author may not sign for this guard.
func (g *Guard) notOwner(author string) string {
	if author == g.agent {
		return "signed by the agent itself, not an owner"
	}
	return "signed by " + short(author) + ", not an owner"
}

// short abbreviates a hex pubkey for messages.
func short(pubkey string) string {
	if len(pubkey) > 12 {
		return pubkey[:12]
	}
	return pubkey
}

// Add stores an authorization after checking it is signed by an owner and
// for this agent.
func (g *Guard) Add(ctx context.Context, ev *nostr.Event) (Authorization, error) {
	if !slices.Contains(g.kinds, ev.Kind) {
		return Authorization{ID: ev.ID}, fmt.Errorf("%w: kind %d", ErrInvalidAuth, ev.Kind)
	}
	a, err := Parse(ev, ev.Kind)
	if err != nil {
		return a, err
	}
	if !g.IsOwner(a.Owner) {
		return a, fmt.Errorf("%w: %s", ErrInvalidAuth, g.notOwner(a.Owner))
	}
	if a.Agent != g.agent {
		return a, fmt.Errorf("%w: for another agent", ErrInvalidAuth)
	}
	if !a.Expires.After(g.now()) {
		return a, ErrExpired
	}
	_, err = g.j.DB().ExecContext(ctx, `INSERT INTO budget_auths (id, owner, agent, per_day, per_counterparty, expires_at, event)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		a.ID, a.Owner, a.Agent, int64(a.PerDay), int64(a.PerCounterparty), a.Expires.Unix(), ev.String())
	if err != nil {
		return a, fmt.Errorf("budget: store: %w", err)
	}
	return a, nil
}

// Revoke applies a NIP-09 deletion signed by an owner to the referenced
// authorizations of that owner, and returns how many it revoked. A
// deletion by anyone else is refused with ErrInvalidRevok.
func (g *Guard) Revoke(ctx context.Context, del *nostr.Event) (int, error) {
	if del.Kind != nostr.KindDeletion {
		return 0, fmt.Errorf("%w: not a deletion", ErrInvalidRevok)
	}
	if ok, err := del.CheckSignature(); err != nil || !ok {
		return 0, fmt.Errorf("%w: bad signature", ErrInvalidRevok)
	}
	if !g.IsOwner(del.PubKey) {
		return 0, fmt.Errorf("%w: %s", ErrInvalidRevok, g.notOwner(del.PubKey))
	}
	n := 0
	for _, t := range del.Tags {
		if len(t) >= 2 && t[0] == "a" {
			k, err := g.revokeAddress(ctx, del, t[1])
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
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

// revokeAddress revokes the owner's stored authorizations at the address
// coord ("<kind>:<owner>:<d>") signed up to the deletion's created_at
// (NIP-09). An address of another key or kind revokes nothing.
func (g *Guard) revokeAddress(ctx context.Context, del *nostr.Event, coord string) (int, error) {
	kind, rest, ok := strings.Cut(coord, ":")
	owner, d, ok2 := strings.Cut(rest, ":")
	k, err := strconv.Atoi(kind)
	if !ok || !ok2 || err != nil || owner != del.PubKey || !slices.Contains(g.kinds, k) {
		return 0, nil
	}
	rows, err := g.j.DB().QueryContext(ctx, `SELECT id, event FROM budget_auths WHERE owner = ? AND revoked_at IS NULL`, owner)
	if err != nil {
		return 0, fmt.Errorf("budget: revoke: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			rows.Close()
			return 0, fmt.Errorf("budget: revoke: %w", err)
		}
		var ev nostr.Event
		if json.Unmarshal([]byte(raw), &ev) != nil || ev.Kind != k || ev.CreatedAt > del.CreatedAt {
			continue
		}
		if ev.Tags.GetD() == d {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("budget: revoke: %w", err)
	}
	n := 0
	for _, id := range ids {
		res, err := g.j.DB().ExecContext(ctx, `UPDATE budget_auths SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, g.now().Unix(), id)
		if err != nil {
			return n, fmt.Errorf("budget: revoke: %w", err)
		}
		c, _ := res.RowsAffected()
		n += int(c)
	}
	return n, nil
}

// queryer reads rows: a transaction or the database.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// current returns the authorization payments are checked against at now
// (the newest valid one of a current owner), the sats spent under it that
// UTC day, and the part of those paid to counterparty; ErrNoBudget if
// there is none.
func (g *Guard) current(ctx context.Context, q queryer, now time.Time, counterparty string) (a Authorization, today, withCp uint64, err error) {
	if len(g.ownerArgs) == 0 {
		return a, 0, 0, fmt.Errorf("%w: no owner configured", ErrNoBudget)
	}
	var perDay, perCp, expires int64
	args := append([]any{g.agent, now.Unix()}, g.ownerArgs...)
	err = q.QueryRowContext(ctx, `SELECT id, owner, per_day, per_counterparty, expires_at FROM budget_auths
		WHERE agent = ? AND revoked_at IS NULL AND expires_at > ? AND owner IN (`+g.ownerIn+`)
		ORDER BY rowid DESC LIMIT 1`, args...).
		Scan(&a.ID, &a.Owner, &perDay, &perCp, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return a, 0, 0, ErrNoBudget
	}
	if err != nil {
		return a, 0, 0, fmt.Errorf("budget: %w", err)
	}
	a.Agent, a.PerDay, a.PerCounterparty, a.Expires = g.agent, uint64(perDay), uint64(perCp), time.Unix(expires, 0)
	var sum, cp sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT SUM(amount), SUM(CASE WHEN counterparty = ? THEN amount ELSE 0 END)
		FROM budget_spends WHERE auth_id = ? AND day = ? AND state != 'released'`, counterparty, a.ID, now.UTC().Unix()/86400).Scan(&sum, &cp); err != nil {
		return a, 0, 0, fmt.Errorf("budget: %w", err)
	}
	return a, uint64(sum.Int64), uint64(cp.Int64), nil
}

// Current returns the authorization payments are now checked against and
// the sats spent under it today (reserved or paid); ErrNoBudget if there
// is none.
func (g *Guard) Current(ctx context.Context) (Authorization, uint64, error) {
	a, today, _, err := g.current(ctx, g.j.DB(), g.now(), "")
	return a, today, err
}

// Reserve implements cashu.Budget: it reserves sats for counterparty under
// the newest valid authorization of a current owner, or refuses.
func (g *Guard) Reserve(ctx context.Context, counterparty string, sats uint64) (func(context.Context, bool) error, error) {
	now := g.now()
	day := now.UTC().Unix() / 86400
	var spendID int64
	err := g.j.Tx(ctx, func(tx *sql.Tx) error {
		a, today, withCp, err := g.current(ctx, tx, now, counterparty)
		if err != nil {
			return err
		}
		if today+sats > a.PerDay {
			return fmt.Errorf("%w: %d sat today + %d > %d per day", ErrOverBudget, today, sats, a.PerDay)
		}
		if a.PerCounterparty > 0 && withCp+sats > a.PerCounterparty {
			return fmt.Errorf("%w: %d sat to this counterparty today + %d > %d", ErrOverBudget, withCp, sats, a.PerCounterparty)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO budget_spends (auth_id, counterparty, amount, day, state, created_at)
			VALUES (?, ?, ?, ?, 'reserved', ?)`, a.ID, counterparty, int64(sats), day, now.Unix())
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
