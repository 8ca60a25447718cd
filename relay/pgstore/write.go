package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/fiatjaf/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip40"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// row is an event encoded for the events and tags tables.
type row struct {
	id, pubkey []byte
	createdAt  int64
	kind       int
	expiresAt  *int64
	dtag       []byte // addressable kinds only; nil otherwise
	raw        []byte
	tags       [][2][]byte // indexed tags: one-byte name, value; no duplicates
}

// encodeEvent validates evt and encodes it.
func encodeEvent(evt *nostr.Event) (*row, error) {
	if evt == nil {
		return nil, fmt.Errorf("%w: nil event", storeerr.ErrInvalidEvent)
	}
	id, ok := decodeHex32(evt.ID)
	if !ok {
		return nil, fmt.Errorf("%w: id %q is not 64 lowercase hex characters", storeerr.ErrInvalidEvent, clip(evt.ID))
	}
	pk, ok := decodeHex32(evt.PubKey)
	if !ok {
		return nil, fmt.Errorf("%w: pubkey %q is not 64 lowercase hex characters", storeerr.ErrInvalidEvent, clip(evt.PubKey))
	}
	raw, err := evt.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: encode json: %v", storeerr.ErrInvalidEvent, err)
	}
	r := &row{id: id, pubkey: pk, createdAt: int64(evt.CreatedAt), kind: evt.Kind, raw: raw}
	if exp := nip40.GetExpiration(evt.Tags); exp != -1 {
		v := int64(exp)
		r.expiresAt = &v
	}
	if nostr.IsAddressableKind(evt.Kind) {
		r.dtag = bytesOf(evt.Tags.GetD()) // "" is the address of no d tag
	}
	seen := make(map[[2]string]struct{}, len(evt.Tags))
	for _, tag := range evt.Tags {
		if len(tag) < 2 || len(tag[0]) != 1 {
			continue
		}
		k := [2]string{tag[0], tag[1]}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		r.tags = append(r.tags, [2][]byte{bytesOf(tag[0]), bytesOf(tag[1])})
	}
	return r, nil
}

// bytesOf returns s as a non-nil slice: pgx sends a nil slice as NULL.
func bytesOf(s string) []byte { return append(make([]byte, 0, len(s)), s...) }

// SaveEvent stores evt and returns once it is committed. It returns
// eventstore.ErrDupEvent when an event with the same id is stored.
func (s *Store) SaveEvent(ctx context.Context, evt *nostr.Event) error {
	r, err := encodeEvent(evt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx pgx.Tx) (error, error) { return s.insert(ctx, tx, r) })
	if err == nil {
		s.announce(r.id)
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
	r, err := encodeEvent(evt)
	if err != nil {
		return err
	}
	if !nostr.IsReplaceableKind(evt.Kind) && !nostr.IsAddressableKind(evt.Kind) {
		return fmt.Errorf("%w: kind %d", storeerr.ErrNotReplaceable, evt.Kind)
	}
	err = s.write(ctx, func(tx pgx.Tx) (error, error) { return s.replace(ctx, tx, r) })
	if err == nil {
		s.announce(r.id)
	}
	return err
}

// DeleteEvent deletes the event with evt's id and its tags; deleting an event
// that is not stored is not an error.
func (s *Store) DeleteEvent(ctx context.Context, evt *nostr.Event) error {
	if evt == nil {
		return fmt.Errorf("%w: nil event", storeerr.ErrInvalidEvent)
	}
	id, ok := decodeHex32(evt.ID)
	if !ok {
		return fmt.Errorf("%w: id %q is not 64 lowercase hex characters", storeerr.ErrInvalidEvent, clip(evt.ID))
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
func (s *Store) insert(ctx context.Context, tx pgx.Tx, r *row) (res, err error) {
	var seq int64
	err = tx.QueryRow(ctx, `INSERT INTO events (id, pubkey, created_at, kind, expires_at, dtag, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING seq`,
		r.id, r.pubkey, r.createdAt, r.kind, r.expiresAt, r.dtag, r.raw).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.ErrDupEvent, nil
	}
	if err != nil {
		return nil, fmt.Errorf("event store insert event: %w", err)
	}
	if len(r.tags) == 0 {
		return nil, nil
	}
	names := make([][]byte, len(r.tags))
	values := make([][]byte, len(r.tags))
	for i, t := range r.tags {
		names[i], values[i] = t[0], t[1]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tags (name, value, created_at, id, kind, seq)
		SELECT n, v, $3, $4, $5, $6 FROM unnest($1::bytea[], $2::bytea[]) AS u(n, v)`,
		names, values, r.createdAt, r.id, r.kind, seq); err != nil {
		return nil, fmt.Errorf("event store insert tags: %w", err)
	}
	return nil, nil
}

// addressLockClass is the advisory lock class (two-int4 key space) of
// replaceable addresses; the second key is a hash of the address. Two
// addresses sharing a hash only wait for each other.
const addressLockClass = 0x736f7661 // "sova"

func addressLock(r *row) int32 {
	h := fnv.New32a()
	h.Write(r.pubkey)
	fmt.Fprintf(h, ":%d:", r.kind)
	h.Write(r.dtag)
	return int32(h.Sum32())
}

func (s *Store) replace(ctx context.Context, tx pgx.Tx, r *row) (res, err error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, addressLockClass, addressLock(r)); err != nil {
		return nil, fmt.Errorf("event store lock address: %w", err)
	}
	var rows pgx.Rows
	if r.dtag != nil {
		rows, err = tx.Query(ctx, `SELECT seq, created_at, id FROM events WHERE pubkey = $1 AND kind = $2 AND dtag = $3`, r.pubkey, r.kind, r.dtag)
	} else {
		rows, err = tx.Query(ctx, `SELECT seq, created_at, id FROM events WHERE pubkey = $1 AND kind = $2`, r.pubkey, r.kind)
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
		switch {
		case bytes.Equal(id, r.id):
			rows.Close()
			return eventstore.ErrDupEvent, nil
		case ts > r.createdAt || (ts == r.createdAt && bytes.Compare(id, r.id) < 0):
			res = storeerr.ErrNewerVersion
		default:
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

// decodeHex32 decodes 64 lowercase hex characters. Uppercase is refused so
// that every stored id and pubkey has one spelling, the one Filter.Matches
// compares against.
func decodeHex32(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	out := make([]byte, 32)
	for i := 0; i < 32; i++ {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// clip shortens untrusted strings quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
