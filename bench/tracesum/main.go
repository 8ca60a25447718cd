// Command tracesum sums up an execution trace (runtime/trace, as
// transportbench -trace writes one per layer) to show where a transfer's
// goroutines spend their time and whether the cores are idle for want of
// work or for want of a P: the time with k goroutines running Go code, in
// system calls and runnable; the CPU-seconds not running Go code while
// goroutines were runnable (the Ps held elsewhere, such as by goroutines in
// blocking system calls) and while none was; and, per goroutine (named by
// its start function), the time running, runnable, in each system call and
// waiting at each place.
//
//	go run ./bench/tracesum [-cpus 2] /tmp/trace.transport-put-1
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

// gst is a goroutine's state since a time; wait names where it waits or
// which system call it is in.
type gst struct {
	name  string
	state trace.GoState
	since trace.Time
	wait  string
}

func frames(s trace.Stack) []trace.StackFrame {
	var out []trace.StackFrame
	for f := range s.Frames() {
		out = append(out, f)
	}
	return out
}

func short(f string) string {
	f = strings.ReplaceAll(f, "github.com/sovmesh/sovmesh/", "")
	f = strings.ReplaceAll(f, "github.com/libp2p/", "")
	return f
}

// rootName names a goroutine by the outermost frame of its stack.
func rootName(s trace.Stack) string {
	fs := frames(s)
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Func != "runtime.goexit" && fs[i].Func != "" {
			return short(fs[i].Func)
		}
	}
	return "?"
}

// waitName is the innermost frame outside the runtime, sync and io.
func waitName(s trace.Stack) string {
	for _, f := range frames(s) {
		fn := f.Func
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "io.") {
			continue
		}
		return short(fn)
	}
	return "?"
}

// sysName is the two innermost frames outside the runtime and syscall.
func sysName(s trace.Stack) string {
	var parts []string
	for _, f := range frames(s) {
		fn := f.Func
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "syscall.") {
			continue
		}
		parts = append(parts, short(fn))
		if len(parts) == 2 {
			break
		}
	}
	return strings.Join(parts, " < ")
}

func main() {
	cpus := flag.Int("cpus", runtime.NumCPU(), "cores the traced process had")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: tracesum [-cpus N] TRACE")
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	gs := map[trace.GoID]*gst{}
	run := map[string]float64{}
	runnable := map[string]float64{}
	sys := map[string]float64{}
	wait := map[string]float64{}
	var start, end trace.Time
	running := 0
	// seconds with k goroutines running Go code (hist), in system calls
	// (shist), with k Ps running (phist) and k goroutines runnable (rhist)
	hist := map[int]float64{}
	shist := map[int]float64{}
	insys := 0
	var starved, idleNoWork float64
	var last, plast trace.Time
	procs, runq := 0, 0
	phist := map[int]float64{}
	rhist := map[int]float64{}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		t := ev.Time()
		if start == 0 {
			start, last, plast = t, t, t
		}
		end = t
		hist[running] += float64(t-last) / 1e9
		shist[min(insys, 9)] += float64(t-last) / 1e9
		{
			idleCPU := *cpus - min(running, *cpus)
			if runq > 0 {
				starved += float64(idleCPU) * float64(t-last) / 1e9
			} else {
				idleNoWork += float64(idleCPU) * float64(t-last) / 1e9
			}
		}
		last = t
		phist[procs] += float64(t-plast) / 1e9
		rhist[min(runq, 9)] += float64(t-plast) / 1e9
		plast = t
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind == trace.ResourceProc {
			pf, pt := st.Proc()
			if pf == trace.ProcRunning {
				procs--
			}
			if pt == trace.ProcRunning {
				procs++
			}
			continue
		}
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		g := gs[id]
		if g == nil {
			g = &gst{state: from, since: start}
			gs[id] = g
		}
		if g.name == "" || g.name == "?" {
			if from == trace.GoNotExist {
				g.name = rootName(st.Stack)
			} else if st.Stack != trace.NoStack {
				g.name = rootName(st.Stack)
			}
		}
		d := float64(t-g.since) / 1e9
		switch g.state {
		case trace.GoRunning:
			run[g.name] += d
			running--
		case trace.GoRunnable:
			runnable[g.name] += d
		case trace.GoSyscall:
			sys[g.name+" @ "+g.wait] += d
			insys--
		case trace.GoWaiting:
			wait[g.name+" @ "+g.wait] += d
		}
		if to == trace.GoRunning {
			running++
		}
		if to == trace.GoSyscall {
			insys++
		}
		if g.state == trace.GoRunnable {
			runq--
		}
		if to == trace.GoRunnable {
			runq++
		}
		g.state, g.since = to, t
		if to == trace.GoWaiting {
			g.wait = waitName(st.Stack)
		}
		if to == trace.GoSyscall {
			g.wait = sysName(ev.Stack())
		}
	}
	total := float64(end-start) / 1e9
	fmt.Printf("trace span %.2fs\n", total)
	fmt.Printf("time with k goroutines running:")
	for k := 0; k <= 12; k++ {
		if hist[k] > 0 {
			fmt.Printf(" %d:%.2f", k, hist[k])
		}
	}
	fmt.Printf("\ntime with k goroutines in syscalls:")
	for k := -3; k <= 9; k++ {
		if shist[k] > 0 {
			fmt.Printf(" %d:%.2f", k, shist[k])
		}
	}
	fmt.Println()
	fmt.Printf("CPU-seconds not running Go code while goroutines were runnable: %.2f; with none runnable: %.2f\n", starved, idleNoWork)
	fmt.Printf("time with k Ps running:")
	for k := -2; k <= 4; k++ {
		if phist[k] > 0 {
			fmt.Printf(" %d:%.2f", k, phist[k])
		}
	}
	fmt.Printf("\ntime with k goroutines runnable:")
	for k := -3; k <= 9; k++ {
		if rhist[k] > 0 {
			fmt.Printf(" %d:%.2f", k, rhist[k])
		}
	}
	fmt.Println()
	pr := func(title string, m map[string]float64, n int) {
		type kv struct {
			k string
			v float64
		}
		var l []kv
		sum := 0.0
		for k, v := range m {
			l = append(l, kv{k, v})
			sum += v
		}
		sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
		fmt.Printf("\n%s (total %.2f s)\n", title, sum)
		for i, e := range l {
			if i >= n {
				break
			}
			fmt.Printf("  %7.3f  %s\n", e.v, e.k)
		}
	}
	pr("running", run, 25)
	pr("runnable (waiting for a P)", runnable, 12)
	pr("syscall", sys, 16)
	pr("waiting", wait, 30)
}
