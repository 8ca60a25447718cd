package relay_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/bench/attack"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
)

// hookedStore is the real SQLite store with a hook run before each COUNT
// and each NEG-OPEN read, so a test can hold a heavy query in the store,
// count the reads or advance a clock while one runs.
type hookedStore struct {
	*sqlitestore.Store
	beforeCount func(ctx context.Context) error
	countCalls  atomic.Int64
	idCalls     atomic.Int64
}

func newHookedStore(t *testing.T) *hookedStore {
	t.Helper()
	s, err := sqlitestore.New(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &hookedStore{Store: s}
}

// on is the hooked store as relaytest.NewOnStore's store.
func (h *hookedStore) on(testing.TB, relay.Config) relay.Store { return h }

func (h *hookedStore) CountUnion(ctx context.Context, filters []nostr.Filter, max int64) (int64, error) {
	h.countCalls.Add(1)
	if h.beforeCount != nil {
		if err := h.beforeCount(ctx); err != nil {
			return 0, err
		}
	}
	return h.Store.CountUnion(ctx, filters, max)
}

func (h *hookedStore) QueryIDs(ctx context.Context, f nostr.Filter, add func(nostr.Timestamp, string)) (int, error) {
	h.idCalls.Add(1)
	return h.Store.QueryIDs(ctx, f, add)
}

// fakeClock is the relay's clock in tests where time matters.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func countOf(t *testing.T, arr []json.RawMessage) int64 {
	t.Helper()
	var body struct {
		Count int64 `json:"count"`
	}
	if len(arr) < 3 || json.Unmarshal(arr[2], &body) != nil {
		t.Fatalf("bad COUNT answer %s", arr)
	}
	return body.Count
}

// While a COUNT holds the only heavy slot, an honest REQ still gets its
// EOSE and a publish its OK, and a further COUNT or NEG-OPEN is refused
// rate-limited at once instead of piling onto the CPU.
func TestHeavyLaneFullLeavesRoomForLightQueries(t *testing.T) {
	st := newHookedStore(t)
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	st.beforeCount = func(ctx context.Context) error {
		entered <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := relaytest.NewOnStore(t, func(c *relay.Config) { c.HeavyConcurrency, c.HeavyQueue = 1, 0 }, st.on)
	storeKind1(t, s, 5)

	holder := dialRaw(t, s.URL)
	holder.send(`["COUNT","held",{}]`)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first COUNT never reached the store")
	}

	honest := dialRaw(t, s.URL)
	honest.send(`["REQ","r",{"kinds":[1]}]`)
	_, before := honest.until("EOSE", "r")
	if n := countLabel(before, "EVENT"); n != 5 {
		t.Fatalf("honest REQ got %d events before EOSE, want 5", n)
	}
	if ok, reason := honest.ok("EVENT", signed(t, nostr.GeneratePrivateKey(), 1, nostr.Now(), nil, "during")); !ok {
		t.Fatalf("honest publish refused while the lane is full: %s", reason)
	}

	other := dialRaw(t, s.URL)
	other.send(`["COUNT","c",{"kinds":[1]}]`)
	arr, _ := other.until("CLOSED", "c")
	wantPrefix(t, arr, 2, "rate-limited:")
	other.send(negOpen("n", "{}"))
	arr, _ = other.until("NEG-ERR", "n")
	wantPrefix(t, arr, 2, "rate-limited:")

	unblock()
	arr, _ = holder.until("COUNT", "held")
	if n := countOf(t, arr); n != 6 {
		t.Fatalf("held COUNT = %d, want 6", n)
	}
	// The slot is free again.
	other.send(`["COUNT","c2",{"kinds":[1]}]`)
	if arr, _ = other.until("COUNT", "c2"); countOf(t, arr) != 6 {
		t.Fatalf("COUNT after the lane emptied = %s, want 6", arr[2])
	}
	if got := metric(t, s.HTTP, `sovmesh_heavy_queries_total{outcome="busy"}`); got != 2 {
		t.Fatalf(`sovmesh_heavy_queries_total{outcome="busy"} = %v, want 2`, got)
	}
}

// Each client IP has a budget of milliseconds of heavy work: a flooder whose
// reads used it up is refused, while another address's COUNT still runs,
// and the flooder is served again once the budget refilled.
func TestHeavyBudgetPerIP(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	st := newHookedStore(t)
	st.beforeCount = func(context.Context) error {
		clk.add(50 * time.Millisecond) // each COUNT takes 50 ms of the relay's time
		return nil
	}
	s := relaytest.NewOnStore(t, func(c *relay.Config) { c.IPHeavyRate, c.IPHeavyBurst, c.Clock = 1, 10, clk.now }, st.on)
	storeKind1(t, s, 3)

	flooder := dialRaw(t, s.URL)
	flooder.send(`["COUNT","a",{}]`)
	if arr, _ := flooder.until("COUNT", "a"); countOf(t, arr) != 3 {
		t.Fatalf("first COUNT = %s, want 3", arr[2])
	}
	flooder.send(`["COUNT","b",{}]`)
	arr, _ := flooder.until("CLOSED", "b")
	wantPrefix(t, arr, 2, "rate-limited:")
	flooder.send(negOpen("n", "{}"))
	arr, _ = flooder.until("NEG-ERR", "n")
	wantPrefix(t, arr, 2, "rate-limited:")

	other, err := dialWS(t, s.URL, attack.DialOptions{LocalIP: attackerIP})
	if err != nil {
		t.Fatalf("dial from 127.0.0.2: %v", err)
	}
	other.send(`["COUNT","o",{}]`)
	if arr, _ := other.until("COUNT", "o"); countOf(t, arr) != 3 {
		t.Fatalf("other address's COUNT = %s, want 3", arr[2])
	}

	clk.add(45 * time.Second) // 1 ms a second pays back the 40 ms of debt
	flooder.send(`["COUNT","c",{}]`)
	if arr, _ := flooder.until("COUNT", "c"); countOf(t, arr) != 3 {
		t.Fatalf("COUNT after the budget refilled = %s, want 3", arr[2])
	}
}

// A COUNT or NEG-OPEN repeating a filter within HeavyCacheTTL is answered
// from the last read, without reading again; after it, the store is read.
func TestHeavyCache(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	st := newHookedStore(t)
	s := relaytest.NewOnStore(t, func(c *relay.Config) { c.HeavyCacheTTL, c.Clock = time.Second, clk.now }, st.on)
	storeKind1(t, s, 3)

	c := dialRaw(t, s.URL)
	c.send(`["COUNT","a",{"kinds":[1]}]`)
	if arr, _ := c.until("COUNT", "a"); countOf(t, arr) != 3 {
		t.Fatalf("COUNT = %s, want 3", arr[2])
	}
	storeKind1(t, s, 1)
	c.send(`["COUNT","b",{"kinds":[1]}]`)
	if arr, _ := c.until("COUNT", "b"); countOf(t, arr) != 3 {
		t.Fatalf("COUNT within the TTL = %s, want the cached 3", arr[2])
	}
	if n := st.countCalls.Load(); n != 1 {
		t.Fatalf("store counted %d times, want 1", n)
	}
	c.send(`["COUNT","k",{"kinds":[0]}]`) // another filter is not cached
	c.until("COUNT", "k")
	if n := st.countCalls.Load(); n != 2 {
		t.Fatalf("store counted %d times after a new filter, want 2", n)
	}

	c.send(negOpen("n1", "{}"))
	c.until("NEG-MSG", "n1")
	c.send(negOpen("n2", "{}"))
	c.until("NEG-MSG", "n2")
	if n := st.idCalls.Load(); n != 1 {
		t.Fatalf("store read ids %d times for two NEG-OPENs, want 1", n)
	}

	clk.add(2 * time.Second)
	c.send(`["COUNT","d",{"kinds":[1]}]`)
	if arr, _ := c.until("COUNT", "d"); countOf(t, arr) != 4 {
		t.Fatalf("COUNT after the TTL = %s, want 4", arr[2])
	}
	c.send(negOpen("n3", "{}"))
	c.until("NEG-MSG", "n3")
	if n := st.idCalls.Load(); n != 2 {
		t.Fatalf("store read ids %d times after the TTL, want 2", n)
	}
}

// All of NIP-77's CPU runs in the heavy lane and is charged to the client's
// heavy budget: a NEG-OPEN answered from the cache (no read, but the sort
// and the first reconciliation of every record) and a NEG-MSG (its
// reconciliation) are refused "rate-limited:" once the budget is spent,
// as a NEG-OPEN that reads is, and served again once it refilled.
func TestNegentropyWorkInHeavyBudget(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	st := newHookedStore(t)
	s := relaytest.NewOnStore(t, func(c *relay.Config) {
		// Each piece of negentropy work is charged at least 1 ms: a budget
		// of 2 ms pays for two of them, then 1 ms a second.
		c.IPHeavyRate, c.IPHeavyBurst, c.HeavyCacheTTL, c.Clock = 1, 2, time.Hour, clk.now
		c.RateLimitedPause = 0
	}, st.on)
	storeKind1(t, s, 3)
	// The client holds none of the relay's records: its initial message,
	// sent as a NEG-MSG too, makes the relay reconcile every record again.
	initial := negOpen("x", "{}")
	initial = initial[strings.LastIndex(initial[:len(initial)-2], `"`)+1 : len(initial)-2]
	negMsg := func(id string) string { return `["NEG-MSG","` + id + `","` + initial + `"]` }

	tests := []struct {
		name   string
		msg    string
		id     string
		answer string // NEG-MSG or the prefix of a NEG-ERR
	}{
		{"NEG-OPEN read from the store", negOpen("a", "{}"), "a", "NEG-MSG"},
		{"NEG-OPEN from the cache", negOpen("b", "{}"), "b", "NEG-MSG"},
		{"NEG-OPEN from the cache, budget spent", negOpen("c", "{}"), "c", "rate-limited:"},
		{"NEG-MSG, budget spent", negMsg("a"), "a", "rate-limited:"},
	}
	c := dialRaw(t, s.URL)
	for _, tt := range tests {
		c.send(tt.msg)
		if tt.answer == "NEG-MSG" {
			c.until("NEG-MSG", tt.id)
			continue
		}
		arr, _ := c.until("NEG-ERR", tt.id)
		wantPrefix(t, arr, 2, tt.answer)
	}
	if n := st.idCalls.Load(); n != 1 {
		t.Fatalf("store read ids %d times, want 1 (the rest from the cache)", n)
	}

	clk.add(10 * time.Second) // the budget refilled
	c.send(negMsg("b"))
	c.until("NEG-MSG", "b")
	c.send(negOpen("d", "{}"))
	c.until("NEG-MSG", "d")
}
