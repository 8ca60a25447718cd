package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"
	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// notifyChannel is the PostgreSQL channel stored events are announced on,
// as "<store instance>:<event id hex>,<event id hex>...".
const notifyChannel = "sovmesh_events"

// Announcements wait in a queue of announceQueue ids and go out in
// notifications of at most announceBatch ids (PostgreSQL's payload limit is
// 8000 bytes).
const (
	announceQueue = 4096
	announceBatch = 100
)

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// announce queues a committed event's id for the notifier. The NOTIFY is
// sent after the event's own commit, from the notifier's connection:
// PostgreSQL serializes the commits of transactions that notify, which
// would end group commit among concurrent writers. An id that finds the
// queue full is not announced (the event is stored and served to REQs).
func (s *Store) announce(id []byte) {
	select {
	case s.announced <- id:
	default:
		s.log.Warn("event notification queue full; not announcing an event to other relay processes", "id", hex.EncodeToString(id))
	}
}

// notifyLoop sends the queued announcements until Close.
func (s *Store) notifyLoop() {
	var b strings.Builder
	for {
		var id []byte
		select {
		case <-s.ctx.Done():
			return
		case id = <-s.announced:
		}
		b.Reset()
		b.WriteString(s.instance)
		b.WriteByte(':')
		b.WriteString(hex.EncodeToString(id))
	more:
		for n := 1; n < announceBatch; n++ {
			select {
			case id = <-s.announced:
				b.WriteByte(',')
				b.WriteString(hex.EncodeToString(id))
			default:
				break more
			}
		}
		if _, err := s.pool.Exec(s.ctx, `SELECT pg_notify($1, $2)`, notifyChannel, b.String()); err != nil && s.ctx.Err() == nil {
			s.log.Warn("event notification not sent", "err", err)
		}
	}
}

// ListenRemote calls f with each event that another Store (another relay
// process) stores in the same database, from when it is listening until ctx
// ends. It keeps one connection of its own; when that connection fails it
// reconnects with backoff, and events stored while it was away are not
// delivered (they are stored, and served to every REQ). Events this Store
// saves are not passed to f. listening, when not nil, is called each time a
// LISTEN session has started.
func (s *Store) ListenRemote(ctx context.Context, f func(*nostr.Event), listening func()) {
	if err := s.track(); err != nil {
		return
	}
	defer s.wg.Done()
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	defer cancel()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, f, listening)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("event notifications interrupted; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// listen runs one LISTEN session until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, f func(*nostr.Event), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if listening != nil {
		listening()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, ids, ok := strings.Cut(n.Payload, ":")
		if !ok || from == s.instance {
			continue
		}
		ch, err := s.QueryEvents(ctx, nostr.Filter{IDs: strings.Split(ids, ",")})
		if err != nil {
			s.log.Warn("event notification: read the events", "err", err)
			continue
		}
		for evt := range ch {
			f(evt)
		}
	}
}
