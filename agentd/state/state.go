// Package state holds agentd's records: market sessions, stored files and
// unfinished puts, measured providers and the event cache in agentd.db
// (migrations/agentd), and the money ledger, the local spending budget and
// a provider's per-session credit, which live in the payment journal's
// pay.db (migrations/pay 0004, 0008) so each entry is written in its wallet
// operation's transaction.
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
)

// DB is the state database. The ledger, the budget and the credit are in the payment
// journal's file (pay), so that each line is written in the transaction of
// the wallet operation it records; the rest is in agentd.db (db).
type DB struct {
	db  *sql.DB
	pay *sql.DB
	now func() time.Time
	// txMu serializes this process's read-then-write transactions, which
	// SQLite would otherwise fail with "database is locked" under
	// concurrency instead of waiting.
	txMu sync.Mutex
	// gmu guards group (groupTx).
	gmu   sync.Mutex
	group groupCommit
	// stmts holds the statements the data path runs for every chunk or
	// stripe, prepared once (txStmt).
	stmts stmtCache
}

// Open opens (creating) the database at path, with the ledger and budget
// in pay, the payment journal's database (journal.Journal.DB), which the
// caller owns. Ledger and budget rows an older version kept in path are
// moved to pay.
func Open(ctx context.Context, path string, pay *sql.DB) (*DB, error) {
	db, err := sqlitedb.Open(ctx, path, "agentd")
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	d := &DB{db: db, pay: pay, now: time.Now}
	if err := d.moveLedger(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := d.moveCredit(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes agentd.db (not the payment journal).
func (d *DB) Close() error {
	d.stmts.close()
	return d.db.Close()
}

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

// Activity is what the sessions of one resource came to.
type Activity struct {
	Sessions, Open int
	// Delivered is the sum of the sessions' delivered units as counted
	// (bytes for storage and bandwidth, tokens for inference).
	Delivered uint64
}

// Activity sums the sessions in role created since since, by resource.
func (d *DB) Activity(ctx context.Context, role string, since time.Time) (map[nips.Resource]Activity, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT resource, COUNT(*), SUM(state = 'open'), SUM(delivered) FROM sessions
		WHERE role = ? AND created_at >= ? GROUP BY resource`, role, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("state: activity: %w", err)
	}
	defer rows.Close()
	out := map[nips.Resource]Activity{}
	for rows.Next() {
		var res string
		var a Activity
		if err := rows.Scan(&res, &a.Sessions, &a.Open, &a.Delivered); err != nil {
			return nil, fmt.Errorf("state: activity: %w", err)
		}
		out[nips.Resource(res)] = a
	}
	return out, rows.Err()
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

// KeptChunk is a chunk the provider holds for Owner, put in Session (a
// storage session id, or "" for none).
type KeptChunk struct {
	CID, Owner, Session string
	Size                int
}

// DefaultKeep is how long a chunk put in no session, or in a session of no
// duration, is kept.
const DefaultKeep = 24 * time.Hour

// KeepChunk records that the provider holds c until now plus its session's
// duration (DefaultKeep for none); ErrNotFound: no such session. A later
// put of the same chunk extends the period, and the later session owns it.
// Concurrent calls are committed together (groupTx).
func (d *DB) KeepChunk(ctx context.Context, c KeptChunk, now time.Time) error {
	err := d.groupTx(ctx, func(tx *sql.Tx) error {
		dur := DefaultKeep
		if c.Session != "" {
			var secs int64
			sel, err := d.txStmt(ctx, tx, `SELECT duration FROM sessions WHERE id = ?`)
			if err != nil {
				return err
			}
			err = sel.QueryRowContext(ctx, c.Session).Scan(&secs)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("session %s: %w", c.Session, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if secs > 0 {
				dur = time.Duration(secs) * time.Second
			}
		}
		return d.txExec(ctx, tx, `INSERT INTO chunks (cid, owner, expires_at, session, size) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(cid) DO UPDATE SET expires_at = MAX(chunks.expires_at, excluded.expires_at),
			session = CASE WHEN excluded.expires_at >= chunks.expires_at THEN excluded.session ELSE chunks.session END,
			size = excluded.size`,
			c.CID, c.Owner, now.Add(dur).Unix(), c.Session, c.Size)
	})
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
