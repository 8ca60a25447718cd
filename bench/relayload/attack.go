package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
)

// attackOptions shape the -attack run.
type attackOptions struct {
	attacks string
	phase   time.Duration
	rounds  int
	stored  int
	// alternate is how many slices each phase is cut into, run in turn.
	alternate int
	// cpuprofile, if set, is where the relay child writes its CPU profile.
	cpuprofile string
	// phaseprofile, if set, is where the relay child writes its CPU, mutex
	// and block profiles of the phase under attack.
	phaseprofile string
	// startProfile, with phaseprofile, profiles only the first startProfile
	// of each slice under attack instead, slice i to phaseprofile plus ".i".
	startProfile time.Duration
	// attackersNice is the attackers' process's niceness: above 0, the
	// kernel runs the relay and the honest clients first, as if the
	// attackers ran on machines of their own.
	attackersNice int
	// attackersCPUs and relayCPUs, if set, are the CPU lists (taskset's
	// syntax) the attackers' process and the relay child run on: attackers
	// on CPUs of their own stand for attackers on other machines.
	attackersCPUs, relayCPUs string
}

// honestResult is what honest clients saw in one phase.
type honestResult struct {
	okLat, reqLat []time.Duration
	// okAt and reqAt are when each answer's message was sent, from the
	// start of its slice (okAt[i] goes with okLat[i]).
	okAt, reqAt []time.Duration
	failures    int
}

func (r *honestResult) add(o honestResult) {
	r.okLat = append(r.okLat, o.okLat...)
	r.reqLat = append(r.reqLat, o.reqLat...)
	r.okAt = append(r.okAt, o.okAt...)
	r.reqAt = append(r.reqAt, o.reqAt...)
	r.failures += o.failures
}

// slowest lists the n longest latencies of lat as "latency@offset", the
// offset being when the message was sent within its slice: a tail made at
// the start of each attack slice shows as small offsets.
func slowest(lat, at []time.Duration, n int) string {
	idx := make([]int, len(lat))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return lat[idx[a]] > lat[idx[b]] })
	var parts []string
	for _, i := range idx[:min(n, len(idx))] {
		parts = append(parts, fmt.Sprintf("%.1fms@%.2fs", float64(lat[i].Microseconds())/1000, at[i].Seconds()))
	}
	return strings.Join(parts, " ")
}

// runAttack measures honest clients of a sovmesh relay (default limits) for
// one phase alone and one phase while every chosen attack runs from another
// loopback address, and reports the ratio of their p99 latencies, the
// relay's memory per attacking connection, and whether it survived.
func runAttack(ctx context.Context, o attackOptions) error {
	dir, err := os.MkdirTemp("", "relayload-attack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var args []string
	if o.cpuprofile != "" {
		args = append(args, "-cpuprofile", o.cpuprofile)
	}
	if o.phaseprofile != "" {
		args = append(args, "-reqprofile", o.phaseprofile)
	}
	c, err := startChildOn(ctx, o.relayCPUs, "sovmesh-defaults", dir, args...)
	if err != nil {
		return err
	}
	defer c.stop(15 * time.Second)
	addr, cmd := c.addr, c.cmd
	url := "ws://" + addr
	if o.stored > 0 {
		if err := benchPost(addr, fmt.Sprintf("/bench/prefill?n=%d&max=2m", o.stored)); err != nil {
			return err
		}
	}
	attacks, err := attackList(o.attacks)
	if err != nil {
		return err
	}
	fmt.Printf("relayload -attack: %d stored, phases of %s (in %d alternating slices), attacks from 127.0.0.2: %d\n", o.stored, o.phase, max(o.alternate, 1), len(attacks))

	relayOn := cpusOf(fmt.Sprint(cmd.Process.Pid))
	rssIdle, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	// Each condition's phase is cut into o.alternate slices run in turn
	// (without, under, without, ...), so a background load that changes
	// during the run weighs on both alike.
	slice := o.phase / time.Duration(max(o.alternate, 1))
	var (
		base, under       honestResult
		baseCPU, underCPU cpuUse
		attackersCPU      time.Duration
		// CPU in the first second of each slice under attack.
		firstAttackers, firstRelay time.Duration
		peakRSS                    int64
		peakConns                  float64
		tallies                    = map[string]map[string]int{}
		// how long each attack ran in each slice under attack
		tookBy = map[string][]time.Duration{}
		// the CPUs the attackers' process was allowed (the first one's)
		attackersOn string
	)
	cpu := newCPUMeter(cmd.Process.Pid)
	for i := range max(o.alternate, 1) {
		base.add(honest(ctx, url, slice))
		baseCPU.add(cpu.lap())
		// Under attack: every attack at once, from another loopback
		// address and another process (attackers are other machines: their
		// goroutines and garbage must not share the honest clients' Go
		// runtime). The process starts before the slice and attacks when
		// told, so its start-up is not measured. Each slice gets its share
		// of the rounds, so the attack's volume does not grow with the
		// slicing.
		attackers, err := startAttackers(ctx, o.attacks, max(o.rounds/max(o.alternate, 1), 1), slice, url, o.attackersNice, o.attackersCPUs)
		if err != nil {
			return err
		}
		if i == 0 {
			attackersOn = cpusOf(fmt.Sprint(attackers.cmd.Process.Pid))
		}
		if o.phaseprofile != "" && o.startProfile > 0 {
			if err := benchPost(addr, fmt.Sprintf("/bench/profile/start?suffix=.%d", i)); err != nil {
				return err
			}
			time.AfterFunc(o.startProfile, func() { _ = benchPost(addr, "/bench/profile/stop") })
		} else if o.phaseprofile != "" && i == 0 {
			if err := benchPost(addr, "/bench/profile/start"); err != nil {
				return err
			}
		}
		actx, acancel := context.WithTimeout(ctx, slice)
		apid := fmt.Sprint(attackers.cmd.Process.Pid)
		a0, _ := procCPU(apid)
		r0, _ := procCPU(fmt.Sprint(cmd.Process.Pid))
		attackers.start()
		firstDone := make(chan struct{})
		time.AfterFunc(time.Second, func() {
			defer close(firstDone)
			a1, _ := procCPU(apid)
			r1, _ := procCPU(fmt.Sprint(cmd.Process.Pid))
			firstAttackers += a1 - a0
			firstRelay += r1 - r0
		})
		sampleDone := make(chan struct{})
		go func() {
			defer close(sampleDone)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-actx.Done():
					return
				case <-tick.C:
				}
				if r, err := rss(cmd.Process.Pid); err == nil && r > peakRSS {
					peakRSS = r
				}
				if c := scrapeGauge(addr, "sovmesh_connections"); c > peakConns {
					peakConns = c
				}
			}
		}()
		under.add(honest(ctx, url, slice))
		acancel()
		<-sampleDone
		<-firstDone
		t, took, used, err := attackers.wait()
		if err != nil {
			return err
		}
		for name, d := range took {
			tookBy[name] = append(tookBy[name], d)
		}
		attackersCPU += used
		for name, counts := range t {
			if tallies[name] == nil {
				tallies[name] = map[string]int{}
			}
			for label, n := range counts {
				tallies[name][label] += n
			}
		}
		underCPU.add(cpu.lap())
	}
	if o.phaseprofile != "" && o.startProfile == 0 && c.running() {
		if err := benchPost(addr, "/bench/profile/stop"); err != nil {
			return err
		}
	}
	fmt.Printf("without attack: OK p50 %s p99 %s (%d), REQ p50 %s p99 %s (%d), %d failures; %s\n",
		percentile(base.okLat, .5), percentile(base.okLat, .99), len(base.okLat),
		percentile(base.reqLat, .5), percentile(base.reqLat, .99), len(base.reqLat), base.failures, baseCPU)

	alive := c.running()
	if alive {
		if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
			alive = false
		} else {
			resp.Body.Close()
		}
	}
	fmt.Printf("under attack:   OK p50 %s p99 %s (%d), REQ p50 %s p99 %s (%d), %d failures; %s\n",
		percentile(under.okLat, .5), percentile(under.okLat, .99), len(under.okLat),
		percentile(under.reqLat, .5), percentile(under.reqLat, .99), len(under.reqLat), under.failures, underCPU)
	fmt.Printf("slowest REQs without attack (latency@offset in its slice): %s\n", slowest(base.reqLat, base.reqAt, 8))
	fmt.Printf("slowest REQs under attack: %s\n", slowest(under.reqLat, under.reqAt, 12))
	fmt.Printf("slowest OKs under attack: %s\n", slowest(under.okLat, under.okAt, 12))
	fmt.Printf("CPUs: relay %s, honest clients %s, attackers %s (niceness %d)\n", relayOn, cpusOf("self"), attackersOn, o.attackersNice)
	fmt.Printf("attackers' process: %.2f cores (%.2f in the first second of each slice; the relay %.2f then)\n", attackersCPU.Seconds()/o.phase.Seconds(),
		firstAttackers.Seconds()/float64(max(o.alternate, 1)), firstRelay.Seconds()/float64(max(o.alternate, 1)))
	for _, a := range attacks {
		fmt.Printf("  %-20s (point %2d, ran %s per slice): %s\n", a.Name, a.Point, tookString(tookBy[a.Name]), tallyString(tallies[a.Name]))
	}
	ratio := func(a, b []time.Duration) float64 {
		pb := percentile(b, .99)
		if pb == 0 {
			return 0
		}
		return float64(percentile(a, .99)) / float64(pb)
	}
	attackConns := peakConns - 2 // the two honest connections
	perConn := 0.0
	if attackConns > 0 {
		perConn = float64(peakRSS-rssIdle) / attackConns
	}
	fmt.Printf("\n| honest OK p99 ratio | honest REQ p99 ratio | peak attacking connections | RSS idle -> peak | RSS per attacking connection | relay alive |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| %.2fx | %.2fx | %.0f | %.0f -> %.0f MiB | %.1f KiB | %v |\n",
		ratio(under.okLat, base.okLat), ratio(under.reqLat, base.reqLat), attackConns,
		float64(rssIdle)/(1<<20), float64(peakRSS)/(1<<20), perConn/1024, alive)
	if !alive {
		return fmt.Errorf("the relay died under attack")
	}
	return nil
}

// tookString lists how long an attack ran in each slice, in seconds: an
// attack that spends its rounds in the first fraction of a slice puts all
// its work there.
func tookString(took []time.Duration) string {
	parts := make([]string, len(took))
	for i, d := range took {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, "/") + " s"
}

// honest publishes one event every 10 ms on one connection and sends one
// REQ every 50 ms on another, for d, within the relay's default per-IP
// limits, and records each OK and EOSE latency.
func honest(ctx context.Context, url string, d time.Duration) honestResult {
	var res honestResult
	var mu sync.Mutex
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pace(pctx, url, 10*time.Millisecond, start, &mu, &res, &res.okLat, &res.okAt, func(i int) ([]byte, []byte, string, string) {
			evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: fmt.Sprintf("honest %d", i), Tags: nostr.Tags{{"t", "honest"}}}
			_ = evt.Sign(sk)
			msg, _ := json.Marshal([]any{"EVENT", evt})
			return msg, nil, `["OK","` + evt.ID + `",true`, `["OK","` + evt.ID + `"`
		})
	}()
	go func() {
		defer wg.Done()
		pace(pctx, url, 50*time.Millisecond, start, &mu, &res, &res.reqLat, &res.reqAt, func(i int) ([]byte, []byte, string, string) {
			sub := fmt.Sprintf("h%d", i)
			f := nostr.Filter{Authors: []string{pk}, Tags: nostr.TagMap{"t": {"honest"}}, Limit: 20}
			if i%2 == 1 {
				f = nostr.Filter{Kinds: []int{1}, Limit: 50}
			}
			msg, _ := json.Marshal([]any{"REQ", sub, f})
			closeMsg, _ := json.Marshal([]any{"CLOSE", sub})
			return msg, closeMsg, `["EOSE","` + sub + `"]`, `["CLOSED","` + sub + `"`
		})
	}()
	wg.Wait()
	return res
}

// pace sends the message next(i) every period on one connection until ctx
// ends, and records the time until the answer starting with done (or
// counts a failure for one starting with refused, or a broken connection);
// then it sends after, if any.
func pace(ctx context.Context, url string, period time.Duration, start time.Time, mu *sync.Mutex, res *honestResult, lat, at *[]time.Duration,
	next func(i int) (msg, after []byte, done, refused string)) {
	fail := func() { mu.Lock(); res.failures++; mu.Unlock() }
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		fail()
		return
	}
	defer ws.Close()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		msg, after, done, refused := next(i)
		t0 := time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			fail()
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				fail()
				return
			}
			if strings.HasPrefix(string(m), done) {
				mu.Lock()
				*lat = append(*lat, time.Since(t0))
				*at = append(*at, t0.Sub(start))
				mu.Unlock()
				break
			}
			if strings.HasPrefix(string(m), refused) {
				fail()
				break
			}
		}
		if after != nil {
			_ = ws.WriteMessage(websocket.TextMessage, after)
		}
	}
}

// scrapeGauge reads one unlabelled metric from the relay's /metrics.
func scrapeGauge(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return 0
}

// cpuMeter tells the CPU time the relay child and this process (the
// honest clients) used between laps, and how long the relay's threads
// waited for a CPU while runnable (the machine's other load).
type cpuMeter struct {
	pid                   int
	relay, loadTool, wait time.Duration
	wall                  time.Time
}

func newCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.lap()
	return m
}

// lap returns the CPU used since the last lap.
func (m *cpuMeter) lap() cpuUse {
	relay, _ := procCPU(fmt.Sprint(m.pid))
	self, _ := procCPU("self")
	wait := runQueueWait(m.pid)
	now := time.Now()
	u := cpuUse{relay: relay - m.relay, loadTool: self - m.loadTool, relayWait: wait - m.wait, wall: now.Sub(m.wall)}
	m.relay, m.loadTool, m.wait, m.wall = relay, self, wait, now
	return u
}

// cpuUse is CPU time used over wall time.
type cpuUse struct{ relay, loadTool, relayWait, wall time.Duration }

func (u *cpuUse) add(o cpuUse) {
	u.relay += o.relay
	u.loadTool += o.loadTool
	u.relayWait += o.relayWait
	u.wall += o.wall
}

// String gives the CPU used as cores busy on average, and the relay's
// run-queue wait in milliseconds per second.
func (u cpuUse) String() string {
	w := u.wall.Seconds()
	if w == 0 {
		return "CPU: not measured"
	}
	return fmt.Sprintf("CPU: relay %.2f cores (waited for a CPU %.0f ms/s), honest clients %.2f cores",
		u.relay.Seconds()/w, float64(u.relayWait.Milliseconds())/w, u.loadTool.Seconds()/w)
}

// runQueueWait sums the time the threads of process pid have spent
// runnable but waiting for a CPU (the second field of each thread's
// /proc/<pid>/task/<tid>/schedstat, in nanoseconds).
func runQueueWait(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		var run, wait int64
		if _, err := fmt.Sscan(string(b), &run, &wait); err == nil {
			total += time.Duration(wait)
		}
	}
	return total
}

// procCPU returns the user+system CPU time of /proc/<pid>.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (in parentheses, may hold spaces):
	// utime and stime are the 12th and 13th, in clock ticks (USER_HZ, 100).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(fields))
	}
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11]+" "+fields[12], &utime, &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
