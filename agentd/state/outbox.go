package state

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
)

// QueueEvent keeps a signed event to publish once a relay answers (the
// outbox). Queuing the same event twice keeps it once.
func (d *DB) QueueEvent(ctx context.Context, ev nostr.Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("state: queue event: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO outbox (id, kind, queued_at, event) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		ev.ID, ev.Kind, d.now().UnixNano(), string(raw)); err != nil {
		return fmt.Errorf("state: queue event: %w", err)
	}
	return nil
}

// QueuedEvents returns up to limit queued events, oldest first.
func (d *DB) QueuedEvents(ctx context.Context, limit int) ([]nostr.Event, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event FROM outbox ORDER BY queued_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("state: queued events: %w", err)
	}
	defer rows.Close()
	var out []nostr.Event
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("state: queued events: %w", err)
		}
		var ev nostr.Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("state: queued event: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// DequeueEvent removes a queued event (published, or refused for good).
func (d *DB) DequeueEvent(ctx context.Context, id string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("state: dequeue event: %w", err)
	}
	return nil
}

// QueuedCount returns how many events wait in the outbox.
func (d *DB) QueuedCount(ctx context.Context) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("state: queued events: %w", err)
	}
	return n, nil
}
