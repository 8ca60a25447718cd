package relay

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the relay's Prometheus series, on a registry of its own so two
// relays in one process (tests, benchmarks) never collide.
type metrics struct {
	reg           *prometheus.Registry
	accepted      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	connections   prometheus.Gauge
	connRefused   *prometheus.CounterVec
	subscriptions prometheus.Gauge
	storeSeconds  *prometheus.HistogramVec
	dropped       *prometheus.CounterVec
	panics        prometheus.Counter
	heavy         *prometheus.CounterVec
	paced         *prometheus.CounterVec
	peerConnected *prometheus.GaugeVec
	peerEvents    *prometheus.CounterVec
	peerLastSync  *prometheus.GaugeVec
	peerLag       *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_events_accepted_total",
			Help: "Events acknowledged with OK true, by storage class (regular, replaceable, addressable, ephemeral).",
		}, []string{"class"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_events_rejected_total",
			Help: "Events refused with OK false, by reason.",
		}, []string{"reason"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sovmesh_connections",
			Help: "Open websocket connections.",
		}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_connections_refused_total",
			Help: "Websocket upgrades refused, by reason (ip_rate, ip_limit, total_limit, shutting_down).",
		}, []string{"reason"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sovmesh_subscriptions",
			Help: "Open REQ subscriptions across all connections.",
		}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sovmesh_store_seconds",
			Help:    "Latency of event store operations; save, replace and delete include the durable group commit.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_connections_dropped_total",
			Help: "Connections the relay closed for the client's behaviour, by reason: slow_consumer (did not read fast enough), message_timeout (sent a message too slowly).",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sovmesh_panics_total",
			Help: "Panics recovered while handling a client message (each closed its connection).",
		}),
		heavy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_heavy_queries_total",
			Help: "COUNT and NEG-OPEN reads and NEG-MSG reconciliations, by outcome: run (in the heavy-query lane), cached (a read answered from the cache; its NEG-OPEN still runs in the lane), busy (refused, lane and queue full), budget (refused, the client IP's heavy-work budget spent).",
		}, []string{"outcome"}),
		paced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_rate_limited_paused_total",
			Help: "Messages refused over a rate limit that paused their connection (--rate-limited-pause), by what waited: message (the connection's next message).",
		}, []string{"what"}),
		peerConnected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sovmesh_peer_connected",
			Help: "1 while the live connection to a peer (--peers) is up.",
		}, []string{"peer"}),
		peerEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sovmesh_peer_events_total",
			Help: "Live events exchanged with a peer, by direction (in, out) and result (stored, refused, rate_limited, sent, queue_full).",
		}, []string{"peer", "direction", "result"}),
		peerLastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sovmesh_peer_last_sync_timestamp_seconds",
			Help: "Unix time of the last NIP-77 reconciliation with a peer that completed.",
		}, []string{"peer"}),
		peerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sovmesh_peer_lag_seconds",
			Help: "Age (now less created_at) of the last live event received from a peer.",
		}, []string{"peer"}),
	}
	m.reg.MustRegister(m.accepted, m.rejected, m.connections, m.connRefused, m.subscriptions, m.storeSeconds, m.dropped, m.panics, m.heavy, m.paced,
		m.peerConnected, m.peerEvents, m.peerLastSync, m.peerLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Connections returns the number of open websocket connections.
func (r *Relay) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// RejectedByReason returns how many events were refused since start, by
// reason (the labels of sovmesh_events_rejected_total).
func (r *Relay) RejectedByReason() map[string]float64 {
	ch := make(chan prometheus.Metric, 32)
	go func() {
		r.metrics.rejected.Collect(ch)
		close(ch)
	}()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "reason" {
				out[l.GetValue()] = d.GetCounter().GetValue()
			}
		}
	}
	return out
}
