package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"
)

type result struct {
	target        string
	ingestEvents  int
	ingestSeconds float64
	okP50, okP99  time.Duration
	prefillNote   string
	stored        int
	reqP50        time.Duration // over 8 connections at once
	reqP99        time.Duration
	reqs          int
	serialP50     time.Duration // one REQ at a time, on one connection
	serialP99     time.Duration
	idleConns     int
	bytesPerIdle  float64
	goPerIdle     float64
	serverRSS     int64
}

func (r result) ingestRate() float64 { return float64(r.ingestEvents) / r.ingestSeconds }

func (r result) print() {
	fmt.Printf("ingest: %d events in %.1fs = %.0f events/s, OK p50 %s p99 %s\n",
		r.ingestEvents, r.ingestSeconds, r.ingestRate(), r.okP50, r.okP99)
	fmt.Printf("prefill: %s\n", r.prefillNote)
	fmt.Printf("REQ at %d stored: %d queries over 8 connections, p50 %s p99 %s; one at a time, p50 %s p99 %s\n",
		r.stored, r.reqs, r.reqP50, r.reqP99, r.serialP50, r.serialP99)
	fmt.Printf("idle: %d connections, %.1f KiB RSS and %.1f KiB Go heap+stack each\n", r.idleConns, r.bytesPerIdle/1024, r.goPerIdle/1024)
}

// measureTarget runs one relay in a child process and measures it.
func measureTarget(ctx context.Context, o options, target string) (result, error) {
	res := result{target: target}
	dir, err := os.MkdirTemp("", "relayload-"+target+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	var args []string
	if o.cpuprofile != "" {
		args = append(args, "-cpuprofile", o.cpuprofile+"."+target)
	}
	if o.reqprofile != "" {
		args = append(args, "-reqprofile", o.reqprofile+"."+target)
	}
	c, err := startChild(ctx, target, dir, args...)
	if err != nil {
		return res, err
	}
	defer c.stop(10 * time.Second)
	addr, cmd := c.addr, c.cmd
	url := "ws://" + addr

	// Ingest.
	gen := newGenerator(1, time.Minute) // live traffic: created in the last minute
	evts := gen.signAll(0, o.events)
	n, secs, lat, err := ingest(ctx, []string{url}, evts, o.conns, o.window, o.ingestMax)
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	res.ingestEvents, res.ingestSeconds = n, secs
	res.okP50, res.okP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	fmt.Printf("ingest: %d events in %.1fs\n", n, secs)

	// Fill the store, then query.
	res.stored = n
	if more := o.stored - n; more > 0 {
		url := fmt.Sprintf("http://%s/bench/prefill?n=%d&max=%s", addr, more, o.storedBudget)
		resp, err := http.Post(url, "text/plain", nil)
		if err != nil {
			return res, fmt.Errorf("prefill: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var saved int
		var took string
		if resp.StatusCode != 200 {
			return res, fmt.Errorf("prefill: %s", body)
		}
		if _, err := fmt.Sscan(string(body), &saved, &took); err != nil {
			return res, fmt.Errorf("prefill answer %q: %w", body, err)
		}
		res.stored += saved
		res.prefillNote = fmt.Sprintf("%d events straight into the store in %s (%.0f/s)", saved, took, float64(saved)/mustSeconds(took))
		fmt.Printf("prefill: %s\n", res.prefillNote)
	}
	// The same mix twice: one REQ at a time (the latency a client sees),
	// then 8 connections at once on the 2 cores the load tool shares.
	if o.reqprofile != "" {
		if err := benchPost(addr, "/bench/profile/start"); err != nil {
			return res, err
		}
	}
	slat, err := queries(ctx, []string{url}, gen, evts[:n], o.reqs/3, 1)
	if err != nil {
		return res, fmt.Errorf("queries: %w", err)
	}
	res.serialP50, res.serialP99 = percentile(slat, 0.50), percentile(slat, 0.99)
	qlat, err := queries(ctx, []string{url}, gen, evts[:n], o.reqs, 8)
	if err != nil {
		return res, fmt.Errorf("queries: %w", err)
	}
	res.reqs = len(qlat)
	res.reqP50, res.reqP99 = percentile(qlat, 0.50), percentile(qlat, 0.99)
	if o.reqprofile != "" {
		if err := benchPost(addr, "/bench/profile/stop"); err != nil {
			return res, err
		}
	}

	// Idle connections.
	before, err := rss(cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	goBefore, err := goMem(addr)
	if err != nil {
		return res, err
	}
	conns, err := openIdle(ctx, url, o.idle)
	if err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	time.Sleep(2 * time.Second)
	after, _ := rss(cmd.Process.Pid)
	goAfter, err := goMem(addr)
	if err != nil {
		return res, err
	}
	res.goPerIdle = float64(goAfter-goBefore) / float64(len(conns))
	for _, c := range conns {
		c.Close()
	}
	res.idleConns, res.bytesPerIdle, res.serverRSS = len(conns), float64(after-before)/float64(len(conns)), after
	return res, nil
}

// benchPost posts to one of the child's /bench/ endpoints.
func benchPost(addr, path string) error {
	resp, err := http.Post("http://"+addr+path, "text/plain", nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, body)
	}
	return nil
}

// ingest publishes evts over conns connections (to the relays at urls in
// turn) with at most window unacknowledged events each, and returns how many were acknowledged with
// OK true, the elapsed seconds, and each event's OK latency.
func ingest(ctx context.Context, urls []string, evts []*nostr.Event, conns, window int, maxDur time.Duration) (int, float64, []time.Duration, error) {
	msgs := make([][]byte, len(evts))
	for i, e := range evts {
		b, _ := json.Marshal([]any{"EVENT", e})
		msgs[i] = b
	}
	ctx, cancel := context.WithTimeout(ctx, maxDur)
	defer cancel()
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, len(evts))
		acked    int
		rejected = map[string]int{}
		wg       sync.WaitGroup
		firstErr error
	)
	start := time.Now()
	for c := range conns {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, urls[c%len(urls)], nil)
		if err != nil {
			return 0, 0, nil, err
		}
		defer ws.Close()
		var mine []int
		for i := c; i < len(msgs); i += conns {
			mine = append(mine, i)
		}
		sent := make(map[string]time.Time, window)
		var smu sync.Mutex
		slots := make(chan struct{}, window)
		done := make(chan struct{})
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			defer close(done)
			for got := 0; got < len(mine); {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				if !bytes.HasPrefix(msg, []byte(`["OK",`)) {
					continue
				}
				var ok []any
				if json.Unmarshal(msg, &ok) != nil || len(ok) < 3 {
					continue
				}
				id, _ := ok[1].(string)
				accepted, _ := ok[2].(bool)
				now := time.Now()
				smu.Lock()
				t0, found := sent[id]
				delete(sent, id)
				smu.Unlock()
				if !found {
					continue
				}
				got++
				mu.Lock()
				if accepted {
					acked++
					lat = append(lat, now.Sub(t0))
				} else if len(ok) > 3 {
					reason, _ := ok[3].(string)
					rejected[reason]++
				}
				mu.Unlock()
				<-slots
			}
		}()
		go func() { // writer
			defer wg.Done()
			for _, i := range mine {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				case <-done:
					return
				}
				smu.Lock()
				sent[evts[i].ID] = time.Now()
				smu.Unlock()
				if err := ws.WriteMessage(websocket.TextMessage, msgs[i]); err != nil {
					return
				}
			}
		}()
		context.AfterFunc(ctx, func() { ws.Close() })
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(rejected) > 0 {
		fmt.Printf("ingest rejections: %v\n", rejected)
	}
	if acked == 0 && firstErr != nil {
		return 0, 0, nil, firstErr
	}
	return acked, elapsed, lat, nil
}

// queries runs reqs REQs over conns connections (to the relays at urls in
// turn), a mix of the filters a
// market client sends, and returns each REQ's latency to EOSE.
func queries(ctx context.Context, urls []string, g *generator, stored []*nostr.Event, reqs, conns int) ([]time.Duration, error) {
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
		bad error
	)
	for c := range conns {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, urls[c%len(urls)], nil)
		if err != nil {
			return nil, err
		}
		defer ws.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < reqs; i += conns {
				var f nostr.Filter
				switch i % 4 {
				case 0:
					f = nostr.Filter{Authors: []string{g.pubkeys[i%len(g.pubkeys)]}, Kinds: []int{1}, Limit: 20}
				case 1:
					f = nostr.Filter{Tags: nostr.TagMap{"t": {fmt.Sprintf("topic%d", i%500)}}, Limit: 50}
				case 2:
					f = nostr.Filter{Kinds: []int{1111}, Limit: 100}
				default:
					f = nostr.Filter{IDs: []string{stored[i%len(stored)].ID}}
				}
				sub := fmt.Sprintf("q%d", i)
				msg, _ := json.Marshal([]any{"REQ", sub, f})
				t0 := time.Now()
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					mu.Lock()
					bad = err
					mu.Unlock()
					return
				}
				eose := []byte(`["EOSE","` + sub + `"]`)
				closed := []byte(`["CLOSED","` + sub + `"`)
				_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
				for {
					_, m, err := ws.ReadMessage()
					if err != nil {
						mu.Lock()
						bad = fmt.Errorf("REQ %s: %w", msg, err)
						mu.Unlock()
						return
					}
					if bytes.HasPrefix(m, eose) { // khatru ends messages with a newline
						break
					}
					if bytes.HasPrefix(m, closed) {
						mu.Lock()
						bad = fmt.Errorf("REQ closed: %s", m)
						mu.Unlock()
						return
					}
				}
				d := time.Since(t0)
				closeMsg, _ := json.Marshal([]any{"CLOSE", sub})
				_ = ws.WriteMessage(websocket.TextMessage, closeMsg)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, bad
}

func openIdle(ctx context.Context, url string, n int) ([]*websocket.Conn, error) {
	out := make([]*websocket.Conn, 0, n)
	for range n {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
		if err != nil {
			for _, c := range out {
				c.Close()
			}
			return nil, err
		}
		out = append(out, ws)
	}
	return out, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func mustSeconds(d string) float64 {
	v, err := time.ParseDuration(d)
	if err != nil || v <= 0 {
		return 1
	}
	return v.Seconds()
}

// goMem asks the relay process for its Go heap and stack in use after a GC.
func goMem(addr string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/bench/mem")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	_, err = fmt.Fscan(resp.Body, &n)
	return n, err
}
