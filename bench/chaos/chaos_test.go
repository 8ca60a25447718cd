package chaos

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/transport"
)

var (
	rounds = flag.Int("chaos.rounds", 1, "rounds of trades, each a turn of every buyer (CI runs the default; docs/benchmarks.md records a longer run)")
	seed   = flag.Uint64("chaos.seed", 0, "seed of the kill schedule (0: a new one, printed)")
)

// Steps each kind of process reaches (internal/crashat), the points it
// can be killed at.
var (
	buyerSteps    = []string{"send.journaled", "send.swapped", "send.sent", "receive.journaled", "receive.swapped", "reclaim.journaled", "reclaim.swapped", "mint.journaled", "melt.journaled", "melt.answered", "split.journaled", "split.swapped"}
	providerSteps = []string{"receive.journaled", "receive.swapped", "send.journaled", "send.swapped", "send.sent", "reclaim.journaled", "reclaim.swapped", "mint.journaled"}
	relaySteps    = []string{"receive.journaled", "receive.swapped", "fee.received"}
)

const (
	buyerDeposit    = 20_000 // sats each buyer deposits at the start
	providerDeposit = 3_000  // sats each provider deposits for relay fees
	roundDeposit    = 64     // sats a buyer deposits each round
	withdrawal      = 20     // a buyer withdraws 20 to 39 sats each round
	fileSize        = 24 << 10
	socksBytes      = 64 << 10
	reclaimGrace    = 2 * time.Second
	// refundLock is how long a provider's refund of unused credit is
	// locked to its buyer (--refund-lock, at least a minute): one a buyer
	// never collected comes back to its provider after it, within the
	// recovery pass.
	refundLock = time.Minute
)

// market is the running market and the kill bookkeeping.
type market struct {
	t         *testing.T
	rng       *mrand.Rand
	relayBin  string
	agentBin  string
	dir       string
	relayAddr string // host:port, kept across restarts
	relayURL  string
	mintURL   string
	relay     *proc
	providers []*proc
	provArgs  [][]string
	llm       *agentdtest.LLM
	echo      string
	armed     map[string]int // role/step -> times armed
	kills     map[string]int // role/step -> times the process died there
	restarts  int
	// providerExits counts providers that exited, not killed, because
	// the relay was gone while they published their offers at start.
	providerExits int
	trades        map[string][2]int // trade -> ok, failed
	withdrawIn    []string
}

// TestMoneyUnderChaos: see the package doc.
func TestMoneyUnderChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos seed %d (replay: -chaos.seed=%d -chaos.rounds=%d)", s, s, *rounds)
	m := &market{t: t, rng: mrand.New(mrand.NewPCG(s, s^0x5eed)), dir: t.TempDir(),
		armed: map[string]int{}, kills: map[string]int{}, trades: map[string][2]int{}}
	t0 := time.Now()
	m.relayBin, m.agentBin = buildBinaries(t)
	t.Logf("built the binaries in %v", time.Since(t0).Round(time.Millisecond))
	m.llm = agentdtest.StartLLM(t, "standin-1", strings.Fields("sats flow from buyer to provider and the change comes back"), time.Millisecond)
	m.echo = startEcho(t)
	m.startRelay("")
	m.startProviders()
	buyers := []string{"buyer1", "buyer2"}
	for _, b := range buyers {
		m.mustDeposit(b, buyerDeposit)
	}
	t.Logf("market up in %v", time.Since(t0).Round(time.Millisecond))
	start := time.Now()
	for r := range *rounds {
		for _, b := range buyers {
			m.ensureUp()
			// The invoice this buyer pays at the end of its turn (a melt),
			// issued now: the mint may restart before it is paid.
			inv, err := mintInvoice(m.mintURL, withdrawal+uint64(m.rng.IntN(withdrawal)))
			if err != nil {
				t.Fatalf("mint quote: %v", err)
			}
			m.storeRound(b)
			m.ensureUp()
			m.serveRound(b)
			m.ensureUp()
			m.walletRound(b, inv)
		}
		t.Logf("round %d done (%v): kills %v", r+1, time.Since(start).Round(time.Second), m.kills)
	}
	// Recovery: everything stops; the relay comes back unarmed; each agent
	// settles (resumes its open ops and reclaims what was not redeemed).
	for _, p := range m.providers {
		_ = p.stop()
	}
	if m.relay.exited() {
		m.count(m.relay)
	}
	_ = m.relay.stop()
	m.startRelay("")
	agents := append([]string{"provider1", "provider2", "provider3"}, buyers...)
	for _, a := range agents {
		m.settle(a)
	}
	res := m.conserved(append(agents, "relay"))
	m.report(s, time.Since(start), res)
	if len(res.problems) > 0 {
		t.Fatalf("money not conserved under chaos (seed %d):\n  %s", s, strings.Join(res.problems, "\n  "))
	}
}

// agentEnv is the environment of an agent's commands.
func (m *market) agentEnv(name string) []string {
	return []string{
		"SOVMESH_DATA=" + filepath.Join(m.dir, name),
		"SOVMESH_RELAY=" + m.relayURL,
		"SOVMESH_MINT=" + m.mintURL,
		"SOVMESH_LISTEN=" + strings.Join(transport.LoopbackListenAddrs, ","),
		"SOVMESH_BUDGET_PER_DAY=0",
		"SOVMESH_BUDGET_PER_COUNTERPARTY=0",
		"SOVMESH_RECLAIM_GRACE=" + reclaimGrace.String(),
		"SOVMESH_REFUND_LOCK=" + refundLock.String(),
		"SOVMESH_REPLICAS=2",
		"SOVMESH_DURATION=24h",
		"SOVMESH_MIN_PROVIDERS=1",
		"SOVMESH_MAX_STORAGE_PRICE=100000000000",
		"SOVMESH_MAX_BANDWIDTH_PRICE=100000000",
		"SOVMESH_MAX_INFERENCE_PRICE=100000000000",
		"SOVMESH_STALL_TIMEOUT=3s",
		"SOVMESH_LOG_LEVEL=info",
	}
}

// pickArm chooses, with probability p, a crash point for a process of
// role: a step of steps not yet fired for that role first, then any, at
// its first to n-th occurrence.
func (m *market) pickArm(role string, steps []string, p float64, n int) string {
	if m.rng.Float64() >= p {
		return ""
	}
	var fresh []string
	for _, s := range steps {
		if m.kills[role+"/"+s] == 0 {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) == 0 || m.rng.IntN(3) == 0 {
		fresh = steps
	}
	step := fresh[m.rng.IntN(len(fresh))]
	m.armed[role+"/"+step]++
	if k := 1 + m.rng.IntN(n); k > 1 {
		return fmt.Sprintf("%s:%d", step, k)
	}
	return step
}

// count records a process's end: a crash at its armed step.
func (m *market) count(p *proc) bool {
	if !p.crashed() {
		return false
	}
	role, _, _ := strings.Cut(p.name, " ")
	role = strings.TrimRight(role, "0123456789")
	step, _, _ := strings.Cut(p.arm, ":")
	if step == "" {
		m.t.Fatalf("%s died of SIGKILL without a crash point: %v\n%s", p.name, p.result(), tail(p.errb.String()))
	}
	m.kills[role+"/"+step]++
	return true
}

// startRelay starts the relay (on its first address after the first
// start) and waits until it listens; one killed while starting is started
// again, unarmed.
func (m *market) startRelay(arm string) {
	m.t.Helper()
	listen := "127.0.0.1:0"
	if m.relayAddr != "" {
		listen = m.relayAddr
	}
	for range 10 {
		p := spawn(m.t, "relay", arm, m.relayBin, nil, "--listen", listen, "--data", filepath.Join(m.dir, "relay"), "--log-format", "json",
			"--offer-fee", "1", "--offer-fee-period", "0", "--match-fee", "1",
			"--ip-event-rate", "0", "--ip-req-rate", "0", "--unknown-event-rate", "100000", "--unknown-event-burst", "100000",
			"--trusted-event-rate", "100000", "--trusted-event-burst", "100000")
		if err := p.waitFor(`"msg":"relay listening"`, 60*time.Second); err != nil {
			if m.count(p) {
				m.restarts++
				arm = ""
				continue
			}
			m.t.Fatalf("relay: %v\n%s", err, tail(p.errb.String()))
		}
		m.relay = p
		if m.relayAddr != "" {
			return
		}
		a := regexp.MustCompile(`"msg":"relay listening"[^\n]*"addr":"([^"]+)"`).FindStringSubmatch(p.errb.String())
		if a == nil {
			m.t.Fatalf("relay address not in its log:\n%s", tail(p.errb.String()))
		}
		m.relayAddr, m.relayURL = a[1], "ws://"+a[1]
		mint := regexp.MustCompile(`"mint":"(http://127\.0\.0\.1:[0-9]+)"`).FindStringSubmatch(p.errb.String())
		if mint == nil {
			m.t.Fatalf("dev mint URL not in the relay's log:\n%s", tail(p.errb.String()))
		}
		m.mintURL = mint[1]
		return
	}
	m.t.Fatal("the relay would not start")
}

// ensureRelay restarts the relay if it crashed, maybe armed again.
func (m *market) ensureRelay() {
	m.t.Helper()
	if !m.relay.exited() {
		return
	}
	if !m.count(m.relay) {
		m.t.Fatalf("relay exited: %v\n%s", m.relay.result(), tail(m.relay.errb.String()))
	}
	m.restarts++
	m.startRelay(m.pickArm("relay", relaySteps, 0.3, 4))
}

func (m *market) startProviders() {
	m.t.Helper()
	m.provArgs = [][]string{
		{"provide", "--storage-size", "256MiB", "--storage-price", "200000000", "--inference-url", m.llm.URL, "--inference-models", "standin-1",
			"--inference-price-in", "1000000000", "--inference-price-out", "2000000000", "--price-interval", "2s"},
		{"provide", "--storage-size", "256MiB", "--storage-price", "300000000", "--bandwidth-price", "20000", "--allow-private-targets", "--price-interval", "2s"},
		{"provide", "--storage-size", "256MiB", "--storage-price", "250000000", "--price-interval", "2s"},
	}
	m.providers = make([]*proc, len(m.provArgs))
	for i := range m.provArgs {
		m.mustDeposit(fmt.Sprintf("provider%d", i+1), providerDeposit)
		m.startProvider(i, "")
	}
}

// startProvider starts provider i and waits until it runs (its offers
// published); one killed, or stopped by a relay gone meanwhile, while
// starting is started again, unarmed.
func (m *market) startProvider(i int, arm string) {
	m.t.Helper()
	name := fmt.Sprintf("provider%d", i+1)
	for range 10 {
		m.ensureRelay()
		p := spawn(m.t, name, arm, m.agentBin, m.agentEnv(name), m.provArgs[i]...)
		err := p.waitFor("provider running", 60*time.Second)
		if err == nil {
			m.providers[i] = p
			return
		}
		if m.count(p) {
			m.restarts++
		} else if !m.lostRelay(p) {
			m.t.Fatalf("%v\n%s", err, tail(p.errb.String()))
		}
		arm = ""
	}
	m.t.Fatalf("%s would not start", name)
}

// ensureUp restarts every process that crashed, each with a new crash
// point (or none), and now and then restarts a running one with one.
func (m *market) ensureUp() {
	m.t.Helper()
	m.ensureRelay()
	if m.relay.arm == "" && m.rng.IntN(6) == 0 {
		_ = m.relay.stop()
		m.startRelay(m.pickArm("relay", relaySteps, 1, 4))
	}
	for i, p := range m.providers {
		switch {
		case p.exited():
			if m.count(p) {
				m.restarts++
			} else if !m.lostRelay(p) {
				m.t.Fatalf("%s exited: %v\n%s", p.name, p.result(), tail(p.errb.String()))
			}
			m.startProvider(i, m.pickArm("provider", providerSteps, 0.3, 3))
		case p.arm == "" && m.rng.IntN(6) == 0:
			_ = p.stop()
			m.startProvider(i, m.pickArm("provider", providerSteps, 1, 3))
		}
	}
}

// lostRelay reports whether a provider exited because the relay (killed,
// or restarting) did not take the offers it publishes at start; it is
// counted and restarted.
func (m *market) lostRelay(p *proc) bool {
	if !p.exited() || p.stopped || !strings.Contains(p.errb.String(), "provider: publish") {
		return false
	}
	m.providerExits++
	m.t.Logf("%s exited: its offer was not published: %s", p.name, lastLines(p.errb.String(), 1))
	return true
}

// agent runs one agentd command of name to its end, maybe armed.
func (m *market) agent(name, arm string, d time.Duration, args ...string) *proc {
	m.t.Helper()
	p := runCmd(m.t.Context(), m.t, name+" "+args[0], arm, m.agentBin, m.agentEnv(name), d, args...)
	m.count(p)
	return p
}

func (m *market) trade(what string, ok bool, p *proc, err error) {
	if !ok && testing.Verbose() {
		why := ""
		if err != nil {
			why = err.Error()
		}
		if p != nil {
			why += fmt.Sprintf(" [%s armed %q: %v] %s", p.name, p.arm, p.result(), lastLines(p.errb.String(), 4))
		}
		m.t.Logf("trade %s failed: %s", what, why)
	}
	c := m.trades[what]
	if ok {
		c[0]++
	} else {
		c[1]++
	}
	m.trades[what] = c
}

func (m *market) mustDeposit(name string, sats uint64) {
	m.t.Helper()
	p := m.agent(name, "", 60*time.Second, "wallet", "deposit", fmt.Sprint(sats))
	if p.err != nil {
		m.t.Fatalf("%s deposit: %v\n%s", name, p.err, tail(p.errb.String()))
	}
}

// storeRound stores a file and fetches it back.
func (m *market) storeRound(b string) {
	file := filepath.Join(m.dir, b+"-file")
	blob := make([]byte, fileSize)
	rand.Read(blob)
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		m.t.Fatal(err)
	}
	p := m.agent(b, m.pickArm("buyer", buyerSteps, 0.6, 3), 90*time.Second, "store", "put", file)
	root := strings.TrimSpace(p.out.String())
	m.trade("store put", p.err == nil && root != "", p, nil)
	if p.err != nil || root == "" {
		return
	}
	out := file + ".back"
	p = m.agent(b, m.pickArm("buyer", buyerSteps, 0.3, 2), 90*time.Second, "store", "get", root, "-o", out)
	got, _ := os.ReadFile(out)
	ok := p.err == nil && bytes.Equal(got, blob)
	if p.err == nil && !ok {
		m.t.Errorf("%s: store get returned other bytes than were put", b)
	}
	m.trade("store get", ok, p, nil)
	os.Remove(out)
}

// serveRound runs the buyer's daemon for one completion and one SOCKS
// transfer, then stops it.
func (m *market) serveRound(b string) {
	arm := m.pickArm("buyer", buyerSteps, 0.6, 3)
	p := spawn(m.t, b+" serve", arm, m.agentBin, m.agentEnv(b), "serve", "--openai", "127.0.0.1:0", "--socks", "127.0.0.1:0")
	defer func() {
		_ = p.stop()
		m.count(p)
	}()
	if err := p.waitFor("SOCKS5 proxy on", 60*time.Second); err != nil {
		m.trade("inference", false, p, err)
		m.trade("bandwidth", false, p, err)
		return
	}
	logs := p.errb.String()
	api := regexp.MustCompile(`OPENAI_BASE_URL=(\S+)\)`).FindStringSubmatch(logs)
	socks := regexp.MustCompile(`SOCKS5 proxy on (\S+)`).FindStringSubmatch(logs)
	if api == nil || socks == nil {
		m.t.Fatalf("serve endpoints not in its log:\n%s", tail(logs))
	}
	err := complete(api[1])
	m.trade("inference", err == nil, p, err)
	err = socksEcho(socks[1], m.echo)
	m.trade("bandwidth", err == nil, p, err)
}

// walletRound deposits a little and withdraws to inv, an invoice of the
// mint (settled inside the mint: a melt).
func (m *market) walletRound(b, inv string) {
	p := m.agent(b, m.pickArm("buyer", []string{"mint.journaled"}, 0.5, 1), 60*time.Second, "wallet", "deposit", fmt.Sprint(roundDeposit))
	m.trade("deposit", p.err == nil, p, nil)
	p = m.agent(b, m.pickArm("buyer", []string{"melt.journaled", "melt.answered", "split.journaled", "split.swapped"}, 0.5, 1), 60*time.Second, "wallet", "withdraw", inv)
	m.trade("withdraw", p.err == nil, p, nil)
}

// settle runs `agentd wallet settle` until nothing is open (bounded).
func (m *market) settle(name string) {
	m.t.Helper()
	// Until every token it sent is past its lock: a relay top-up killed
	// after its swap is locked for agentd.MinTopUpLock (the grace is less),
	// a refund of unused credit for refundLock.
	var p *proc
	deadline := time.Now().Add(max(agentd.MinTopUpLock, refundLock) + 30*time.Second)
	for range 200 {
		if time.Now().After(deadline) {
			break
		}
		p = m.agent(name, "", 60*time.Second, "wallet", "settle")
		if p.err == nil {
			return
		}
		select {
		case <-m.t.Context().Done():
			return
		case <-time.After(reclaimGrace / 2):
		}
	}
	m.t.Errorf("%s: payments still open after the recovery pass:\n%s%s", name, p.out.String(), tail(p.errb.String()))
}

// complete asks the buyer's endpoint for one streamed completion.
func complete(base string) error {
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Post(base+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"standin-1","stream":true,"messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "[DONE]") {
		return fmt.Errorf("completion: %s %q", resp.Status, tail(string(b)))
	}
	return nil
}

// socksEcho sends bytes through the SOCKS5 proxy at proxy to the echo
// server at target and checks they come back.
func socksEcho(proxy, target string) error {
	c, err := net.DialTimeout("tcp", proxy, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	ta := net.TCPAddrFromAddrPort(mustAddrPort(target))
	req := []byte{5, 1, 0, 5, 1, 0, 1}
	req = append(req, ta.IP.To4()...)
	req = append(req, byte(ta.Port>>8), byte(ta.Port))
	if _, err := c.Write(req); err != nil {
		return err
	}
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[3] != 0 {
		return fmt.Errorf("socks reply %v: %v", rep, err)
	}
	msg := make([]byte, socksBytes)
	rand.Read(msg)
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(c, back); err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(back, msg) {
		return fmt.Errorf("socks echo differs")
	}
	return nil
}

// startEcho runs a TCP echo server for the SOCKS transfers.
func startEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// mintInvoice asks the mint for a mint quote's invoice of sats: paying it
// with a melt is a payment settled inside the mint.
func mintInvoice(mint string, sats uint64) (string, error) {
	body, _ := json.Marshal(map[string]any{"amount": sats, "unit": "sat"})
	resp, err := http.Post(mint+"/v1/mint/quote/bolt11", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var q struct {
		Request string `json:"request"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || q.Request == "" {
		return "", fmt.Errorf("mint quote: %s %v", resp.Status, err)
	}
	return q.Request, nil
}

// lastLines is the last n lines of a log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// tail is the end of a log, for failure messages.
func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}
