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
)

// notifyChannel is the PostgreSQL channel every stored event is announced
// on, as "<store instance>:<event id hex>", when its transaction commits.
const notifyChannel = "sovmesh_events"

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func notify(ctx context.Context, tx pgx.Tx, instance string, id []byte) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, instance+":"+hex.EncodeToString(id)); err != nil {
		return fmt.Errorf("event store notify: %w", err)
	}
	return nil
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
	ctx, cancel := mergeCancel(ctx, s.ctx)
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
		from, id, ok := strings.Cut(n.Payload, ":")
		if !ok || from == s.instance {
			continue
		}
		ch, err := s.QueryEvents(ctx, nostr.Filter{IDs: []string{id}})
		if err != nil {
			s.log.Warn("event notification: read the event", "id", id, "err", err)
			continue
		}
		for evt := range ch {
			f(evt)
		}
	}
}
