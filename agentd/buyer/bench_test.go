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

// BenchmarkFailover measures time-to-recover: a streaming completion is
// under way on the best provider, which is killed after the third chunk;
// the figure is the time from the kill to the next chunk reaching the
// client (served by the next-best provider, which continues the answer).
// Run with a fixed count, e.g. -benchtime=5x: each iteration uses up one
// provider.
func BenchmarkFailover(b *testing.B) {
	ctx := b.Context()
	net := agentdtest.Start(b)
	n := b.N + 1
	var provs []*runningProvider
	for i := range n {
		llm := agentdtest.StartLLM(b, "standin-1", words, 20*time.Millisecond)
		provs = append(provs, startProvider(b, net, fmt.Sprintf("p%02d", i), inferenceCfg(llm, uint64(1_000_000+i*100_000), 2_000_000)))
	}
	bn := net.Node(b, "buyer", 10_000)
	buy, err := New(ctx, bn, Config{StallTimeout: 2 * time.Second})
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
		sc := bufio.NewScanner(resp.Body)
		chunks := 0
		var killed time.Time
		var got time.Duration
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "data: {") {
				continue
			}
			chunks++
			if chunks == 3 {
				killed = time.Now()
				victim.Kill()
			} else if chunks > 3 && got == 0 {
				got = time.Since(killed)
			}
		}
		resp.Body.Close()
		if got == 0 {
			b.Fatalf("iteration %d: no chunk after the kill", i)
		}
		rec = append(rec, got)
	}
	b.StopTimer()
	slices.Sort(rec)
	b.ReportMetric(float64(rec[len(rec)/2].Microseconds())/1000, "ms-recover-p50")
	b.ReportMetric(float64(rec[len(rec)-1].Microseconds())/1000, "ms-recover-max")
	b.Logf("time to recover: %v", rec)
}
