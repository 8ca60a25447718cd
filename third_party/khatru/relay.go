package khatru

import (
	"context"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip11"
	"github.com/nbd-wtf/go-nostr/nip45/hyperloglog"
)

func NewRelay() *Relay {
	ctx := context.Background()

	rl := &Relay{
		Log: log.New(os.Stderr, "[khatru-relay] ", log.LstdFlags),

		Info: &nip11.RelayInformationDocument{
			Software:      "https://github.com/fiatjaf/khatru",
			Version:       "n/a",
			SupportedNIPs: []any{1, 11, 40, 42, 70, 86},
		},

		upgrader: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
			CheckOrigin:     func(r *http.Request) bool { return true },
		},

		clients:   make(map[*WebSocket][]listenerSpec, 100),
		listeners: newListenerIndex(),

		serveMux: &http.ServeMux{},

		WriteWait:      10 * time.Second,
		PongWait:       60 * time.Second,
		PingPeriod:     30 * time.Second,
		MaxMessageSize: 512000,
		// sovmesh patch: see sendqueue.go and reading.go
		MaxMessageAssembly: 20 * time.Second,
		SendQueueMessages:  1024,
		SendQueueBytes:     4 << 20,
	}

	rl.expirationManager = newExpirationManager(rl)
	go rl.expirationManager.start(ctx)

	return rl
}

type Relay struct {
	// setting this variable overwrites the hackish workaround we do to try to figure out our own base URL
	ServiceURL string

	// hooks that will be called at various times
	RejectEvent              []func(ctx context.Context, event *nostr.Event) (reject bool, msg string)
	OverwriteDeletionOutcome []func(ctx context.Context, target *nostr.Event, deletion *nostr.Event) (acceptDeletion bool, msg string)
	StoreEvent               []func(ctx context.Context, event *nostr.Event) error
	ReplaceEvent             []func(ctx context.Context, event *nostr.Event) error
	DeleteEvent              []func(ctx context.Context, event *nostr.Event) error
	OnEventSaved             []func(ctx context.Context, event *nostr.Event)
	OnEphemeralEvent         []func(ctx context.Context, event *nostr.Event)
	RejectFilter             []func(ctx context.Context, filter nostr.Filter) (reject bool, msg string)
	RejectCountFilter        []func(ctx context.Context, filter nostr.Filter) (reject bool, msg string)
	OverwriteFilter          []func(ctx context.Context, filter *nostr.Filter)
	QueryEvents              []func(ctx context.Context, filter nostr.Filter) (chan *nostr.Event, error)
	QueryEventsJSON          []func(ctx context.Context, filter nostr.Filter) (chan []byte, error) // sovmesh patch: see handleRequest
	// sovmesh patch: CountEvents functions count the distinct events matching
	// any of a COUNT's filters (NIP-45 ORs them); upstream took one filter.
	// An error is answered CLOSED with its text (prefixed "error: " unless it
	// carries a NIP-01 prefix).
	CountEvents               []func(ctx context.Context, filters nostr.Filters) (int64, error)
	CountEventsHLL            []func(ctx context.Context, filter nostr.Filter, offset int) (int64, *hyperloglog.HyperLogLog, error)
	RejectConnection          []func(r *http.Request) bool
	OnConnect                 []func(ctx context.Context)
	OnDisconnect              []func(ctx context.Context)
	OverwriteRelayInformation []func(ctx context.Context, r *http.Request, info nip11.RelayInformationDocument) nip11.RelayInformationDocument
	OverwriteResponseEvent    []func(ctx context.Context, event *nostr.Event)
	PreventBroadcast          []func(ws *WebSocket, event *nostr.Event) bool
	// sovmesh patch: OnEventRejected is called for the refusals khatru makes
	// itself, before or outside RejectEvent: code is "bad_id",
	// "bad_signature", "protected" or "deleted".
	OnEventRejected []func(ctx context.Context, event *nostr.Event, code string)
	// sovmesh patch: AnswerEphemeral hooks run, in order, on an ephemeral
	// event that passed RejectEvent. The first that returns handled answers
	// the event itself (a request to the relay, not a message for other
	// clients): the OK carries its ok and msg (prefixed when !ok), and the
	// event is neither given to OnEphemeralEvent nor broadcast.
	AnswerEphemeral []func(ctx context.Context, event *nostr.Event) (handled bool, ok bool, msg string)
	// sovmesh patch: CheckSignature, when set, checks an incoming event's
	// signature instead of go-nostr's Event.CheckSignature (a faster
	// verifier). It is called only after the event's id was checked, so it
	// may verify the signature against the id. An error means the key or
	// signature is malformed and is answered "invalid: " + its text.
	CheckSignature func(event *nostr.Event) (bool, error)
	// sovmesh patch: OnConnectionDropped is called once for a connection
	// the relay closes for its behaviour: reason is DropSlowConsumer or
	// DropMessageTimeout, detail says more (for logs). It runs in the
	// goroutine that found out (a publisher's, for a full queue), so it
	// must not block.
	OnConnectionDropped []func(ws *WebSocket, reason, detail string)
	// sovmesh patch: OnMessagePanic is called when handling one message
	// panicked (the panic is recovered and that connection closed); without
	// it the panic is logged to Log.
	OnMessagePanic []func(ctx context.Context, recovered any, stack []byte)
	// sovmesh patch: NegentropyMaxRecords, when positive, refuses a NEG-OPEN
	// whose filter selects more records than this ("blocked: too many
	// records, narrow the filter"); the query reads at most one more.
	NegentropyMaxRecords int
	// sovmesh patch: NegentropyMaxSessions, when positive, bounds the
	// NEG-OPEN sessions open (or being opened) on one connection.
	NegentropyMaxSessions int
	// sovmesh patch: QueryNegentropy, when set, gives a NEG-OPEN the
	// created_at and id of each event matching filter (at most filter.Limit
	// of them), calling add for each, instead of QueryEvents: a store that
	// reads them from its indexes loads and decodes no event. An error is
	// answered NEG-ERR with its text.
	QueryNegentropy func(ctx context.Context, filter nostr.Filter, add func(createdAt nostr.Timestamp, id string)) error
	// sovmesh patch: NegentropyLane, when set, runs the CPU work of NIP-77:
	// a NEG-OPEN's read of its records, their sort and its first Reconcile
	// (after its filter passed the RejectFilter checks), and each NEG-MSG's
	// Reconcile. It calls work at most once; an error, returned only when it
	// did not, is answered NEG-ERR with its text (which ends the session).
	// sovmesh runs the work in its heavy-query lane, charged to the client's
	// budget; upstream ran it wherever the message was handled.
	NegentropyLane func(ctx context.Context, work func()) error
	// sovmesh patch: AuthRelayMatches, when set, decides whether relayTag,
	// the "relay" tag of a NIP-42 AUTH event received on the connection
	// upgraded by r, names this relay; reason is the OK message when it does
	// not ("invalid: ..."). Unset, the tag is compared with ServiceURL or,
	// without one, a URL built from the request's Host and X-Forwarded-*
	// headers, as upstream (which accepts an AUTH made for another relay
	// when the client sends that relay's name as its Host).
	AuthRelayMatches func(r *http.Request, relayTag string) (ok bool, reason string)

	// these are used when this relays acts as a router
	routes                []Route
	getSubRelayFromEvent  func(*nostr.Event) *Relay // used for handling EVENTs
	getSubRelayFromFilter func(nostr.Filter) *Relay // used for handling REQs

	// setting up handlers here will enable these methods
	ManagementAPI RelayManagementAPI

	// editing info will affect the NIP-11 responses
	Info *nip11.RelayInformationDocument

	// Default logger, as set by NewServer, is a stdlib logger prefixed with "[khatru-relay] ",
	// outputting to stderr.
	Log *log.Logger

	// for establishing websockets
	upgrader websocket.Upgrader

	// keep a connection reference to all connected clients for Server.Shutdown
	// also used for keeping track of who is listening to what
	clients      map[*WebSocket][]listenerSpec
	listeners    *listenerIndex // sovmesh patch: indexed (listener.go)
	clientsMutex sync.Mutex

	// set this to true to support negentropy
	Negentropy bool

	// in case you call Server.Start
	Addr       string
	serveMux   *http.ServeMux
	httpServer *http.Server

	// websocket options
	WriteWait      time.Duration // Time allowed to write a message to the peer.
	PongWait       time.Duration // Time allowed to read the next pong message from the peer.
	PingPeriod     time.Duration // Send pings to peer with this period. Must be less than pongWait.
	MaxMessageSize int64         // Maximum message size allowed from peer.

	// sovmesh patch: MaxMessageAssembly bounds the time from a message's
	// first frame to its last. SendQueueMessages and SendQueueBytes bound
	// what waits to be written to one connection; a connection over
	// either, or whose write takes longer than WriteWait, is closed and
	// reported to OnConnectionDropped (sendqueue.go).
	MaxMessageAssembly time.Duration
	SendQueueMessages  int
	SendQueueBytes     int

	// NIP-40 expiration manager
	expirationManager *expirationManager
}

// authRelayURL returns the URL nip42.ValidateAuthEvent is to check the
// relay tag of evt against, or the OK reason refusing evt (sovmesh patch:
// see AuthRelayMatches).
func (rl *Relay) authRelayURL(r *http.Request, evt *nostr.Event) (url string, refused string) {
	if rl.AuthRelayMatches == nil {
		return strings.Replace(rl.getBaseURL(r), "http", "ws", 1), ""
	}
	tag := evt.Tags.Find("relay")
	if tag == nil {
		return "", "invalid: AUTH event has no relay tag"
	}
	if ok, reason := rl.AuthRelayMatches(r, tag[1]); !ok {
		return "", reason
	}
	return tag[1], ""
}

func (rl *Relay) getBaseURL(r *http.Request) string {
	if rl.ServiceURL != "" {
		return rl.ServiceURL
	}

	host := r.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if proto == "" {
		if host == "localhost" {
			proto = "http"
		} else if strings.Contains(host, ":") {
			// has a port number
			proto = "http"
		} else if _, err := strconv.Atoi(strings.ReplaceAll(host, ".", "")); err == nil {
			// it's a naked IP
			proto = "http"
		} else {
			proto = "https"
		}
	}
	return proto + "://" + host
}
