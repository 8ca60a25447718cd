package relay

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// connCounter counts open websocket connections per client (limitKey) and
// in total, for the connection caps.
type connCounter struct {
	maxPerIP, maxTotal int // 0: no cap

	mu    sync.Mutex
	perIP map[string]int
	total int
}

func newConnCounter(maxPerIP, maxTotal int) *connCounter {
	return &connCounter{maxPerIP: maxPerIP, maxTotal: maxTotal, perIP: make(map[string]int)}
}

// Reasons a connection is refused: the labels of
// sovmesh_connections_refused_total.
const (
	refusedIPRate     = "ip_rate"     // --ip-conn-per-minute
	refusedIPLimit    = "ip_limit"    // --ip-max-connections
	refusedTotalLimit = "total_limit" // --max-connections
	refusedClosing    = "shutting_down"
)

// acquire takes a slot for a connection from key. It returns the function
// that gives the slot back (safe to call more than once), or the reason
// the connection is refused.
func (c *connCounter) acquire(key string) (release func(), refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxTotal > 0 && c.total >= c.maxTotal {
		return nil, refusedTotalLimit
	}
	if c.maxPerIP > 0 && c.perIP[key] >= c.maxPerIP {
		return nil, refusedIPLimit
	}
	c.total++
	c.perIP[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if c.perIP[key]--; c.perIP[key] <= 0 {
				delete(c.perIP, key)
			}
		})
	}, ""
}

// serveWebsocket admits a websocket upgrade, or refuses it over the
// connection rate or caps with a status and a body saying which limit was
// hit. An admitted connection holds its slot until its network connection
// closes (or at once, if the upgrade fails before taking it).
func (r *Relay) serveWebsocket(w http.ResponseWriter, req *http.Request) {
	key := limitKey(clientIP(req, r.cfg.TrustedProxies))
	r.mu.Lock()
	closing := r.closing
	r.mu.Unlock()
	if closing {
		r.refuseConnection(w, key, refusedClosing, http.StatusServiceUnavailable, "error: relay is shutting down; retry on another relay or later")
		return
	}
	if !r.ipConns.allow(key, r.now()) {
		r.refuseConnection(w, key, refusedIPRate, http.StatusTooManyRequests,
			fmt.Sprintf("rate-limited: too many new connections from your address (at most %d at once and %d a minute); retry in a few seconds",
				connBurst(r.cfg.IPConnPerMinute, r.cfg.IPConnBurst), r.cfg.IPConnPerMinute))
		return
	}
	release, refused := r.connCount.acquire(key)
	switch refused {
	case refusedTotalLimit:
		r.refuseConnection(w, key, refused, http.StatusServiceUnavailable,
			fmt.Sprintf("error: the relay is at its limit of %d connections; retry later", r.connCount.maxTotal))
		return
	case refusedIPLimit:
		r.refuseConnection(w, key, refused, http.StatusTooManyRequests,
			fmt.Sprintf("rate-limited: %d connections are already open from your address; close one first", r.connCount.maxPerIP))
		return
	}
	ht := &hijackTracker{ResponseWriter: w, r: r, release: release}
	r.kh.HandleWebsocket(ht, req)
	if !ht.hijacked {
		release()
	}
}

func (r *Relay) refuseConnection(w http.ResponseWriter, key, reason string, status int, msg string) {
	r.metrics.connRefused.WithLabelValues(reason).Inc()
	r.log.Debug("connection refused", "client", key, "reason", reason) // counted in the metric; an attack must not flood the log
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(reason)))
	}
	http.Error(w, msg, status)
}

func retryAfterSeconds(reason string) int {
	if reason == refusedIPRate {
		return 60
	}
	return 10
}

// DeriveMaxConnections is the total connection cap used when
// Config.MaxConnections is 0, from the process's open file limit (its soft
// RLIMIT_NOFILE): one descriptor per connection, less a reserve for the
// database, the listener, plain HTTP requests and outgoing connections of
// an eighth of the limit (at least 128), and at most 16384 (about 0.5 GiB of
// connection buffers and goroutines; set --max-connections for more).
func DeriveMaxConnections(openFiles uint64) int {
	reserve := max(openFiles/8, 128)
	if openFiles <= reserve+16 {
		return 16
	}
	return int(min(openFiles-reserve, 16384))
}
