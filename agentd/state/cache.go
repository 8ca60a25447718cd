package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// maxCached bounds the events one CachedEvents call reads.
const maxCached = 10_000

func cacheAddress(ev *nostr.Event) string {
	return fmt.Sprintf("%d:%s:%s", ev.Kind, ev.PubKey, ev.Tags.GetD())
}

// KeepEvent keeps a signed event in the local cache (event_cache), unless
// a newer one of its address (kind:pubkey:d) is there already. The caller
// checks the signature.
func (d *DB) KeepEvent(ctx context.Context, ev *nostr.Event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("state: keep event: %w", err)
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO event_cache (address, kind, pubkey, created_at, event) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(address) DO UPDATE SET created_at = excluded.created_at, event = excluded.event
		WHERE excluded.created_at >= event_cache.created_at`,
		cacheAddress(ev), ev.Kind, ev.PubKey, int64(ev.CreatedAt), string(raw))
	if err != nil {
		return fmt.Errorf("state: keep event: %w", err)
	}
	return nil
}

// ForgetEvent drops the cached event of an address.
func (d *DB) ForgetEvent(ctx context.Context, kind int, pubkey, dTag string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM event_cache WHERE address = ?`, fmt.Sprintf("%d:%s:%s", kind, pubkey, dTag)); err != nil {
		return fmt.Errorf("state: forget event: %w", err)
	}
	return nil
}

// CachedEvents returns the cached events matching f. f must name its kinds.
func (d *DB) CachedEvents(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	if len(f.Kinds) == 0 {
		return nil, fmt.Errorf("state: cached events: the filter names no kind")
	}
	q := `SELECT event FROM event_cache WHERE kind IN (?` + strings.Repeat(",?", len(f.Kinds)-1) + `)`
	args := make([]any, 0, len(f.Kinds)+len(f.Authors))
	for _, k := range f.Kinds {
		args = append(args, k)
	}
	if len(f.Authors) > 0 {
		q += ` AND pubkey IN (?` + strings.Repeat(",?", len(f.Authors)-1) + `)`
		for _, a := range f.Authors {
			args = append(args, a)
		}
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC LIMIT %d`, maxCached)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("state: cached events: %w", err)
	}
	defer rows.Close()
	var out []*nostr.Event
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("state: cached events: %w", err)
		}
		var ev nostr.Event
		if json.Unmarshal([]byte(raw), &ev) != nil || !f.Matches(&ev) {
			continue
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}

// SetFileProviders records a file's current providers (after a repair, or
// learnt from its SafeBox entry), keeping its audit round.
func (d *DB) SetFileProviders(ctx context.Context, f File) error {
	p, _ := json.Marshal(f.Providers)
	_, err := d.db.ExecContext(ctx, `INSERT INTO files (root, name, size, providers, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(root) DO UPDATE SET name = excluded.name, size = excluded.size, providers = excluded.providers`,
		f.Root, f.Name, f.Size, string(p), d.now().Unix())
	if err != nil {
		return fmt.Errorf("state: file providers: %w", err)
	}
	return nil
}
