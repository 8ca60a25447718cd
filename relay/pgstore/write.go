package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/fiatjaf/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// bytesOf returns s as a non-nil slice: pgx sends a nil slice as NULL.
func bytesOf(s string) []byte { return append(make([]byte, 0, len(s)), s...) }

// allBytesOf returns bytesOf of each string of list.
func allBytesOf(list []string) [][]byte {
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = bytesOf(s)
	}
	return out
}

// dtag is r's d tag for the dtag column: nil (NULL) unless its kind is
// addressable, where "" is the address of no d tag.
func dtag(r *eventsql.Row) []byte {
	if !r.Addressable {
		return nil
	}
	return bytesOf(r.DTag)
}

// SaveEvent stores evt and returns once it is committed. It returns
// eventstore.ErrDupEvent when an event with the same id is stored.
func (s *Store) SaveEvent(ctx context.Context, evt *nostr.Event) error {
	r, err := eventsql.Encode(evt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx pgx.Tx) (error, error) { return s.insert(ctx, tx, r) })
	if err == nil {
		s.announce(r.ID)
	}
	return err
}

// ReplaceEvent stores a replaceable (kind 0, 3, 10000-19999) or addressable
// (30000-39999, keyed by kind, pubkey and d tag) event and deletes the
// versions it replaces, in one transaction. The newest version wins; on equal
// created_at the lowest id wins. It returns eventstore.ErrDupEvent when evt
// itself is stored, storeerr.ErrNewerVersion when a version that wins over
// evt is stored (nothing is written), and storeerr.ErrNotReplaceable for
// other kinds.
func (s *Store) ReplaceEvent(ctx context.Context, evt *nostr.Event) error {
	r, err := eventsql.Encode(evt)
	if err != nil {
		return err
	}
	if !nostr.IsReplaceableKind(evt.Kind) && !nostr.IsAddressableKind(evt.Kind) {
		return fmt.Errorf("%w: kind %d", storeerr.ErrNotReplaceable, evt.Kind)
	}
	err = s.write(ctx, func(tx pgx.Tx) (error, error) { return s.replace(ctx, tx, r) })
	if err == nil {
		s.announce(r.ID)
	}
	return err
}

// DeleteEvent deletes the event with evt's id and its tags; deleting an event
// that is not stored is not an error.
func (s *Store) DeleteEvent(ctx context.Context, evt *nostr.Event) error {
	if evt == nil {
		return fmt.Errorf("%w: nil event", storeerr.ErrInvalidEvent)
	}
	id, err := eventsql.DecodeID(evt.ID)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx pgx.Tx) (error, error) {
		if _, err := tx.Exec(ctx, `DELETE FROM events WHERE id = $1`, id); err != nil {
			return nil, fmt.Errorf("event store delete: %w", err)
		}
		return nil, nil
	})
}

// write runs f in a transaction. f returns the write's outcome (nil,
// ErrDupEvent, ErrNewerVersion), which commits, and a database failure,
// which rolls back.
func (s *Store) write(ctx context.Context, f func(pgx.Tx) (res, err error)) error {
	if err := s.track(); err != nil {
		return err
	}
	defer s.wg.Done()
	var res error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = f(tx)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("event store write: %w", ctx.Err())
		}
		return err
	}
	return res
}

// insert stores r.
func (s *Store) insert(ctx context.Context, tx pgx.Tx, r *eventsql.Row) (res, err error) {
	var seq int64
	err = tx.QueryRow(ctx, `INSERT INTO events (id, pubkey, created_at, kind, expires_at, dtag, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING seq`,
		r.ID, r.PubKey, r.CreatedAt, r.Kind, r.ExpiresAt, dtag(r), r.Raw).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.ErrDupEvent, nil
	}
	if err != nil {
		return nil, fmt.Errorf("event store insert event: %w", err)
	}
	if len(r.Tags) == 0 {
		return nil, nil
	}
	names := make([][]byte, len(r.Tags))
	values := make([][]byte, len(r.Tags))
	for i, t := range r.Tags {
		names[i], values[i] = bytesOf(t[0]), bytesOf(t[1])
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tags (name, value, created_at, id, kind, seq)
		SELECT n, v, $3, $4, $5, $6 FROM unnest($1::bytea[], $2::bytea[]) AS u(n, v)`,
		names, values, r.CreatedAt, r.ID, r.Kind, seq); err != nil {
		return nil, fmt.Errorf("event store insert tags: %w", err)
	}
	return nil, nil
}

// addressLockClass is the advisory lock class (two-int4 key space) of
// replaceable addresses; the second key is a hash of the address. Two
// addresses sharing a hash only wait for each other.
const addressLockClass = 0x736f7661 // "sova"

func addressLock(r *eventsql.Row) int32 {
	h := fnv.New32a()
	h.Write(r.PubKey)
	fmt.Fprintf(h, ":%d:", r.Kind)
	h.Write(dtag(r))
	return int32(h.Sum32())
}

func (s *Store) replace(ctx context.Context, tx pgx.Tx, r *eventsql.Row) (res, err error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, addressLockClass, addressLock(r)); err != nil {
		return nil, fmt.Errorf("event store lock address: %w", err)
	}
	var rows pgx.Rows
	if r.Addressable {
		rows, err = tx.Query(ctx, `SELECT seq, created_at, id FROM events WHERE pubkey = $1 AND kind = $2 AND dtag = $3`, r.PubKey, r.Kind, dtag(r))
	} else {
		rows, err = tx.Query(ctx, `SELECT seq, created_at, id FROM events WHERE pubkey = $1 AND kind = $2`, r.PubKey, r.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("event store find replaced: %w", err)
	}
	var older []int64
	for rows.Next() {
		var (
			seq, ts int64
			id      []byte
		)
		if err := rows.Scan(&seq, &ts, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("event store find replaced: %w", err)
		}
		switch r.Against(ts, id) {
		case eventsql.SameEvent:
			rows.Close()
			return eventstore.ErrDupEvent, nil
		case eventsql.Newer:
			res = storeerr.ErrNewerVersion
		case eventsql.Older:
			older = append(older, seq)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event store find replaced: %w", err)
	}
	if res != nil {
		return res, nil
	}
	if len(older) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM events WHERE seq = ANY($1)`, older); err != nil {
			return nil, fmt.Errorf("event store delete replaced: %w", err)
		}
	}
	return s.insert(ctx, tx, r)
}
