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

func (rl *Relay) startNegentropySession(ctx context.Context, filter nostr.Filter) (*vector.Vector, error) {
	ctx = eventstore.SetNegentropy(ctx)

	// do the same overwrite/reject flow we do in normal REQs
	for _, ovw := range rl.OverwriteFilter {
		ovw(ctx, &filter)
	}
	if filter.LimitZero {
		return nil, fmt.Errorf("invalid: a negentropy filter cannot have limit 0")
	}
	for _, reject := range rl.RejectFilter {
		if reject, msg := reject(ctx, filter); reject {
			return nil, errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
		}
	}

	// sovmesh patch: with NegentropyMaxRecords, the query reads at most one
	// record more than the limit, and a filter selecting more is refused.
	max := rl.NegentropyMaxRecords
	if max > 0 && (filter.Limit <= 0 || filter.Limit > max) {
		filter.Limit = max + 1
	}

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
