// Package state is agentd's SQLite database (migrations/agentd): market
// sessions, the money ledger, stored files, measured providers and the
// local spending budget.
package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/internal/sqlitedb"
	"github.com/sovmesh/sovmesh/nips"
)

// ErrNotFound means no such row.
var ErrNotFound = errors.New("state: not found")

// Roles of a session.
const (
	RoleBuyer    = "buyer"
	RoleProvider = "provider"
)

// Ledger kinds.
const (
	Earn   = "earn"
	Change = "change"
	Spend  = "spend"
	Refund = "refund"
	// Lost writes off an earning accepted offline that the mint refused
	// when the wallet swapped it (the token was spent elsewhere).
	Lost = "lost"
)

// DB is the state database.
type DB struct {
	db  *sql.DB
	now func() time.Time
	// txMu serializes this process's read-then-write transactions, which
	// SQLite would otherwise fail with "database is locked" under
	// concurrency instead of waiting.
	txMu sync.Mutex
}

// Open opens (creating) the database at path.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := sqlitedb.Open(ctx, path, "agentd")
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return &DB{db: db, now: time.Now}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Session is one market session.
type Session struct {
	ID           string
	Role         string
	Resource     nips.Resource
	Counterparty string
	MatchID      string
	Offer        string
	Prices       nips.Prices
	Quantity     uint64
	Duration     uint64
	AmountMsat   uint64
	PaidMsat     uint64
	Delivered    uint64
	State        string
	ReceiptID    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// PutSession inserts a session or updates its match fields.
func (d *DB) PutSession(ctx context.Context, s Session) error {
	prices, _ := json.Marshal(s.Prices)
	now := d.now().Unix()
	_, err := d.db.ExecContext(ctx, `INSERT INTO sessions (id, role, resource, counterparty, match_id, offer, prices, quantity, duration, amount_msat, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET match_id = excluded.match_id, prices = excluded.prices, quantity = excluded.quantity,
			duration = excluded.duration, amount_msat = excluded.amount_msat, updated_at = excluded.updated_at`,
		s.ID, s.Role, string(s.Resource), s.Counterparty, s.MatchID, s.Offer, string(prices), s.Quantity, s.Duration, s.AmountMsat, now, now)
	if err != nil {
		return fmt.Errorf("state: put session: %w", err)
	}
	return nil
}

// AddUsage adds paid millisats and delivered units to a session.
func (d *DB) AddUsage(ctx context.Context, id string, paidMsat, delivered uint64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE sessions SET paid_msat = paid_msat + ?, delivered = delivered + ?, updated_at = ? WHERE id = ?`,
		paidMsat, delivered, d.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("state: add usage: %w", err)
	}
	return nil
}

// SubPaid takes millisats back from a session (change returned).
func (d *DB) SubPaid(ctx context.Context, id string, msat uint64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE sessions SET paid_msat = MAX(paid_msat - ?, 0), updated_at = ? WHERE id = ?`, msat, d.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("state: sub paid: %w", err)
	}
	return nil
}

// FinishSession sets a session's final state and receipt.
func (d *DB) FinishSession(ctx context.Context, id, st, receiptID string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE sessions SET state = ?, receipt_id = CASE WHEN ? = '' THEN receipt_id ELSE ? END, updated_at = ? WHERE id = ?`,
		st, receiptID, receiptID, d.now().Unix(), id)
	if err != nil {
		return fmt.Errorf("state: finish session: %w", err)
	}
	return nil
}

const sessionCols = `id, role, resource, counterparty, match_id, offer, prices, quantity, duration, amount_msat, paid_msat, delivered, state, receipt_id, created_at, updated_at`

func scanSession(sc interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var res, prices string
	var c, u int64
	if err := sc.Scan(&s.ID, &s.Role, &res, &s.Counterparty, &s.MatchID, &s.Offer, &prices, &s.Quantity, &s.Duration,
		&s.AmountMsat, &s.PaidMsat, &s.Delivered, &s.State, &s.ReceiptID, &c, &u); err != nil {
		return s, err
	}
	s.Resource = nips.Resource(res)
	_ = json.Unmarshal([]byte(prices), &s.Prices)
	s.CreatedAt, s.UpdatedAt = time.Unix(c, 0), time.Unix(u, 0)
	return s, nil
}

// GetSession returns one session.
func (d *DB) GetSession(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(d.db.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("state: get session: %w", err)
	}
	return s, nil
}

// LatestOpen returns the newest open session of role with counterparty
// for resource.
func (d *DB) LatestOpen(ctx context.Context, role, counterparty string, r nips.Resource) (Session, error) {
	s, err := scanSession(d.db.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions
		WHERE role = ? AND counterparty = ? AND resource = ? AND state = 'open' ORDER BY created_at DESC, rowid DESC LIMIT 1`,
		role, counterparty, string(r)))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("state: latest session: %w", err)
	}
	return s, nil
}

// Sessions lists sessions, newest first (limit <= 0: 100).
func (d *DB) Sessions(ctx context.Context, limit int) ([]Session, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions ORDER BY updated_at DESC, rowid DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("state: sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("state: sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Entry is one ledger line.
type Entry struct {
	Session      string
	Kind         string
	Counterparty string
	Resource     nips.Resource
	Sats         uint64
	Fee          uint64
	OpID         int64
	// Offline marks an earning accepted while the mint could not be
	// reached: unconfirmed until SettleOffline confirms or writes it off.
	Offline   bool
	CreatedAt time.Time
}

// Record appends a ledger line.
func (d *DB) Record(ctx context.Context, e Entry) error {
	insert := func(x interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		_, err := x.ExecContext(ctx, `INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Session, e.Kind, e.Counterparty, string(e.Resource), e.Sats, e.Fee, e.OpID, d.now().Unix())
		return err
	}
	var err error
	if e.Offline && e.Kind == Earn && e.OpID != 0 {
		err = d.tx(ctx, func(tx *sql.Tx) error {
			if err := insert(tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO offline_earnings (op_id, created_at) VALUES (?, ?) ON CONFLICT(op_id) DO NOTHING`, e.OpID, d.now().Unix())
			return err
		})
	} else {
		err = insert(d.db)
	}
	if err != nil {
		return fmt.Errorf("state: record: %w", err)
	}
	return nil
}

// OfflineOps returns the payment journal ops of the earnings accepted
// offline and not settled yet, oldest first.
func (d *DB) OfflineOps(ctx context.Context) ([]int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT op_id FROM offline_earnings ORDER BY op_id`)
	if err != nil {
		return nil, fmt.Errorf("state: offline earnings: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("state: offline earnings: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SettleOffline records the outcome of an earning accepted offline, once
// the wallet swapped its op at the mint (swapped true) or the mint refused
// it: then every earning of the op is written off by a Lost line, in the
// same transaction. It returns the sats written off. An op not (or no
// longer) unsettled is a no-op, so a repeated call changes nothing.
func (d *DB) SettleOffline(ctx context.Context, opID int64, swapped bool) (lost uint64, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM offline_earnings WHERE op_id = ?`, opID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || swapped {
			return nil
		}
		var sats sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT SUM(sats) FROM ledger WHERE kind = ? AND op_id = ?`, Earn, opID).Scan(&sats); err != nil {
			return err
		}
		lost = uint64(sats.Int64)
		_, err = tx.ExecContext(ctx, `INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at)
			SELECT session, ?, counterparty, resource, sats, fee, op_id, ? FROM ledger WHERE kind = ? AND op_id = ?`,
			Lost, d.now().Unix(), Earn, opID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("state: settle offline earning of op %d: %w", opID, err)
	}
	return lost, nil
}

// Totals sums the ledger by kind, since the given time (zero: all).
type Totals struct {
	Earned, Change, Spent, Refunded uint64
	// Fees is the mint fees our own payments (spend and change lines) cost
	// beyond their sats: the balance dropped by their sats plus Fees.
	Fees uint64
	// ReceiveFees is the mint fees of swapping the tokens we received (earn
	// and refund lines), which their payers put in the tokens on top of the
	// sats credited: informational, not paid from our balance. A written-off
	// earning's fee is not in it (it was never paid).
	ReceiveFees uint64
	// Lost is earnings accepted offline that the mint then refused.
	Lost uint64
	// Unconfirmed is the part of Earned accepted offline and not swapped
	// at the mint yet.
	Unconfirmed uint64
	// ByResource is net earnings (earn - change - lost) per resource.
	ByResource map[nips.Resource]uint64
}

// Net returns earned minus change and losses (a provider's earnings).
func (t Totals) Net() uint64 { return t.Earned - min(t.Earned, t.Change+t.Lost) }

// NetSpent returns spent minus refunds (a buyer's spend).
func (t Totals) NetSpent() uint64 { return t.Spent - min(t.Spent, t.Refunded) }

// Totals returns the ledger totals since since.
func (d *DB) Totals(ctx context.Context, since time.Time) (Totals, error) {
	t := Totals{ByResource: map[nips.Resource]uint64{}}
	rows, err := d.db.QueryContext(ctx, `SELECT kind, resource, SUM(sats), SUM(fee) FROM ledger WHERE created_at >= ? GROUP BY kind, resource`, since.Unix())
	if err != nil {
		return t, fmt.Errorf("state: totals: %w", err)
	}
	defer rows.Close()
	change := map[nips.Resource]uint64{}
	var lostFees uint64
	defer func() {
		for r, c := range change {
			t.ByResource[r] -= min(c, t.ByResource[r])
		}
	}()
	for rows.Next() {
		var kind, res string
		var sats, fee uint64
		if err := rows.Scan(&kind, &res, &sats, &fee); err != nil {
			return t, fmt.Errorf("state: totals: %w", err)
		}
		switch kind {
		case Earn:
			t.Earned += sats
			t.ReceiveFees += fee
			t.ByResource[nips.Resource(res)] += sats
		case Change:
			t.Change += sats
			t.Fees += fee
			change[nips.Resource(res)] += sats
		case Spend:
			t.Spent += sats
			t.Fees += fee
		case Refund:
			t.Refunded += sats
			t.ReceiveFees += fee
		case Lost:
			t.Lost += sats
			lostFees += fee // the written-off earning's swap fee: never paid
			change[nips.Resource(res)] += sats
		}
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("state: totals: %w", err)
	}
	t.ReceiveFees -= min(lostFees, t.ReceiveFees)
	var unconfirmed sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT SUM(l.sats) FROM ledger l JOIN offline_earnings o ON o.op_id = l.op_id
		WHERE l.kind = ? AND l.created_at >= ?`, Earn, since.Unix()).Scan(&unconfirmed); err != nil {
		return t, fmt.Errorf("state: totals: %w", err)
	}
	t.Unconfirmed = uint64(unconfirmed.Int64)
	return t, nil
}

// File is a stored file's public facts.
type File struct {
	Root      string
	Name      string
	Size      int64
	Providers []string
	CreatedAt time.Time
}

// PutFile records a stored file.
func (d *DB) PutFile(ctx context.Context, f File) error {
	p, _ := json.Marshal(f.Providers)
	_, err := d.db.ExecContext(ctx, `INSERT OR REPLACE INTO files (root, name, size, providers, created_at) VALUES (?, ?, ?, ?, ?)`,
		f.Root, f.Name, f.Size, string(p), d.now().Unix())
	if err != nil {
		return fmt.Errorf("state: put file: %w", err)
	}
	return nil
}

// Files lists stored files.
func (d *DB) Files(ctx context.Context) ([]File, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT root, name, size, providers, created_at FROM files ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("state: files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		var f File
		var p string
		var c int64
		if err := rows.Scan(&f.Root, &f.Name, &f.Size, &p, &c); err != nil {
			return nil, fmt.Errorf("state: files: %w", err)
		}
		_ = json.Unmarshal([]byte(p), &f.Providers)
		f.CreatedAt = time.Unix(c, 0)
		out = append(out, f)
	}
	return out, rows.Err()
}

// ProviderStat is a buyer's measurement of a provider.
type ProviderStat struct {
	Pubkey    string
	LatencyMs uint64
	OK        uint64
	Failed    uint64
	UpdatedAt time.Time
}

// Observe records a latency measurement (0: none) and an outcome.
func (d *DB) Observe(ctx context.Context, pubkey string, latency time.Duration, ok bool) error {
	okN, failN := 0, 0
	if ok {
		okN = 1
	} else {
		failN = 1
	}
	ms := latency.Milliseconds()
	_, err := d.db.ExecContext(ctx, `INSERT INTO providers (pubkey, latency_ms, ok, failed, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(pubkey) DO UPDATE SET
			latency_ms = CASE WHEN excluded.latency_ms > 0 THEN (CASE WHEN providers.latency_ms = 0 THEN excluded.latency_ms ELSE (providers.latency_ms * 3 + excluded.latency_ms) / 4 END) ELSE providers.latency_ms END,
			ok = providers.ok + excluded.ok, failed = providers.failed + excluded.failed, updated_at = excluded.updated_at`,
		pubkey, ms, okN, failN, d.now().Unix())
	if err != nil {
		return fmt.Errorf("state: observe: %w", err)
	}
	return nil
}

// Providers returns every measured provider.
func (d *DB) Providers(ctx context.Context) (map[string]ProviderStat, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT pubkey, latency_ms, ok, failed, updated_at FROM providers`)
	if err != nil {
		return nil, fmt.Errorf("state: providers: %w", err)
	}
	defer rows.Close()
	out := map[string]ProviderStat{}
	for rows.Next() {
		var p ProviderStat
		var u int64
		if err := rows.Scan(&p.Pubkey, &p.LatencyMs, &p.OK, &p.Failed, &u); err != nil {
			return nil, fmt.Errorf("state: providers: %w", err)
		}
		p.UpdatedAt = time.Unix(u, 0)
		out[p.Pubkey] = p
	}
	return out, rows.Err()
}

// LedgerByResource sums spends and refunds of one resource (e.g. relay fees).
func (d *DB) LedgerByResource(ctx context.Context, resource string) (Totals, error) {
	t := Totals{ByResource: map[nips.Resource]uint64{}}
	rows, err := d.db.QueryContext(ctx, `SELECT kind, SUM(sats) FROM ledger WHERE resource = ? GROUP BY kind`, resource)
	if err != nil {
		return t, fmt.Errorf("state: ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var sats uint64
		if err := rows.Scan(&kind, &sats); err != nil {
			return t, err
		}
		switch kind {
		case Spend:
			t.Spent = sats
		case Refund:
			t.Refunded = sats
		case Earn:
			t.Earned = sats
		case Change:
			t.Change = sats
		case Lost:
			t.Lost = sats
		}
	}
	return t, rows.Err()
}

// TakeCredit removes and returns the units held for buyer on resource.
func (d *DB) TakeCredit(ctx context.Context, buyer string, r nips.Resource) (uint64, error) {
	var units uint64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT units FROM credit WHERE buyer = ? AND resource = ?`, buyer, string(r)).Scan(&units)
		if errors.Is(err, sql.ErrNoRows) {
			units = 0
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM credit WHERE buyer = ? AND resource = ?`, buyer, string(r))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("state: take credit: %w", err)
	}
	return units, nil
}

// AddCredit keeps units for buyer on resource.
func (d *DB) AddCredit(ctx context.Context, buyer string, r nips.Resource, units uint64) error {
	if units == 0 {
		return nil
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO credit (buyer, resource, units) VALUES (?, ?, ?)
		ON CONFLICT(buyer, resource) DO UPDATE SET units = MIN(credit.units + excluded.units, 9223372036854775807)`, buyer, string(r), min(units, 1<<62))
	if err != nil {
		return fmt.Errorf("state: add credit: %w", err)
	}
	return nil
}

// NextAuditRound returns the next unused storage-proof round of a file.
func (d *DB) NextAuditRound(ctx context.Context, root string) (int, error) {
	var round int
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO files (root, name, size, providers, created_at) VALUES (?, '', 0, '[]', ?) ON CONFLICT(root) DO NOTHING`, root, d.now().Unix()); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT audit_round FROM files WHERE root = ?`, root).Scan(&round); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE files SET audit_round = audit_round + 1 WHERE root = ?`, root)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("state: audit round: %w", err)
	}
	return round, nil
}

// DeleteFile forgets a stored file.
func (d *DB) DeleteFile(ctx context.Context, root string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM files WHERE root = ?`, root); err != nil {
		return fmt.Errorf("state: delete file: %w", err)
	}
	return nil
}

// KeepChunk records that the provider holds cid (size bytes) for owner,
// put in session (a storage session id, or "" for none), until expires. A
// later put of the same chunk extends the period, and the later session
// owns it.
func (d *DB) KeepChunk(ctx context.Context, cid, owner, session string, size int, expires time.Time) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO chunks (cid, owner, expires_at, session, size) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(cid) DO UPDATE SET expires_at = MAX(chunks.expires_at, excluded.expires_at),
			session = CASE WHEN excluded.expires_at >= chunks.expires_at THEN excluded.session ELSE chunks.session END,
			size = excluded.size`,
		cid, owner, expires.Unix(), session, size)
	if err != nil {
		return fmt.Errorf("state: keep chunk: %w", err)
	}
	return nil
}

// SessionChunks returns up to limit CIDs of the chunks session put (in CID
// order), and how many chunks and bytes the session holds in all.
func (d *DB) SessionChunks(ctx context.Context, session string, limit int) (cids []string, count int, bytes uint64, err error) {
	var n, b sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(size) FROM chunks WHERE session = ?`, session).Scan(&n, &b); err != nil {
		return nil, 0, 0, fmt.Errorf("state: session chunks: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT cid FROM chunks WHERE session = ? ORDER BY cid LIMIT ?`, session, limit)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("state: session chunks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, 0, 0, fmt.Errorf("state: session chunks: %w", err)
		}
		cids = append(cids, c)
	}
	return cids, int(n.Int64), uint64(b.Int64), rows.Err()
}

// ExpiredChunk is a chunk whose storage period has passed.
type ExpiredChunk struct{ CID, Owner string }

// ExpiredChunks returns up to limit chunks expired before now.
func (d *DB) ExpiredChunks(ctx context.Context, now time.Time, limit int) ([]ExpiredChunk, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT cid, owner FROM chunks WHERE expires_at < ? ORDER BY expires_at LIMIT ?`, now.Unix(), limit)
	if err != nil {
		return nil, fmt.Errorf("state: expired chunks: %w", err)
	}
	defer rows.Close()
	var out []ExpiredChunk
	for rows.Next() {
		var c ExpiredChunk
		if err := rows.Scan(&c.CID, &c.Owner); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ForgetChunk drops a chunk's record.
func (d *DB) ForgetChunk(ctx context.Context, cid string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM chunks WHERE cid = ?`, cid); err != nil {
		return fmt.Errorf("state: forget chunk: %w", err)
	}
	return nil
}
