// Package relay is the sovmesh Nostr relay: khatru with the project's SQLite
// event store (or PostgreSQL with Config.Database, shared by several relay
// processes), NIP-01/09/11/40/42/45/77, size, time and rate limits with
// NIP-01 reasons, Prometheus metrics, and a clean shutdown that acknowledges
// nothing it has not made durable.
//
// OpenStore opens the event store a Config names; New builds a relay from a
// Config and that store; Serve or ListenAndServe runs it;
// Shutdown drains it. Market rules join through Options (extra event
// policies, NIP-11 additions, per-key rates, HTTP routes).
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovmesh/sovmesh/internal/bip340"
)

// Store is what the relay needs from its event storage.
type Store interface {
	eventstore.Store
	// CountUnion counts the distinct events matching any of filters, reading
	// at most max+1 matches of each; more than max: storeerr.ErrTooMany.
	CountUnion(ctx context.Context, filters []nostr.Filter, max int64) (int64, error)
	// Ping checks the store answers without waiting behind queries.
	Ping(ctx context.Context) error
}

// Relay is one relay instance.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	kh     *khatru.Relay
	store  Store
	secret string
	pubkey string
	now    func() time.Time

	metrics      *metrics
	subs         *subTracker
	ipEvents     *limiter
	pubkeyEvents *limiter
	ipReqs       *limiter
	ipNegs       *limiter
	ipReads      *limiter // rows read per IP, charged after each read
	ipHeavy      *limiter // milliseconds of COUNT and NEG-OPEN work per IP
	heavy        *heavyLane
	heavyCache   *heavyCache
	ipConns      *limiter
	connCount    *connCounter
	peers        []*peer

	policies  []namedPolicy
	answers   map[int]namedAnswer
	deletions *deletionIndex
	infoHooks []func(*Info)
	onFailure []func(context.Context, *nostr.Event)
	mux       *http.ServeMux

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	srv  *http.Server
	addr net.Addr
	// listenHosts name the address Serve listens on (see ListenURLs).
	listenHosts []string
	conns       map[*khatru.WebSocket]struct{}
	rawConns    map[net.Conn]struct{}
	inflight    inflight
	closing     bool
	closed      bool
}

// Option changes how New builds a relay.
type Option func(*options)

type options struct {
	log        *slog.Logger
	policies   []namedPolicy
	infoHooks  []func(*Info)
	pubkeyRate RateFunc
	onEvent    []func(context.Context, *nostr.Event)
	onFailure  []func(context.Context, *nostr.Event)
	onResume   []func()
	collectors []prometheus.Collector
	answers    map[int]namedAnswer
	challenge  bool
	err        error
}

// WithLogger sets the logger (default: slog.Default()'s handler at Info).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithEventPolicy adds a policy that runs after the relay's own checks.
// reason labels its refusals in the rejected-events metric.
func WithEventPolicy(reason string, p EventPolicy) Option {
	return func(o *options) { o.policies = append(o.policies, namedPolicy{reason, p}) }
}

// WithInfo adds a function that edits the NIP-11 document (fees, for example).
func WithInfo(f func(*Info)) Option { return func(o *options) { o.infoHooks = append(o.infoHooks, f) } }

// WithPubkeyRate replaces the fixed per-author event rate with f, so rates
// can depend on the author's trust.
func WithPubkeyRate(f RateFunc) Option { return func(o *options) { o.pubkeyRate = f } }

// WithOnEvent adds a function called with every event the relay accepted:
// after it is durably stored (regular, replaceable, addressable) or as it is
// delivered (ephemeral), before the OK is sent. On a store shared by several
// relay processes it is also called with each event another process stored,
// as its notification arrives. It must not block for long.
func WithOnEvent(f func(ctx context.Context, evt *nostr.Event)) Option {
	return func(o *options) { o.onEvent = append(o.onEvent, f) }
}

// WithOnRemoteResume adds a function called when, on a store shared by
// several relay processes, this relay listens again for the others' events
// after an interruption: events they stored meanwhile were not passed to the
// WithOnEvent functions (they are in the store). It must not block.
func WithOnRemoteResume(f func()) Option {
	return func(o *options) { o.onResume = append(o.onResume, f) }
}

// WithCollector adds c's series to the relay's /metrics (the market's, for
// one).
func WithCollector(c prometheus.Collector) Option {
	return func(o *options) { o.collectors = append(o.collectors, c) }
}

// WithOnStoreFailure adds a function called when an event passed every policy
// but could not be stored (so a fee charged for it can be refunded).
func WithOnStoreFailure(f func(ctx context.Context, evt *nostr.Event)) Option {
	return func(o *options) { o.onFailure = append(o.onFailure, f) }
}

// Answer handles an ephemeral event addressed to the relay itself (a
// request, such as a prepaid fee top-up), once every policy accepted it. ok
// and msg are the NIP-01 OK: msg is shown to the client either way and
// carries a machine-readable prefix ("blocked: ...", "error: ...") when !ok.
type Answer func(ctx context.Context, evt *nostr.Event) (ok bool, msg string)

type namedAnswer struct {
	reason string
	fn     Answer
}

// WithAnswer makes the relay answer the ephemeral events of kind with a:
// such an event goes through the policies like any other, then a's OK is
// sent, and the event is neither broadcast nor passed to the WithOnEvent
// functions. reason labels a's refusals in the rejected-events metric. New
// fails if kind is not ephemeral or already has an answer.
func WithAnswer(reason string, kind int, a Answer) Option {
	return func(o *options) {
		_, dup := o.answers[kind]
		switch {
		case !nostr.IsEphemeralKind(kind):
			o.err = errors.Join(o.err, fmt.Errorf("answer for kind %d: only ephemeral kinds (20000-29999) can be answered", kind))
		case dup:
			o.err = errors.Join(o.err, fmt.Errorf("answer for kind %d: already set", kind))
		default:
			if o.answers == nil {
				o.answers = map[int]namedAnswer{}
			}
			o.answers[kind] = namedAnswer{reason, a}
		}
	}
}

// WithAuthChallenge makes the relay send its NIP-42 challenge as soon as a
// client connects, so a client can authenticate before it is asked to (to
// pay fees from its prepaid balance on a relay that does not require AUTH).
func WithAuthChallenge() Option { return func(o *options) { o.challenge = true } }

// AuthedPubkey returns the NIP-42 authenticated pubkey of the connection
// behind ctx (as policies receive it), or "".
func AuthedPubkey(ctx context.Context) string { return khatru.GetAuthed(ctx) }

// New validates cfg, creates the data directory and loads or creates the
// relay key. store holds the events (OpenStore opens the one cfg names);
// the relay takes it over: Shutdown closes it, and so does New when it fails.
func New(cfg Config, store Store, opts ...Option) (r *Relay, err error) {
	if store == nil {
		return nil, fmt.Errorf("%w: no event store", ErrInvalidConfig)
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, o.err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	secret, err := LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	pubkey, err := nostr.GetPublicKey(secret)
	if err != nil {
		return nil, fmt.Errorf("derive relay pubkey: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r = &Relay{
		cfg:       cfg,
		log:       o.log,
		store:     store,
		secret:    secret,
		pubkey:    pubkey,
		now:       cfg.now(),
		metrics:   newMetrics(),
		infoHooks: o.infoHooks,
		onFailure: o.onFailure,
		answers:   o.answers,
		deletions: newDeletionIndex(),
		mux:       http.NewServeMux(),
		ctx:       ctx,
		cancel:    cancel,
		conns:     make(map[*khatru.WebSocket]struct{}),
		rawConns:  make(map[net.Conn]struct{}),
	}
	if err := r.deletions.load(ctx, store); err != nil {
		cancel()
		return nil, err
	}
	r.subs = newSubTracker(func(n int) { r.metrics.subscriptions.Set(float64(n)) })
	for _, c := range o.collectors {
		if err := r.metrics.reg.Register(c); err != nil {
			cancel()
			return nil, fmt.Errorf("relay: metrics: %w", err)
		}
	}
	r.ipEvents = newLimiter(fixedRate(cfg.IPEventRate, cfg.IPEventBurst))
	r.ipReqs = newLimiter(fixedRate(cfg.IPReqRate, cfg.IPReqBurst))
	r.ipNegs = newLimiter(fixedRate(cfg.IPNegRate, cfg.IPNegBurst))
	r.ipReads = newLimiter(fixedRate(cfg.IPReadRate, cfg.IPReadBurst))
	r.ipHeavy = newLimiter(fixedRate(cfg.IPHeavyRate, cfg.IPHeavyBurst))
	r.heavy = newHeavyLane(heavyConcurrency(cfg.HeavyConcurrency), cfg.HeavyQueue, r.ipHeavy, r.now,
		func(outcome string) { r.metrics.heavy.WithLabelValues(outcome).Inc() })
	r.heavyCache = newHeavyCache(cfg.HeavyCacheTTL, 256, cfg.NegMaxRecords+1)
	r.ipConns = newLimiter(fixedRate(float64(cfg.IPConnPerMinute)/60, connBurst(cfg.IPConnPerMinute, cfg.IPConnBurst)))
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		nofile, err := openFileLimit()
		if err != nil {
			nofile = 1024
			o.log.Warn("open file limit unknown; deriving the connection cap from 1024", "err", err)
		}
		maxConns = DeriveMaxConnections(nofile)
		o.log.Info("connection cap derived from the open file limit", "open_files", nofile, "max_connections", maxConns)
	}
	r.connCount = newConnCounter(cfg.IPMaxConnections, maxConns)
	if o.pubkeyRate != nil {
		r.pubkeyEvents = newLimiter(o.pubkeyRate)
	} else {
		r.pubkeyEvents = newLimiter(fixedRate(cfg.PubkeyEventRate, cfg.PubkeyBurst))
	}
	r.policies = append(r.eventPolicies(), o.policies...)
	r.kh = r.newKhatru()
	if o.challenge {
		r.kh.OnConnect = append(r.kh.OnConnect, khatru.RequestAuth)
	}
	for _, f := range o.onEvent {
		r.kh.OnEventSaved = append(r.kh.OnEventSaved, f)
		r.kh.OnEphemeralEvent = append(r.kh.OnEphemeralEvent, f)
	}
	if rs, ok := store.(remoteEvents); ok {
		r.listenRemote(ctx, rs, o.onEvent, o.onResume)
	}
	r.mux.HandleFunc("GET /healthz", r.serveHealth)
	r.mux.Handle("GET /metrics", r.metrics.handler())
	r.startPeering()
	for _, l := range []*limiter{r.ipEvents, r.ipReqs, r.ipNegs, r.ipReads, r.ipHeavy, r.ipConns, r.pubkeyEvents} {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.run(ctx, time.Minute)
		}()
	}
	return r, nil
}

func (r *Relay) newKhatru() *khatru.Relay {
	kh := khatru.NewRelay()
	kh.Log = slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)
	kh.ServiceURL = r.cfg.ServiceURL
	kh.AuthRelayMatches = r.authRelayMatches
	kh.MaxMessageSize = int64(r.cfg.MaxMessageLength) + 64*1024 // hard cut; the policy answers below it
	kh.Negentropy = true
	kh.SendQueueMessages = r.cfg.SendQueueMessages
	kh.SendQueueBytes = r.cfg.SendQueueBytes
	kh.WriteWait = r.cfg.WriteTimeout
	kh.MaxMessageAssembly = r.cfg.MessageTimeout
	kh.OnConnectionDropped = append(kh.OnConnectionDropped, func(ws *khatru.WebSocket, reason, detail string) {
		r.metrics.dropped.WithLabelValues(reason).Inc()
		// Counted in the metric; at Info a client could write a log line per
		// connection it gets dropped, hundreds a minute.
		r.log.Debug("connection dropped", "reason", reason, "detail", detail, "ip", clientIP(ws.Request, r.cfg.TrustedProxies))
	})
	r.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sovmesh_broadcast_filters_checked_total",
		Help: "Subscription filters checked against published events (filters that cannot match are skipped by an index).",
	}, func() float64 { return float64(kh.BroadcastChecks()) }))
	kh.NegentropyMaxRecords = r.cfg.NegMaxRecords
	kh.NegentropyMaxSessions = r.cfg.NegMaxSessions
	kh.OnMessagePanic = append(kh.OnMessagePanic, r.onMessagePanic)
	kh.Info.PubKey = r.pubkey
	// khatru checks the id first; bip340 then verifies the signature over
	// it, with libsecp256k1 when the build has cgo (about 4x go-nostr's).
	kh.CheckSignature = bip340.CheckID

	st := &storeHooks{r: r}
	kh.StoreEvent = append(kh.StoreEvent, st.save)
	kh.ReplaceEvent = append(kh.ReplaceEvent, st.replace)
	kh.DeleteEvent = append(kh.DeleteEvent, st.delete)
	kh.QueryEvents = append(kh.QueryEvents, st.query)
	if _, ok := r.store.(jsonQuerier); ok {
		kh.QueryEventsJSON = append(kh.QueryEventsJSON, st.queryJSON)
	}
	if _, ok := r.store.(idQuerier); ok {
		kh.QueryNegentropy = st.queryNegentropy
	}
	kh.NegentropyLane = st.negentropyLane
	kh.CountEvents = append(kh.CountEvents, st.count)

	kh.RejectEvent = append(kh.RejectEvent, r.rejectEvent)
	kh.AnswerEphemeral = append(kh.AnswerEphemeral, r.answer)
	kh.OverwriteFilter = append(kh.OverwriteFilter, r.overwriteFilter)
	kh.RejectFilter = append(kh.RejectFilter, r.rejectFilter)
	kh.RejectCountFilter = append(kh.RejectCountFilter, r.rejectCountFilter)
	kh.OnEventSaved = append(kh.OnEventSaved, func(_ context.Context, evt *nostr.Event) {
		r.metrics.accepted.WithLabelValues(kindClass(evt.Kind)).Inc()
	})
	kh.OnEphemeralEvent = append(kh.OnEphemeralEvent, func(_ context.Context, evt *nostr.Event) {
		r.metrics.accepted.WithLabelValues(kindClass(evt.Kind)).Inc()
	})
	kh.OnEventRejected = append(kh.OnEventRejected, func(_ context.Context, _ *nostr.Event, code string) {
		r.metrics.rejected.WithLabelValues(code).Inc()
	})
	kh.OnConnect = append(kh.OnConnect, func(ctx context.Context) {
		ws := khatru.GetConnection(ctx)
		r.mu.Lock()
		r.conns[ws] = struct{}{}
		n := len(r.conns)
		r.mu.Unlock()
		r.metrics.connections.Set(float64(n))
	})
	kh.OnDisconnect = append(kh.OnDisconnect, func(ctx context.Context) {
		ws := khatru.GetConnection(ctx)
		r.mu.Lock()
		delete(r.conns, ws)
		n := len(r.conns)
		r.mu.Unlock()
		r.metrics.connections.Set(float64(n))
	})
	return kh
}

// onMessagePanic reports a panic khatru recovered while handling one
// message (it closes that connection): a bug of ours, logged at Error.
func (r *Relay) onMessagePanic(ctx context.Context, v any, stack []byte) {
	r.metrics.panics.Inc()
	r.log.Error("panic handling a client message; connection closed", "ip", r.connIP(ctx), "panic", fmt.Sprint(v), "stack", string(stack))
}

// rejectEvent runs the policy chain and counts refusals by reason.
func (r *Relay) rejectEvent(ctx context.Context, evt *nostr.Event) (bool, string) {
	r.mu.Lock()
	closing := r.closing
	r.mu.Unlock()
	if closing {
		r.metrics.rejected.WithLabelValues("shutting_down").Inc()
		return true, "error: relay is shutting down; retry on another relay or later"
	}
	for _, p := range r.policies {
		if msg := p.fn(ctx, evt); msg != "" {
			r.metrics.rejected.WithLabelValues(p.reason).Inc()
			return true, msg
		}
	}
	return false, ""
}

// answer runs the Answer for evt's kind, if there is one (after
// rejectEvent accepted evt), counting it as accepted or refused. A shutdown
// waits for it as for a store write.
func (r *Relay) answer(ctx context.Context, evt *nostr.Event) (handled, ok bool, msg string) {
	a, found := r.answers[evt.Kind]
	if !found {
		return false, false, ""
	}
	r.inflight.add(1)
	defer r.inflight.add(-1)
	ok, msg = a.fn(ctx, evt)
	if ok {
		r.metrics.accepted.WithLabelValues(kindClass(evt.Kind)).Inc()
	} else {
		r.metrics.rejected.WithLabelValues(a.reason).Inc()
	}
	return true, ok, msg
}

// connIP is the client address of the connection behind ctx (see
// clientIP), or "" for an internal call.
func (r *Relay) connIP(ctx context.Context) string {
	ws := khatru.GetConnection(ctx)
	if ws == nil || ws.Request == nil {
		return ""
	}
	return limitKey(clientIP(ws.Request, r.cfg.TrustedProxies))
}

func kindClass(kind int) string {
	switch {
	case nostr.IsEphemeralKind(kind):
		return "ephemeral"
	case nostr.IsReplaceableKind(kind):
		return "replaceable"
	case nostr.IsAddressableKind(kind):
		return "addressable"
	default:
		return "regular"
	}
}

// ForgetPubkeyRate drops the rate-limit bucket of pubkey, so its next event
// is limited at the rate the RateFunc gives now (after its trust changed).
func (r *Relay) ForgetPubkeyRate(pubkey string) { r.pubkeyEvents.forget(pubkey) }

// PublicKey returns the relay's hex public key (announced in NIP-11).
func (r *Relay) PublicKey() string { return r.pubkey }

// Sign signs evt with the relay's key (for events the relay publishes itself).
func (r *Relay) Sign(evt *nostr.Event) error { return evt.Sign(r.secret) }

// Publish stores evt as if a client had sent it, then delivers it to live
// subscriptions. evt must be signed.
func (r *Relay) Publish(ctx context.Context, evt *nostr.Event) error {
	if ok, err := bip340.CheckEvent(evt); err != nil || !ok {
		return fmt.Errorf("publish %s: invalid signature", evt.ID)
	}
	skip, err := r.kh.AddEvent(ctx, evt)
	if err != nil {
		return fmt.Errorf("publish %s: %w", evt.ID, err)
	}
	if !skip {
		r.kh.BroadcastEvent(evt)
	}
	return nil
}

// remoteEvents is a store shared by several relay processes that announces
// the events the others store (pgstore does, with LISTEN/NOTIFY).
type remoteEvents interface {
	ListenRemote(ctx context.Context, f func(*nostr.Event), listening func())
}

// listenRemote delivers the events other relay processes store to this
// relay's live subscriptions and to the WithOnEvent functions (the market
// books them), and records their deletions; after an interruption it calls
// the WithOnRemoteResume functions. It waits (up to
// ten seconds) until the store listens, so events stored once New returns
// reach this relay's subscribers.
func (r *Relay) listenRemote(ctx context.Context, rs remoteEvents, onEvent []func(context.Context, *nostr.Event), onResume []func()) {
	ready := make(chan struct{})
	var once sync.Once
	listened := false // owned by the ListenRemote goroutine
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		rs.ListenRemote(ctx, func(evt *nostr.Event) {
			r.deletions.add(evt)
			r.kh.BroadcastEvent(evt)
			for _, f := range onEvent {
				f(ctx, evt)
			}
		}, func() {
			once.Do(func() { close(ready) })
			if listened {
				for _, f := range onResume {
					f()
				}
			}
			listened = true
		})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		r.log.Warn("event store notifications not listening yet; events other relays store may not reach live subscribers")
	}
}

// Store returns the relay's event store, for read-only views (web pages,
// the order book).
func (r *Relay) Store() Store { return r.store }

// Mux is the relay's HTTP mux for plain HTTP routes. Websocket upgrades and
// NIP-11 requests are answered before it.
func (r *Relay) Mux() *http.ServeMux { return r.mux }

// Handler returns the relay's HTTP handler: websocket, NIP-11, then Mux.
// Served by another server than Serve's, the relay knows no listen address,
// so NIP-42 AUTH is accepted only when a ServiceURL is configured.
func (r *Relay) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
			r.serveWebsocket(w, req)
		case req.Header.Get("Accept") == "application/nostr+json":
			r.serveInfo(w, req)
		default:
			r.mux.ServeHTTP(w, req)
		}
	})
}

// serveHealth answers /healthz. The store is probed on a connection of its
// own, so the answer does not wait behind heavy queries.
func (r *Relay) serveHealth(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	if err := r.store.Ping(ctx); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// ListenAndServe listens on Config.Listen and serves until Shutdown.
func (r *Relay) ListenAndServe() error {
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", r.cfg.Listen, err)
	}
	return r.Serve(ln)
}

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("relay closed")

// Serve answers connections on ln until Shutdown. It returns ErrClosed after
// a clean shutdown.
func (r *Relay) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           r.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	r.mu.Lock()
	if r.closed || r.closing {
		r.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	r.srv = srv
	r.addr = ln.Addr()
	r.mu.Unlock()
	r.setListenHosts(ln.Addr())
	r.log.Info("relay listening", "addr", ln.Addr().String(), "pubkey", r.pubkey, "data", r.cfg.DataDir)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return ErrClosed
}

// Addr returns the address Serve is listening on, or nil before it starts.
func (r *Relay) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// Shutdown stops accepting connections, tells websocket clients the relay is
// going away, lets in-flight writes finish and be acknowledged, then closes
// the store. Events already acknowledged are durable before Shutdown starts;
// it only decides how long stragglers may take (ctx, at most ShutdownGrace).
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	srv := r.srv
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	// Let writes already in the store pipeline finish and be acknowledged.
	r.inflight.wait(ctx)
	// The close message is queued, never waited for: a client that does not
	// read cannot hold the shutdown (its connection is cut below). Queued
	// outside r.mu, since a connection that cannot take it is closed, and
	// closing takes r.mu.
	r.mu.Lock()
	conns := make([]*khatru.WebSocket, 0, len(r.conns))
	for ws := range r.conns {
		conns = append(conns, ws)
	}
	r.mu.Unlock()
	for _, ws := range conns {
		_ = ws.WriteMessage(closeMessage, closeGoingAway)
	}
	// Give clients a moment to close their side, then cut what is left.
	deadline := time.NewTimer(500 * time.Millisecond)
	tick := time.NewTicker(20 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-deadline.C:
			done = true
		case <-ctx.Done():
			done = true
		case <-tick.C:
			r.mu.Lock()
			done = len(r.rawConns) == 0
			r.mu.Unlock()
		}
	}
	deadline.Stop()
	tick.Stop()
	r.mu.Lock()
	r.closed = true
	left := make([]net.Conn, 0, len(r.rawConns))
	for c := range r.rawConns {
		left = append(left, c)
	}
	r.mu.Unlock()
	for _, c := range left {
		c.Close()
	}
	r.inflight.wait(ctx)

	r.cancel()
	r.wg.Wait()
	r.store.Close()
	r.log.Info("relay stopped")
	return errors.Join(errs...)
}

// connBurst is how many new connections one IP may open at once: burst if
// set, at most the minute's perMinute; the whole minute's when burst is 0.
func connBurst(perMinute, burst int) int {
	if burst == 0 || burst > perMinute {
		return perMinute
	}
	return burst
}
