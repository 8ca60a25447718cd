package eventsql

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailru/easyjson"
	"github.com/nbd-wtf/go-nostr"
)

// DecodeEvent decodes a stored event's JSON. A row that does not decode is
// logged (with its id) and skipped: ok is false.
func DecodeEvent(log *slog.Logger, raw, id []byte) (evt *nostr.Event, ok bool) {
	evt = &nostr.Event{}
	if err := easyjson.Unmarshal(raw, evt); err != nil {
		log.Warn("query events: stored event does not decode", "id", fmt.Sprintf("%x", id), "err", err)
		return nil, false
	}
	return evt, true
}

// MergeCancel returns a context that ends when either a or b ends.
func MergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// PurgeLoop calls purge every interval until ctx ends, logging failures
// (unless ctx has ended) and how many expired events each run deleted.
func PurgeLoop(ctx context.Context, interval time.Duration, log *slog.Logger, purge func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := purge(ctx); err != nil {
				if ctx.Err() == nil {
					log.Warn("purge expired events", "err", err, "deleted", n)
				}
			} else if n > 0 {
				log.Debug("purged expired events", "deleted", n)
			}
		}
	}
}

// PurgeBatches calls deleteBatch, which deletes at most batch expired events
// in one transaction, until a call deletes fewer, and returns the total.
func PurgeBatches(ctx context.Context, batch int, deleteBatch func(context.Context) (int, error)) (int, error) {
	total := 0
	for {
		n, err := deleteBatch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < batch {
			return total, nil
		}
	}
}

// Rows is a running query's answer: Row returns the current row's stored
// JSON and id, valid until the next call to Next.
type Rows interface {
	Next() bool
	Row() (raw, id []byte, err error)
	Err() error
}

// Stream sends conv of each row on ch, skipping rows conv refuses, until the
// rows end, ctx ends, or limit values are sent (0: no limit), and logs a
// failure unless ctx has ended. With dedupe, a row whose id equals the
// previous row's is skipped: a driver tag with several values yields an
// event once per value, and the repeats are adjacent because rows come in
// (created_at DESC, id) order.
func Stream[T any](ctx context.Context, log *slog.Logger, ch chan<- T, rows Rows, dedupe bool, limit int, conv func(raw, id []byte) (T, bool)) {
	var (
		last []byte
		sent int
	)
	for rows.Next() {
		raw, id, err := rows.Row()
		if err != nil {
			log.Warn("query events: scan", "err", err)
			return
		}
		if dedupe {
			if bytes.Equal(id, last) {
				continue
			}
			last = append(last[:0], id...)
		}
		v, ok := conv(raw, id)
		if !ok {
			continue
		}
		select {
		case ch <- v:
		case <-ctx.Done():
			return
		}
		sent++
		if limit > 0 && sent >= limit {
			return
		}
	}
	if err := rows.Err(); err != nil && ctx.Err() == nil {
		log.Warn("query events", "err", err)
	}
}
