package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names read by MetricsStats (the relay's series, see relay/metrics.go).
const (
	metricConnections = "sovmesh_connections"
	metricRejected    = "sovmesh_events_rejected_total"
)

// MetricsStats reads Stats from the relay's own /metrics handler, in
// process (no network): an adapter for as long as relay.Relay has no typed
// getters. The relay's mux is a fine handler: MetricsStats(r.Mux()).
func MetricsStats(h http.Handler) Stats { return &metricsStats{h: h} }

type metricsStats struct {
	h  http.Handler
	mu sync.Mutex
}

func (m *metricsStats) Connections() int {
	fams, err := m.read()
	if err != nil {
		return 0
	}
	return int(parseConnections(fams))
}

func (m *metricsStats) RejectedByReason() map[string]float64 {
	fams, err := m.read()
	if err != nil {
		return map[string]float64{}
	}
	return parseRejected(fams)
}

func (m *metricsStats) read() (map[string]*dto.MetricFamily, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req, err := http.NewRequest(http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	m.h.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d", rec.status)
	}
	return parseMetrics(&rec.body)
}

// parseMetrics reads Prometheus text exposition format.
func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// parseConnections returns the sovmesh_connections gauge (0 if absent).
func parseConnections(fams map[string]*dto.MetricFamily) float64 {
	f := fams[metricConnections]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		if u := m.GetUntyped(); u != nil {
			return u.GetValue()
		}
	}
	return 0
}

// parseRejected returns sovmesh_events_rejected_total by its reason label.
func parseRejected(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := make(map[string]float64)
	f := fams[metricRejected]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var reason string
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				reason = l.GetValue()
			}
		}
		v := m.GetCounter().GetValue()
		if m.GetCounter() == nil {
			v = m.GetUntyped().GetValue()
		}
		out[reason] += v
	}
	return out
}

// recorder is the minimal ResponseWriter MetricsStats serves into.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
