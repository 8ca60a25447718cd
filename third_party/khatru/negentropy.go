package khatru

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"
)

type NegentropySession struct {
	mu            sync.Mutex // sovmesh patch: held during Reconcile
	neg           *negentropy.Negentropy
	postponeClose func()
}

// sovmesh patch: errTooManyNegRecords refuses a NEG-OPEN over more than
// NegentropyMaxRecords records.
var errTooManyNegRecords = errors.New("blocked: too many records, narrow the filter")

// sovmesh patch: startNegentropySession is cut in two, the filter's checks
// (negentropyFilter) and the read of its records (negentropyVector), so
// that the read, the sort and the first Reconcile can run inside
// NegentropyLane while a refused filter costs no lane time.

// negentropyFilter runs the overwrite and reject flow of a NEG-OPEN's
// filter and returns the filter to read.
func (rl *Relay) negentropyFilter(ctx context.Context, filter nostr.Filter) (nostr.Filter, error) {
	ctx = eventstore.SetNegentropy(ctx)

	// do the same overwrite/reject flow we do in normal REQs
	for _, ovw := range rl.OverwriteFilter {
		ovw(ctx, &filter)
	}
	if filter.LimitZero {
		return filter, fmt.Errorf("invalid: a negentropy filter cannot have limit 0")
	}
	for _, reject := range rl.RejectFilter {
		if reject, msg := reject(ctx, filter); reject {
			return filter, errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
		}
	}

	// sovmesh patch: with NegentropyMaxRecords, the query reads at most one
	// record more than the limit, and a filter selecting more is refused.
	max := rl.NegentropyMaxRecords
	if max > 0 && (filter.Limit <= 0 || filter.Limit > max) {
		filter.Limit = max + 1
	}
	return filter, nil
}

// negentropyVector reads the records of a checked filter into a sealed
// (sorted) vector.
func (rl *Relay) negentropyVector(ctx context.Context, filter nostr.Filter) (*vector.Vector, error) {
	ctx = eventstore.SetNegentropy(ctx)
	max := rl.NegentropyMaxRecords

	// fetch events and add them to a negentropy Vector store
	vec := vector.New()
	n := 0
	queries := rl.QueryEvents
	if rl.QueryNegentropy != nil {
		// sovmesh patch: only the created_at and id of each event.
		if err := rl.QueryNegentropy(ctx, filter, func(createdAt nostr.Timestamp, id string) {
			vec.Insert(createdAt, id)
			n++
		}); err != nil {
			return nil, err
		}
		queries = nil
	}
	for _, query := range queries {
		ch, err := query(ctx, filter)
		if err != nil {
			continue
		} else if ch == nil {
			continue
		}

		for event := range ch {
			// since the goal here is to sync databases we won't do fancy stuff like overwrite events
			vec.Insert(event.CreatedAt, event.ID)
			n++
		}
	}
	if max > 0 && n > max {
		return nil, errTooManyNegRecords
	}
	vec.Seal()

	return vec, nil
}

// sovmesh patch: runNegentropy runs work, the CPU of a NEG-OPEN (its read,
// sort and first Reconcile) or of a NEG-MSG (its Reconcile), inside
// NegentropyLane when one is set. An error means work did not run.
func (rl *Relay) runNegentropy(ctx context.Context, work func()) error {
	if rl.NegentropyLane == nil {
		work()
		return nil
	}
	return rl.NegentropyLane(ctx, work)
}
