package khatru

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fasthttp/websocket"
	"github.com/mailru/easyjson/jwriter"
	"github.com/nbd-wtf/go-nostr"
)

var ErrSubscriptionClosedByClient = errors.New("subscription closed by client")

type listenerSpec struct {
	id       string // kept here so we can easily match against it removeListenerId
	cancel   context.CancelCauseFunc
	subrelay *Relay // this is important when we're dealing with routing, otherwise it will be always the same
	l        *listener
}

type listener struct {
	id     string // duplicated here so we can easily send it on notifyListeners
	filter nostr.Filter
	ws     *WebSocket
	keys   []indexKey // where the index holds it (see listenerIndex.add)
}

// sovmesh patch: listeners are indexed, so a broadcast checks only the
// filters that can match the event. Upstream kept one slice and ran every
// filter of every connection against every event: 20 000 idle filters on
// other kinds cost 20 000 Matches per published event, all under one lock.
//
// Each filter is filed under one of its conditions, the most selective it
// has: its ids, else its authors, else the tag condition with the fewest
// values, else its kinds; a filter with none of these (or none that can
// match, such as "ids": []) is filed in the fallback set (or nowhere). An
// event's candidates are the filters filed under its id, its author, one
// of its tags or its kind, plus the fallback set; each candidate is then
// checked with Filter.Matches, so what matches is exactly what upstream
// matched.
type listenerIndex struct {
	mu       sync.RWMutex
	all      map[*listener]struct{}
	byKey    map[indexKey]map[*listener]struct{}
	fallback map[*listener]struct{}
	checked  atomic.Uint64 // filters checked against events (Relay.BroadcastChecks)
}

type indexKey struct {
	dim   byte // 'i' id, 'a' author, 't' tag, 'k' kind
	kind  int
	name  string // tag name
	value string // id, author or tag value
}

func newListenerIndex() *listenerIndex {
	return &listenerIndex{
		all:      make(map[*listener]struct{}),
		byKey:    make(map[indexKey]map[*listener]struct{}),
		fallback: make(map[*listener]struct{}),
	}
}

// filterKeys returns the keys a filter is filed under; fallback means it
// goes in the fallback set (keys is then nil), and neither means it can
// match no event.
func filterKeys(f nostr.Filter) (keys []indexKey, fallback bool) {
	switch {
	case f.IDs != nil:
		for _, id := range f.IDs {
			keys = append(keys, indexKey{dim: 'i', value: id})
		}
		return keys, false
	case f.Authors != nil:
		for _, a := range f.Authors {
			keys = append(keys, indexKey{dim: 'a', value: a})
		}
		return keys, false
	}
	best, found := "", false
	for name, values := range f.Tags {
		if values == nil {
			continue // Matches ignores it
		}
		if !found || len(values) < len(f.Tags[best]) || (len(values) == len(f.Tags[best]) && name < best) {
			best, found = name, true
		}
	}
	if found {
		for _, v := range f.Tags[best] {
			keys = append(keys, indexKey{dim: 't', name: best, value: v})
		}
		return keys, false
	}
	if f.Kinds != nil {
		for _, k := range f.Kinds {
			keys = append(keys, indexKey{dim: 'k', kind: k})
		}
		return keys, false
	}
	return nil, true
}

func (x *listenerIndex) add(l *listener) {
	keys, fallback := filterKeys(l.filter)
	l.keys = keys
	x.mu.Lock()
	defer x.mu.Unlock()
	x.all[l] = struct{}{}
	if fallback {
		x.fallback[l] = struct{}{}
		return
	}
	for _, k := range keys {
		set := x.byKey[k]
		if set == nil {
			set = make(map[*listener]struct{})
			x.byKey[k] = set
		}
		set[l] = struct{}{}
	}
}

func (x *listenerIndex) remove(l *listener) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.all, l)
	delete(x.fallback, l)
	for _, k := range l.keys {
		if set := x.byKey[k]; set != nil {
			delete(set, l)
			if len(set) == 0 {
				delete(x.byKey, k)
			}
		}
	}
}

func (x *listenerIndex) clear() {
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.all)
	clear(x.byKey)
	clear(x.fallback)
}

// matching returns the listeners whose filter matches event.
func (x *listenerIndex) matching(event *nostr.Event) []*listener {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var (
		out     []*listener
		checked uint64
		seen    map[*listener]struct{} // only for tags, where one filter can be filed under two of the event's tags
		tagHits int
	)
	check := func(set map[*listener]struct{}, dedupe bool) {
		for l := range set {
			if dedupe {
				if _, dup := seen[l]; dup {
					continue
				}
				seen[l] = struct{}{}
			}
			checked++
			if l.filter.Matches(event) {
				out = append(out, l)
			}
		}
	}
	check(x.fallback, false)
	check(x.byKey[indexKey{dim: 'i', value: event.ID}], false)
	check(x.byKey[indexKey{dim: 'a', value: event.PubKey}], false)
	check(x.byKey[indexKey{dim: 'k', kind: event.Kind}], false)
	for _, tag := range event.Tags {
		if len(tag) < 2 {
			continue
		}
		set := x.byKey[indexKey{dim: 't', name: tag[0], value: tag[1]}]
		if len(set) == 0 {
			continue
		}
		if tagHits++; tagHits == 2 {
			// a second tag hit: from now on skip the filters already seen
			seen = make(map[*listener]struct{}, len(out))
			for _, l := range out {
				seen[l] = struct{}{}
			}
		}
		check(set, tagHits > 1)
	}
	x.checked.Add(checked)
	return out
}

func (rl *Relay) GetListeningFilters() []nostr.Filter {
	rl.listeners.mu.RLock()
	defer rl.listeners.mu.RUnlock()
	respfilters := make([]nostr.Filter, 0, len(rl.listeners.all))
	for l := range rl.listeners.all {
		respfilters = append(respfilters, l.filter)
	}
	return respfilters
}

// BroadcastChecks returns how many filters broadcasts have checked against
// events since the relay started (sovmesh patch: the cost of broadcasting).
func (rl *Relay) BroadcastChecks() uint64 { return rl.listeners.checked.Load() }

// addListener may be called multiple times for each id and ws -- in which case each filter will
// be added as an independent listener
func (rl *Relay) addListener(
	ws *WebSocket,
	id string,
	subrelay *Relay,
	filter nostr.Filter,
	cancel context.CancelCauseFunc,
) {
	rl.clientsMutex.Lock()
	defer rl.clientsMutex.Unlock()

	if specs, ok := rl.clients[ws]; ok /* this will always be true unless client has disconnected very rapidly */ {
		l := &listener{ws: ws, id: id, filter: filter}
		rl.clients[ws] = append(specs, listenerSpec{
			id:       id,
			cancel:   cancel,
			subrelay: subrelay,
			l:        l,
		})
		subrelay.listeners.add(l)
	}
}

// remove a specific subscription id from listeners for a given ws client
// and cancel its specific context
func (rl *Relay) removeListenerId(ws *WebSocket, id string) {
	rl.clientsMutex.Lock()
	defer rl.clientsMutex.Unlock()

	if specs, ok := rl.clients[ws]; ok {
		rl.clients[ws] = slices.DeleteFunc(specs, func(spec listenerSpec) bool {
			if spec.id != id {
				return false
			}
			spec.cancel(ErrSubscriptionClosedByClient)
			spec.subrelay.listeners.remove(spec.l)
			return true
		})
	}
}

func (rl *Relay) removeClientAndListeners(ws *WebSocket) {
	rl.clientsMutex.Lock()
	defer rl.clientsMutex.Unlock()
	for _, spec := range rl.clients[ws] {
		// no need to cancel contexts since they inherit from the main connection context
		spec.subrelay.listeners.remove(spec.l)
	}
	delete(rl.clients, ws)
}

// returns how many listeners were notified
//
// sovmesh patch: only the listeners the index gives are checked (see
// listenerIndex), the event is encoded once, and each message is queued
// for its connection's writer, so a publisher never waits for a
// subscriber (sendqueue.go). A listener whose connection could not take
// the message is not counted.
func (rl *Relay) notifyListeners(event *nostr.Event) int {
	targets := rl.listeners.matching(event)
	if len(targets) == 0 {
		return 0
	}
	w := jwriter.Writer{NoEscapeHTML: true}
	event.MarshalEasyJSON(&w)
	evtJSON, err := w.BuildBytes()
	if err != nil {
		return 0
	}

	count := 0
targetsloop:
	for _, t := range targets {
		for _, pb := range rl.PreventBroadcast {
			if pb(t.ws, event) {
				continue targetsloop
			}
		}
		if t.ws.send(outMsg{websocket.TextMessage, eventMessage(t.id, evtJSON)}) == nil {
			count++
		}
	}
	return count
}

// eventMessage is ["EVENT",<subID>,<evt>], evt being an event's JSON.
func eventMessage(subID string, evt []byte) []byte {
	w := jwriter.Writer{NoEscapeHTML: true}
	w.RawString(`["EVENT",`)
	w.String(subID)
	w.RawByte(',')
	w.Raw(evt, nil)
	w.RawByte(']')
	b, _ := w.BuildBytes()
	return b
}
