package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
)

// MirroredToken is a NIP-60 token event the wallet mirror keeps on the
// relays: the secrets of the proofs it holds.
type MirroredToken struct {
	EventID string
	Mint    string
	Amount  uint64
	Secrets []string
}

// MirrorPass is what one pass of the NIP-60 mirror changes: token events
// created and destroyed, the wallet's mint list if it changed, and the
// signed events to publish, in order.
type MirrorPass struct {
	Created   []MirroredToken
	Destroyed []string
	Mints     []string // nil: unchanged
	Publish   []nostr.Event
}

// MirroredTokens returns the token events the mirror keeps.
func (d *DB) MirroredTokens(ctx context.Context) ([]MirroredToken, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, mint, amount, secrets FROM nip60_tokens ORDER BY event_id`)
	if err != nil {
		return nil, fmt.Errorf("state: nip60 tokens: %w", err)
	}
	defer rows.Close()
	var out []MirroredToken
	for rows.Next() {
		var t MirroredToken
		var secrets string
		if err := rows.Scan(&t.EventID, &t.Mint, &t.Amount, &secrets); err != nil {
			return nil, fmt.Errorf("state: nip60 tokens: %w", err)
		}
		if err := json.Unmarshal([]byte(secrets), &t.Secrets); err != nil {
			return nil, fmt.Errorf("state: nip60 token %s: %w", t.EventID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// MirroredMints returns the mints the last wallet event listed (nil: none
// published yet).
func (d *DB) MirroredMints(ctx context.Context) ([]string, error) {
	var raw string
	err := d.db.QueryRowContext(ctx, `SELECT mints FROM nip60_wallet WHERE id = 1`).Scan(&raw)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: nip60 wallet: %w", err)
	}
	var mints []string
	if err := json.Unmarshal([]byte(raw), &mints); err != nil {
		return nil, fmt.Errorf("state: nip60 wallet: %w", err)
	}
	return mints, nil
}

// RecordMirrorPass records p in one transaction: its tokens, its mint
// list and its events in the outbox.
func (d *DB) RecordMirrorPass(ctx context.Context, p MirrorPass) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, t := range p.Created {
			secrets, _ := json.Marshal(t.Secrets)
			if _, err := tx.ExecContext(ctx, `INSERT INTO nip60_tokens (event_id, mint, amount, secrets) VALUES (?, ?, ?, ?)`, t.EventID, t.Mint, int64(t.Amount), string(secrets)); err != nil {
				return fmt.Errorf("state: nip60 token: %w", err)
			}
		}
		for _, id := range p.Destroyed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM nip60_tokens WHERE event_id = ?`, id); err != nil {
				return fmt.Errorf("state: nip60 token: %w", err)
			}
		}
		if p.Mints != nil {
			mints, _ := json.Marshal(p.Mints)
			if _, err := tx.ExecContext(ctx, `INSERT INTO nip60_wallet (id, mints) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET mints = excluded.mints`, string(mints)); err != nil {
				return fmt.Errorf("state: nip60 wallet: %w", err)
			}
		}
		for _, ev := range p.Publish {
			raw, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("state: nip60 outbox: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO nip60_outbox (event) VALUES (?)`, string(raw)); err != nil {
				return fmt.Errorf("state: nip60 outbox: %w", err)
			}
		}
		return nil
	})
}

// OutboxEvent is a signed event waiting to be published.
type OutboxEvent struct {
	ID    int64
	Event nostr.Event
}

// MirrorOutbox returns the mirror's events still to publish, oldest first.
func (d *DB) MirrorOutbox(ctx context.Context) ([]OutboxEvent, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, event FROM nip60_outbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("state: nip60 outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var o OutboxEvent
		var raw string
		if err := rows.Scan(&o.ID, &raw); err != nil {
			return nil, fmt.Errorf("state: nip60 outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &o.Event); err != nil {
			return nil, fmt.Errorf("state: nip60 outbox %d: %w", o.ID, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// MirrorPublished drops a published event from the outbox.
func (d *DB) MirrorPublished(ctx context.Context, id int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM nip60_outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("state: nip60 outbox: %w", err)
	}
	return nil
}
