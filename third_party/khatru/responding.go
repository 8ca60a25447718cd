package khatru

import (
	"context"
	"errors"
	"sync"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip45/hyperloglog"
)

func (rl *Relay) handleRequest(ctx context.Context, id string, eose *sync.WaitGroup, ws *WebSocket, filter nostr.Filter) error {
	defer eose.Done()

	// overwrite the filter (for example, to eliminate some kinds or
	// that we know we don't support)
	for _, ovw := range rl.OverwriteFilter {
		ovw(ctx, &filter)
	}

	if filter.LimitZero {
		// don't do any queries, just subscribe to future events
		return nil
	}

	// then check if we'll reject this filter (we apply this after overwriting
	// because we may, for example, remove some things from the incoming filters
	// that we know we don't support, and then if the end result is an empty
	// filter we can just reject it)
	for _, reject := range rl.RejectFilter {
		if reject, msg := reject(ctx, filter); reject {
			return errors.New(nostr.NormalizeOKMessage(msg, "blocked"))
		}
	}

	// sovmesh patch: Relay.QueryEventsJSON, when set and no
	// OverwriteResponseEvent hook is, answers the stored events of client
	// REQs instead of QueryEvents (which still serves khatru's own lookups):
	// each value is one event's JSON, sent as it is (so it must be valid,
	// compact JSON), with no decoding and encoding of each event.
	if len(rl.QueryEventsJSON) > 0 && len(rl.OverwriteResponseEvent) == 0 {
		runQueries(ctx, id, eose, ws, filter, rl.QueryEventsJSON, (*envelopeBatch).addJSON)
		return nil
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
	return nil
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

func (rl *Relay) handleCountRequest(ctx context.Context, ws *WebSocket, filter nostr.Filter) int64 {
	// check if we'll reject this filter
	for _, reject := range rl.RejectCountFilter {
		if rejecting, msg := reject(ctx, filter); rejecting {
			ws.WriteJSON(nostr.NoticeEnvelope(msg))
			return 0
		}
	}

	// run the functions to count (generally it will be just one)
	var subtotal int64 = 0
	for _, count := range rl.CountEvents {
		res, err := count(ctx, filter)
		if err != nil {
			ws.WriteJSON(nostr.NoticeEnvelope(err.Error()))
		}
		subtotal += res
	}

	return subtotal
}

func (rl *Relay) handleCountRequestWithHLL(
	ctx context.Context,
	ws *WebSocket,
	filter nostr.Filter,
	offset int,
) (int64, *hyperloglog.HyperLogLog) {
	// check if we'll reject this filter
	for _, reject := range rl.RejectCountFilter {
		if rejecting, msg := reject(ctx, filter); rejecting {
			ws.WriteJSON(nostr.NoticeEnvelope(msg))
			return 0, nil
		}
	}

	// run the functions to count (generally it will be just one)
	var subtotal int64 = 0
	var hll *hyperloglog.HyperLogLog
	for _, countHLL := range rl.CountEventsHLL {
		res, fhll, err := countHLL(ctx, filter, offset)
		if err != nil {
			ws.WriteJSON(nostr.NoticeEnvelope(err.Error()))
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

	return subtotal, hll
}
