package eventsql

import (
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
