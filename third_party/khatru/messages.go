package khatru

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bep/debounce"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip42"
	"github.com/nbd-wtf/go-nostr/nip45"
	"github.com/nbd-wtf/go-nostr/nip45/hyperloglog"
	"github.com/nbd-wtf/go-nostr/nip70"
	"github.com/nbd-wtf/go-nostr/nip77"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"
)

// handleMessage answers one message read from ws; the read loop runs it in
// its own goroutine. envelope and parseErr are the result of parsing message.
//
// sovmesh patch: moved out of HandleWebsocket's read loop. A panic while
// handling the message is recovered: it is reported (OnMessagePanic, or Log)
// and the connection is closed, never the process. A message that is not
// valid UTF-8 is refused with a NOTICE and not processed.
func (rl *Relay) handleMessage(ctx context.Context, ws *WebSocket, r *http.Request, message string, envelope nostr.Envelope, parseErr error) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			if len(rl.OnMessagePanic) == 0 {
				rl.Log.Printf("panic handling a message from %s: %v\n%s", GetIPFromRequest(r), v, stack)
			}
			for _, f := range rl.OnMessagePanic {
				f(ctx, v, stack)
			}
			ws.cancel()
			ws.queue.close()
			ws.conn.Close()
		}
	}()

	if !utf8.ValidString(message) {
		ws.WriteJSON(nostr.NoticeEnvelope("invalid: message is not valid UTF-8 text"))
		return
	}

	if parseErr != nil {
		if parseErr == nostr.UnknownLabel && rl.Negentropy {
			envelope = nip77.ParseNegMessage(message)
		}
		if envelope == nil {
			ws.WriteJSON(nostr.NoticeEnvelope("failed to parse envelope: " + parseErr.Error()))
			return
		}
	}

	switch env := envelope.(type) {
	case *nostr.EventEnvelope:
		// check id
		if !env.Event.CheckID() {
			rl.eventRejected(ctx, &env.Event, "bad_id")
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: "invalid: id is computed incorrectly"})
			return
		}

		// check signature
		// sovmesh patch: Relay.CheckSignature, when set, replaces
		// go-nostr's check; its errors are the client's (malformed
		// key or signature), so they are answered as invalid.
		if rl.CheckSignature != nil {
			if ok, err := rl.CheckSignature(&env.Event); err != nil || !ok {
				rl.eventRejected(ctx, &env.Event, "bad_signature")
				reason := "invalid: signature is invalid"
				if err != nil {
					reason = "invalid: " + err.Error()
				}
				ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: reason})
				return
			}
		} else if ok, err := env.Event.CheckSignature(); err != nil {
			rl.eventRejected(ctx, &env.Event, "bad_signature")
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: "error: failed to verify signature"})
			return
		} else if !ok {
			rl.eventRejected(ctx, &env.Event, "bad_signature")
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: "invalid: signature is invalid"})
			return
		}

		// check NIP-70 protected
		if nip70.IsProtected(env.Event) {
			authed := GetAuthed(ctx)
			if authed == "" {
				rl.eventRejected(ctx, &env.Event, "protected")
				RequestAuth(ctx)
				ws.WriteJSON(nostr.OKEnvelope{
					EventID: env.Event.ID,
					OK:      false,
					Reason:  "auth-required: must be published by authenticated event author",
				})
				return
			} else if authed != env.Event.PubKey {
				rl.eventRejected(ctx, &env.Event, "protected")
				ws.WriteJSON(nostr.OKEnvelope{
					EventID: env.Event.ID,
					OK:      false,
					Reason:  "blocked: must be published by event author",
				})
				return
			}
		} else if nip70.HasEmbeddedProtected(env.Event) {
			rl.eventRejected(ctx, &env.Event, "protected")
			ws.WriteJSON(nostr.OKEnvelope{
				EventID: env.Event.ID,
				OK:      false,
				Reason:  "blocked: can't repost nip70 protected",
			})
			return
		}

		srl := rl
		if rl.getSubRelayFromEvent != nil {
			srl = rl.getSubRelayFromEvent(&env.Event)
		}

		var ok bool
		var writeErr error
		var skipBroadcast bool
		var answered bool // sovmesh patch: see AnswerEphemeral
		var answer string

		if env.Event.Kind == 5 {
			// this always returns "blocked: " whenever it returns an error
			writeErr = srl.handleDeleteRequest(ctx, &env.Event)
		}

		if writeErr == nil {
			if nostr.IsEphemeralKind(env.Event.Kind) {
				// this will also always return a prefixed reason
				answered, answer, writeErr = srl.handleEphemeralAnswer(ctx, &env.Event)
				skipBroadcast = answered
			} else {
				// this will also always return a prefixed reason
				skipBroadcast, writeErr = srl.handleNormal(ctx, &env.Event)
			}
		}

		var reason string
		if writeErr == nil {
			ok = true
			for _, ovw := range srl.OverwriteResponseEvent {
				ovw(ctx, &env.Event)
			}
			if answered {
				reason = answer
			} else if !skipBroadcast {
				n := srl.notifyListeners(&env.Event)

				// the number of notified listeners matters in ephemeral events
				if nostr.IsEphemeralKind(env.Event.Kind) {
					if n == 0 && len(rl.OnEphemeralEvent) == 0 {
						ok = false
						reason = "mute: no one was listening for this"
					} else {
						reason = "broadcasted to " + strconv.Itoa(n) + " listeners"
					}
				}
			}
		} else {
			ok = false
			reason = writeErr.Error()
			if strings.HasPrefix(reason, "auth-required:") {
				RequestAuth(ctx)
			}
		}
		ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: ok, Reason: reason})
	case *nostr.CountEnvelope:
		rl.handleCount(ctx, ws, env)
	case *nostr.ReqEnvelope:
		rl.handleReq(ctx, ws, env)
	case *nostr.CloseEnvelope:
		id := string(*env)
		rl.removeListenerId(ws, id)
	case *nostr.AuthEnvelope:
		// sovmesh patch: the relay tag is checked by AuthRelayMatches.
		wsBaseUrl, refused := rl.authRelayURL(r, &env.Event)
		if refused != "" {
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: refused})
		} else if pubkey, ok := nip42.ValidateAuthEvent(&env.Event, ws.Challenge, wsBaseUrl); ok {
			ws.AuthedPublicKey = pubkey
			ws.authLock.Lock()
			if ws.Authed != nil {
				close(ws.Authed)
				ws.Authed = nil
			}
			ws.authLock.Unlock()
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: true})
		} else {
			ws.WriteJSON(nostr.OKEnvelope{EventID: env.Event.ID, OK: false, Reason: "error: failed to authenticate"})
		}
	case *nip77.OpenEnvelope:
		rl.handleNegOpen(ctx, ws, env)
	case *nip77.MessageEnvelope:
		negSession, ok := ws.negentropySessions.Load(env.SubscriptionID)
		if !ok || negSession.neg == nil { // sovmesh patch: or still opening
			// bad luck, your request was destroyed
			ws.WriteJSON(nip77.ErrorEnvelope{SubscriptionID: env.SubscriptionID, Reason: "closed: no such negentropy session"})
			return
		}
		// reconcile to get the next message and return it
		// sovmesh patch: one Reconcile at a time per session (messages are
		// handled concurrently), inside NegentropyLane; refused there, the
		// session ends (NEG-ERR closes it).
		var out string
		var err error
		if lerr := rl.runNegentropy(ctx, func() {
			negSession.mu.Lock()
			out, err = negSession.neg.Reconcile(env.Message)
			negSession.mu.Unlock()
		}); lerr != nil {
			ws.WriteJSON(nip77.ErrorEnvelope{SubscriptionID: env.SubscriptionID, Reason: lerr.Error()})
			ws.negentropySessions.Delete(env.SubscriptionID)
			return
		}
		if err != nil {
			ws.WriteJSON(nip77.ErrorEnvelope{SubscriptionID: env.SubscriptionID, Reason: nostr.NormalizeOKMessage(err.Error(), "invalid")})
			ws.negentropySessions.Delete(env.SubscriptionID)
			return
		}
		ws.writeNegMessage(env.SubscriptionID, out) // sovmesh patch: see negMessage

		// if there is more reconciliation to do, postpone this
		if out != "" {
			negSession.postponeClose()
		} else {
			// otherwise we can just close it
			ws.negentropySessions.Delete(env.SubscriptionID)
		}
	case *nip77.CloseEnvelope:
		ws.negentropySessions.Delete(env.SubscriptionID)
	}
}

// handleCount answers a NIP-45 COUNT.
//
// sovmesh patch: every filter counts (their union, once each), a refusal is
// answered CLOSED with its prefix (an auth-required one after an AUTH
// challenge), and the HyperLogLog path is taken only when a CountEventsHLL
// hook exists (upstream answered 0 for such filters without one).
func (rl *Relay) handleCount(ctx context.Context, ws *WebSocket, env *nostr.CountEnvelope) {
	closed := func(reason string) {
		if strings.HasPrefix(reason, "auth-required:") {
			RequestAuth(ctx)
		}
		ws.WriteJSON(nostr.ClosedEnvelope{SubscriptionID: env.SubscriptionID, Reason: reason})
	}
	if len(rl.CountEvents) == 0 && len(rl.CountEventsHLL) == 0 {
		closed("unsupported: this relay does not support NIP-45")
		return
	}
	if len(env.Filters) == 0 {
		closed("invalid: COUNT needs at least one filter")
		return
	}

	srl := rl
	if rl.getSubRelayFromFilter != nil {
		srl = rl.getSubRelayFromFilter(env.Filters[0])
	}
	if err := srl.checkCountFilters(ctx, env.Filters); err != nil {
		closed(err.Error())
		return
	}

	var total int64
	var hll *hyperloglog.HyperLogLog
	var err error
	offset := -1
	if len(env.Filters) == 1 && len(srl.CountEventsHLL) > 0 {
		offset = nip45.HyperLogLogEventPubkeyOffsetForFilter(env.Filters[0])
	}
	if offset != -1 {
		total, hll, err = srl.handleCountRequestWithHLL(ctx, env.Filters[0], offset)
	} else {
		total, err = srl.handleCountRequest(ctx, env.Filters)
	}
	if err != nil {
		closed(err.Error())
		return
	}

	resp := nostr.CountEnvelope{
		SubscriptionID: env.SubscriptionID,
		Count:          &total,
	}
	if hll != nil {
		resp.HyperLogLog = hll.GetRegisters()
	}
	ws.WriteJSON(resp)
}

// handleReq answers a REQ: stored events, EOSE, then live events.
//
// sovmesh patch: every filter is checked (checkFilter) before any runs or
// listens, so a REQ refused at a later filter leaves no listener behind
// (upstream kept the earlier filters live after its CLOSED).
func (rl *Relay) handleReq(ctx context.Context, ws *WebSocket, env *nostr.ReqEnvelope) {
	// sovmesh patch: NIP-01 says a REQ with the id of an open
	// subscription replaces it; khatru kept both.
	rl.removeListenerId(ws, env.SubscriptionID)

	// a context just for the "stored events" request handler
	reqCtx, cancelReqCtx := context.WithCancelCause(ctx)

	// expose subscription id in the context
	reqCtx = context.WithValue(reqCtx, subscriptionIdKey, env.SubscriptionID)

	type checked struct {
		srl    *Relay
		filter nostr.Filter // as OverwriteFilter left it
	}
	filters := make([]checked, len(env.Filters))
	for i, filter := range env.Filters {
		srl := rl
		if rl.getSubRelayFromFilter != nil {
			srl = rl.getSubRelayFromFilter(filter)
		}
		f, err := srl.checkFilter(reqCtx, filter)
		if err != nil {
			// fail everything if any filter is rejected
			reason := err.Error()
			if strings.HasPrefix(reason, "auth-required:") {
				RequestAuth(ctx)
			}
			ws.WriteJSON(nostr.ClosedEnvelope{SubscriptionID: env.SubscriptionID, Reason: reason})
			cancelReqCtx(errors.New("filter rejected"))
			return
		}
		filters[i] = checked{srl, f}
	}

	eose := sync.WaitGroup{}
	eose.Add(len(filters))
	// handle each filter separately -- dispatching events as they're loaded from databases
	for i, c := range filters {
		c.srl.handleRequest(reqCtx, env.SubscriptionID, &eose, ws, c.filter)
		rl.addListener(ws, env.SubscriptionID, c.srl, env.Filters[i], cancelReqCtx)
	}

	go func() {
		// when all events have been loaded from databases and dispatched we can fire the EOSE message
		eose.Wait()
		// sovmesh patch: written without encoding/json (batch.go).
		ws.WriteTextMessages(eoseMessage(env.SubscriptionID))
		if len(env.Filters) == 0 {
			// sovmesh patch: no listener holds the request's
			// context, so nothing would cancel it (go vet
			// lostcancel).
			cancelReqCtx(errors.New("no filters"))
		}
	}()
}

// errTooManyNegSessions refuses a NEG-OPEN past NegentropyMaxSessions.
var errTooManyNegSessions = errors.New("blocked: too many negentropy sessions open on this connection; NEG-CLOSE one first")

// handleNegOpen answers a NIP-77 NEG-OPEN.
//
// sovmesh patch: a connection holds at most NegentropyMaxSessions sessions,
// counting those being opened: a placeholder takes the slot before the query
// runs. A NEG-OPEN reusing an open session's id replaces it (NIP-77).
func (rl *Relay) handleNegOpen(ctx context.Context, ws *WebSocket, env *nip77.OpenEnvelope) {
	srl := rl
	if rl.getSubRelayFromFilter != nil {
		srl = rl.getSubRelayFromFilter(env.Filter)
		if !srl.Negentropy {
			// ignore
			return
		}
	}
	negErr := func(reason string) {
		ws.WriteJSON(nip77.ErrorEnvelope{SubscriptionID: env.SubscriptionID, Reason: reason})
	}

	placeholder := &NegentropySession{postponeClose: func() {}}
	ws.negentropySessions.Store(env.SubscriptionID, placeholder)
	release := func() {
		ws.negentropySessions.Compute(env.SubscriptionID, func(old *NegentropySession, loaded bool) (*NegentropySession, bool) {
			return old, !loaded || old == placeholder // delete only our own placeholder
		})
	}
	if rl.NegentropyMaxSessions > 0 && ws.negentropySessions.Size() > rl.NegentropyMaxSessions {
		release()
		negErr(errTooManyNegSessions.Error())
		return
	}

	filter, err := srl.negentropyFilter(ctx, env.Filter)
	var (
		neg          *negentropy.Negentropy
		out          string
		reconcileErr error
	)
	if err == nil {
		// sovmesh patch: the read, the sort and the first Reconcile run
		// inside NegentropyLane (a refusal there is answered NEG-ERR).
		if lerr := rl.runNegentropy(ctx, func() {
			var vec *vector.Vector
			if vec, err = srl.negentropyVector(ctx, filter); err != nil {
				return
			}
			// reconcile to get the next message and return it
			neg = negentropy.New(vec, 1024*1024)
			out, reconcileErr = neg.Reconcile(env.Message)
		}); lerr != nil {
			err = lerr
		}
	}
	if err != nil {
		release()
		// fail everything if any filter is rejected
		reason := err.Error()
		if strings.HasPrefix(reason, "auth-required:") {
			RequestAuth(ctx)
		}
		negErr(reason)
		return
	}
	if reconcileErr != nil {
		release()
		negErr(nostr.NormalizeOKMessage(reconcileErr.Error(), "invalid"))
		return
	}
	ws.writeNegMessage(env.SubscriptionID, out) // sovmesh patch: see negMessage

	// if the message is not empty that means we'll probably have more reconciliation sessions, so store this
	if out == "" {
		release()
		return
	}
	deb := debounce.New(time.Second * 7)
	negSession := &NegentropySession{neg: neg}
	negSession.postponeClose = func() {
		deb(func() {
			ws.negentropySessions.Compute(env.SubscriptionID, func(old *NegentropySession, loaded bool) (*NegentropySession, bool) {
				return old, !loaded || old == negSession
			})
		})
	}
	negSession.postponeClose()
	ws.negentropySessions.Store(env.SubscriptionID, negSession)
}
