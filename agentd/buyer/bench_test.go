package buyer

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
)

// BenchmarkFailover measures time-to-recover while a streaming completion
// is under way on the best provider. kill: the provider is killed after
// the third chunk (its connection drops); the figure is the time from the
// kill to the next chunk reaching the client, served by the next-best
// provider, which continues the answer. silent: the provider's model stops
// answering after the third chunk with its connection open; the figure is
// the time from the third chunk to the next, which includes the stall
// timeout (500 ms here), and ms-switch-p50 is what follows that timeout.
// Run with a fixed count, e.g. -benchtime=5x: each iteration uses up one
// provider.
func BenchmarkFailover(b *testing.B) {
	b.Run("kill", func(b *testing.B) { benchFailover(b, false) })
	b.Run("silent", func(b *testing.B) { benchFailover(b, true) })
}

func benchFailover(b *testing.B, silent bool) {
	ctx := b.Context()
	net := agentdtest.Start(b)
	n := b.N + 1
	var provs []*runningProvider
	llms := map[string]*agentdtest.LLM{}
	for i := range n {
		llm := agentdtest.StartLLM(b, "standin-1", words, 20*time.Millisecond)
		p := startProvider(b, net, fmt.Sprintf("p%02d", i), inferenceCfg(llm, uint64(1_000_000+i*100_000), 2_000_000))
		provs = append(provs, p)
		llms[p.Node.Key.Pubkey] = llm
	}
	bn := net.Node(b, "buyer", 10_000)
	stall := 2 * time.Second
	if silent {
		stall = 500 * time.Millisecond
	}
	buy, err := New(ctx, bn, Config{StallTimeout: stall})
	if err != nil {
		b.Fatal(err)
	}
	ep, err := buy.ServeOpenAI("127.0.0.1:0", "")
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Shutdown(ctx)
	body := `{"model":"standin-1","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"go"}]}`
	var rec []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if silent {
			// Whichever provider serves falls silent after 3 chunks.
			for _, l := range llms {
				l.HangAfter(3)
			}
		}
		resp, err := http.Post(ep.URL()+"/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		serving := resp.Header.Get("X-Sovmesh-Provider")
		var victim *runningProvider
		for _, p := range provs {
			if p.Node.Key.Pubkey == serving {
				victim = p
			}
		}
		if victim == nil {
			b.Fatalf("iteration %d: unknown provider %q", i, serving)
		}
		if silent {
			// Only the serving one: the next provider answers in full.
			for pub, l := range llms {
				if pub != serving {
					l.HangAfter(0)
				}
			}
		}
		sc := bufio.NewScanner(resp.Body)
		chunks := 0
		var failed time.Time
		var got time.Duration
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "data: {") {
				continue
			}
			chunks++
			switch {
			case chunks == 3 && silent:
				failed = time.Now()
			case chunks == 3:
				failed = time.Now()
				victim.Kill()
			case chunks > 3 && got == 0:
				got = time.Since(failed)
			}
		}
		resp.Body.Close()
		if got == 0 {
			b.Fatalf("iteration %d: no chunk after the failure (%d chunks)", i, chunks)
		}
		if silent {
			victim.Kill() // used up: the next iteration starts on the next provider
		}
		rec = append(rec, got)
	}
	b.StopTimer()
	slices.Sort(rec)
	b.ReportMetric(float64(rec[len(rec)/2].Microseconds())/1000, "ms-recover-p50")
	b.ReportMetric(float64(rec[len(rec)-1].Microseconds())/1000, "ms-recover-max")
	if silent {
		sw := buy.Recoveries()
		if len(sw) > 0 {
			slices.Sort(sw)
			b.ReportMetric(float64(sw[len(sw)/2].Microseconds())/1000, "ms-switch-p50")
		}
	}
	b.Logf("time to recover: %v", rec)
}
