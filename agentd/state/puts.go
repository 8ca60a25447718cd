package state

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrJournalMismatch means a stripe's shards differ from the journal's:
// the file changed since its put began.
var ErrJournalMismatch = errors.New("state: stripe differs from the put journal (the file changed)")

// Put is an unfinished put in the put journal (migrations/agentd/0008).
type Put struct {
	ID      int64
	Path    string // absolute; "" for a put of a stream
	Name    string
	Size    int64
	ModTime time.Time
	// Key is the file key, hex (a secret: never log it).
	Key          string
	ChunkSize    int
	DataShards   int
	ParityShards int
	Providers    []string
	// Sessions are the market sessions the put pays its providers in, one
	// per provider in the same order ("" where none is known): a resumed
	// put names them again while they are open.
	Sessions []string
	// Stripes is how many stripes were begun, Stored how many of them
	// every provider acknowledged.
	Stripes, Stored int
	CreatedAt       time.Time
}

// BeginPut journals a new put and returns its id.
func (d *DB) BeginPut(ctx context.Context, p Put) (int64, error) {
	provs, _ := json.Marshal(p.Providers)
	sess, _ := json.Marshal(nonNil(p.Sessions))
	now := d.now().Unix()
	res, err := d.db.ExecContext(ctx, `INSERT INTO puts (path, name, size, mtime, file_key, chunk_size, data_shards, parity_shards, providers, sessions, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Path, p.Name, p.Size, p.ModTime.UnixNano(), p.Key, p.ChunkSize, p.DataShards, p.ParityShards, string(provs), string(sess), now, now)
	if err != nil {
		return 0, fmt.Errorf("state: begin put: %w", err)
	}
	return res.LastInsertId()
}

const putColumns = `id, path, name, size, mtime, file_key, chunk_size, data_shards, parity_shards, providers, sessions, created_at,
	(SELECT COUNT(*) FROM put_stripes WHERE put = puts.id), (SELECT COUNT(*) FROM put_stripes WHERE put = puts.id AND stored = 1)`

func scanPut(sc interface{ Scan(...any) error }) (Put, error) {
	var p Put
	var mtime, created int64
	var provs, sess string
	if err := sc.Scan(&p.ID, &p.Path, &p.Name, &p.Size, &mtime, &p.Key, &p.ChunkSize, &p.DataShards, &p.ParityShards, &provs, &sess, &created,
		&p.Stripes, &p.Stored); err != nil {
		return p, err
	}
	p.ModTime, p.CreatedAt = time.Unix(0, mtime), time.Unix(created, 0)
	if err := json.Unmarshal([]byte(provs), &p.Providers); err != nil {
		return p, fmt.Errorf("put %d: providers: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(sess), &p.Sessions); err != nil {
		return p, fmt.Errorf("put %d: sessions: %w", p.ID, err)
	}
	return p, nil
}

// GetPut returns the unfinished put id.
func (d *DB) GetPut(ctx context.Context, id int64) (Put, error) {
	p, err := scanPut(d.db.QueryRowContext(ctx, `SELECT `+putColumns+` FROM puts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("state: put %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("state: put %d: %w", id, err)
	}
	return p, nil
}

// Puts lists the unfinished puts, oldest first.
func (d *DB) Puts(ctx context.Context) ([]Put, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+putColumns+` FROM puts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("state: puts: %w", err)
	}
	defer rows.Close()
	var out []Put
	for rows.Next() {
		p, err := scanPut(rows)
		if err != nil {
			return nil, fmt.Errorf("state: puts: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetPutProviders replaces a put's providers (one of them is gone). What
// was stored is no longer known per stripe: every begun stripe is asked
// for again, shard by shard.
func (d *DB) SetPutProviders(ctx context.Context, id int64, providers []string) error {
	provs, _ := json.Marshal(providers)
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE puts SET providers = ?, updated_at = ? WHERE id = ?`, string(provs), d.now().Unix(), id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE put_stripes SET stored = 0 WHERE put = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: put %d providers: %w", id, err)
	}
	return nil
}

// SetPutSessions records the market sessions a put pays its providers in
// (one per provider, in their order).
func (d *DB) SetPutSessions(ctx context.Context, id int64, sessions []string) error {
	sess, _ := json.Marshal(nonNil(sessions))
	if _, err := d.db.ExecContext(ctx, `UPDATE puts SET sessions = ?, updated_at = ? WHERE id = ?`, string(sess), d.now().Unix(), id); err != nil {
		return fmt.Errorf("state: put %d sessions: %w", id, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// BeginStripe records the shard CIDs (concatenated) of a put's stripe
// before they are sent and reports whether the stripe was begun before,
// and whether it was stored. It fails with ErrJournalMismatch if the
// journal holds other CIDs for it.
func (d *DB) BeginStripe(ctx context.Context, id int64, stripe int, cids []byte) (begun, stored bool, err error) {
	err = d.groupTx(ctx, func(tx *sql.Tx) error {
		var old []byte
		var st int
		sel, err := d.txStmt(ctx, tx, `SELECT cids, stored FROM put_stripes WHERE put = ? AND stripe = ?`)
		if err != nil {
			return err
		}
		err = sel.QueryRowContext(ctx, id, stripe).Scan(&old, &st)
		if errors.Is(err, sql.ErrNoRows) {
			return d.txExec(ctx, tx, `INSERT INTO put_stripes (put, stripe, cids) VALUES (?, ?, ?)`, id, stripe, cids)
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(old, cids) {
			return fmt.Errorf("%w: stripe %d", ErrJournalMismatch, stripe)
		}
		begun, stored = true, st == 1
		return nil
	})
	if err != nil {
		return false, false, fmt.Errorf("state: put %d: %w", id, err)
	}
	return begun, stored, nil
}

// StripeStored records that every shard of a put's stripe is stored.
func (d *DB) StripeStored(ctx context.Context, id int64, stripe int) error {
	err := d.groupTx(ctx, func(tx *sql.Tx) error {
		return d.txExec(ctx, tx, `UPDATE put_stripes SET stored = 1 WHERE put = ? AND stripe = ?`, id, stripe)
	})
	if err != nil {
		return fmt.Errorf("state: put %d: stripe %d stored: %w", id, stripe, err)
	}
	return nil
}

// PutStripes calls fn with each begun stripe of a put and its shard CIDs
// (concatenated), in stripe order, a page at a time.
func (d *DB) PutStripes(ctx context.Context, id int64, fn func(stripe int, cids []byte) error) error {
	const page = 256
	next := 0
	for {
		type row struct {
			stripe int
			cids   []byte
		}
		var rs []row
		err := queryEach(ctx, d.db, fmt.Sprintf(`SELECT stripe, cids FROM put_stripes WHERE put = %d AND stripe >= %d ORDER BY stripe LIMIT %d`, id, next, page),
			func(rows *sql.Rows) error {
				var r row
				if err := rows.Scan(&r.stripe, &r.cids); err != nil {
					return err
				}
				rs = append(rs, r)
				return nil
			})
		if err != nil {
			return fmt.Errorf("state: put %d stripes: %w", id, err)
		}
		for _, r := range rs {
			if err := fn(r.stripe, r.cids); err != nil {
				return err
			}
		}
		if len(rs) < page {
			return nil
		}
		next = rs[len(rs)-1].stripe + 1
	}
}

// EndPut removes a put from the journal (finished or aborted).
func (d *DB) EndPut(ctx context.Context, id int64) error {
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM put_stripes WHERE put = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM puts WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: end put %d: %w", id, err)
	}
	return nil
}
