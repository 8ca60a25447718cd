package khatru

import (
	"context"
	"errors"
	"sync"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip45/hyperloglog"
)

// checkFilter returns filter as the OverwriteFilter hooks leave it, or the
// refusal of a RejectFilter hook.
//
// sovmesh patch: split from handleRequest so a REQ's filters are all checked
// before any runs or listens, and the checks run for a "limit":0 filter too
// (upstream returned before them, so such a filter skipped every policy).
func (rl *Relay) checkFilter(ctx context.Context, filter nostr.Filter) (nostr.Filter, error) {
	// overwrite the filter (for example, to eliminate some kinds or
	// that we know we don't support)
	for _, ovw := range rl.OverwriteFilter {
		ovw(ctx, &filter)
	}

	// then check if we'll reject this filter (we apply this after overwriting
	// because we may, for example, remove some things from the incoming filters
	// that we know we don't support, and then if the end result is an empty
	// filter we can just reject it)
	for _, reject := range rl.RejectFilter {
		if reject, msg := reject(ctx, filter); reject {
			return filter, errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
		}
	}
	return filter, nil
}

// handleRequest sends the stored events of a filter checkFilter accepted.
func (rl *Relay) handleRequest(ctx context.Context, id string, eose *sync.WaitGroup, ws *WebSocket, filter nostr.Filter) {
	defer eose.Done()

	if filter.LimitZero {
		// don't do any queries, just subscribe to future events
		return
	}

	// sovmesh patch: Relay.QueryEventsJSON, when set and no
	// OverwriteResponseEvent hook is, answers the stored events of client
	// REQs instead of QueryEvents (which still serves khatru's own lookups):
	// each value is one event's JSON, sent as it is (so it must be valid,
	// compact JSON), with no decoding and encoding of each event.
	if len(rl.QueryEventsJSON) > 0 && len(rl.OverwriteResponseEvent) == 0 {
		runQueries(ctx, id, eose, ws, filter, rl.QueryEventsJSON, (*envelopeBatch).addJSON)
		return
	}

	// run the functions to query events (generally just one,
	// but we might be fetching stuff from multiple places)
	//
	// sovmesh patch: the events are encoded with easyjson and written
	// in batches (batch.go), not one WriteJSON each.
	add := (*envelopeBatch).addEvent
	if len(rl.OverwriteResponseEvent) > 0 {
		add = func(b *envelopeBatch, subID string, event *nostr.Event) {
			for _, ovw := range rl.OverwriteResponseEvent {
				ovw(ctx, event)
			}
			b.addEvent(subID, event)
		}
	}
	runQueries(ctx, id, eose, ws, filter, rl.QueryEvents, add)
}

// sovmesh patch: runQueries runs each query and sends what it finds, with
// eose.Done once per query when its events are written.
func runQueries[T any](
	ctx context.Context,
	id string,
	eose *sync.WaitGroup,
	ws *WebSocket,
	filter nostr.Filter,
	queries []func(context.Context, nostr.Filter) (chan T, error),
	add func(*envelopeBatch, string, T),
) {
	eose.Add(len(queries))
	for _, query := range queries {
		ch, err := query(ctx, filter)
		if err != nil {
			ws.WriteJSON(nostr.NoticeEnvelope(err.Error()))
			eose.Done()
			continue
		} else if ch == nil {
			eose.Done()
			continue
		}

		go func(ch chan T) {
			sendStored(ws, id, ch, add)
			eose.Done()
		}(ch)
	}
}

// sovmesh patch: checkCountFilters runs RejectCountFilter on every filter of
// a COUNT and returns the first refusal, prefixed (upstream answered a
// refusal with a NOTICE and a count of 0; NIP-45 wants CLOSED).
func (rl *Relay) checkCountFilters(ctx context.Context, filters nostr.Filters) error {
	for _, filter := range filters {
		for _, reject := range rl.RejectCountFilter {
			if rejecting, msg := reject(ctx, filter); rejecting {
				return errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
			}
		}
	}
	return nil
}

// handleCountRequest counts the events matching any of filters, which
// checkCountFilters accepted.
func (rl *Relay) handleCountRequest(ctx context.Context, filters nostr.Filters) (int64, error) {
	// run the functions to count (generally it will be just one)
	var subtotal int64 = 0
	for _, count := range rl.CountEvents {
		res, err := count(ctx, filters)
		if err != nil {
			return 0, errors.New(nostr.NormalizeOKMessage(err.Error(), "error"))
		}
		subtotal += res
	}

	return subtotal, nil
}

func (rl *Relay) handleCountRequestWithHLL(
	ctx context.Context,
	filter nostr.Filter,
	offset int,
) (int64, *hyperloglog.HyperLogLog, error) {
	// run the functions to count (generally it will be just one)
	var subtotal int64 = 0
	var hll *hyperloglog.HyperLogLog
	for _, countHLL := range rl.CountEventsHLL {
		res, fhll, err := countHLL(ctx, filter, offset)
		if err != nil {
			return 0, nil, errors.New(nostr.NormalizeOKMessage(err.Error(), "error"))
		}
		subtotal += res
		if fhll != nil {
			if hll == nil {
				hll = fhll
			} else {
				hll.Merge(fhll)
			}
		}
	}

	return subtotal, hll, nil
}
