// Command transportbench measures sovmesh's transport on loopback, side by
// side in one run: a raw TCP copy, a bare libp2p stream on the chosen
// security transport, and encrypted Put and Get of the same amount of data
// through the storage protocol (one buyer, one provider, in this process),
// with the provider's store on tmpfs and on disk. It repeats the phases
// (-runs) and reports, per phase, the median throughput, the median ratio to
// the bare stream of the same run, CPU seconds per GiB, and the peak heap
// and RSS. Put includes the provider's durable write; Get reads it back.
//
//	go run ./bench/transportbench -size 1GiB -security tls -dir /dev/shm,/var/tmp -runs 5
//
// With -layers it measures instead every layer a stored file crosses, up
// to agentd's paid put and get with 1 and 3 providers (layers.go):
//
//	go run ./bench/transportbench -layers -size 1GiB -runs 1 -cpuprofile /tmp/prof
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/sovmesh/sovmesh/internal/procs"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

func main() {
	sizeFlag := flag.String("size", "1GiB", "bytes per phase (suffixes KiB, MiB, GiB)")
	secFlag := flag.String("security", "tls", "security transport: tls or noise")
	dirs := flag.String("dir", "/dev/shm,"+os.TempDir(), "comma-separated parent directories of the provider's store; "+
		"Put and Get run once per directory (default: tmpfs, to take the disk out, and the disk)")
	chunkSize := flag.Int("chunk", 0, "plaintext chunk size (0: transport default)")
	streams := flag.Int("streams", 0, "parallel streams per provider (0: transport default)")
	runs := flag.Int("runs", 3, "repetitions; the summary reports medians")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Put and Get phases to this file")
	flag.StringVar(&profilePhase, "profile-phase", "", "with -cpuprofile: profile only the put or the get phases")
	layers := flag.Bool("layers", false, "measure each layer a stored file crosses, up to agentd with payment (see layers.go); "+
		"-cpuprofile is then a prefix: one CPU profile per layer, of the first run, and block and mutex profile snapshots before (.block.0, .mutex.0) and after (.block, .mutex) each layer")
	traceOut := flag.String("trace", "", "with -layers: an execution trace per layer, of the first run, to this path prefix (go tool trace; no CPU profile then)")
	provs := flag.String("providers", "1,3", "with -layers: provider counts for Put and Get")
	floor := flag.Bool("floor", false, "measure the CPU per GiB of the steps a put cannot avoid (SHA-256, AES-GCM, Reed-Solomon, a copy) on one goroutine (floor.go)")
	gets := flag.Int("gets", 1, "with -layers: times each get layer is measured per put (the second and later each with a bare stream measured right after it as its ratio's base)")
	flag.Parse()
	// As agentd runs (cmd/agentd): more Ps than cores, for the disk calls
	// that hold them (internal/procs). GOMAXPROCS in the environment
	// overrides it (GOMAXPROCS=2: as before).
	procs.SetForBlockingIO()
	size, err := parseSize(*sizeFlag)
	if err != nil {
		log.Fatal(err)
	}
	sec := transport.SecurityTLS
	if *secFlag == "noise" {
		sec = transport.SecurityNoise
	} else if *secFlag != "tls" {
		log.Fatalf("unknown security %q", *secFlag)
	}
	if *runs < 1 || *runs > 100 {
		log.Fatalf("runs %d out of [1, 100]", *runs)
	}
	ctx := context.Background()
	if *floor {
		runFloor(size)
		return
	}
	if *layers {
		ns, err := parseInts(*provs)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("transportbench -layers: %s per layer, providers %v, runs %d, GOMAXPROCS %d, NumCPU %d, %s\n",
			*sizeFlag, ns, *runs, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
		runLayers(ctx, layersConfig{size: size, runs: *runs, providers: ns, dir: strings.Split(*dirs, ",")[len(strings.Split(*dirs, ","))-1], profile: *cpuprofile, trace: *traceOut, gets: *gets})
		return
	}
	fmt.Printf("transportbench: %s per phase, security %s, chunk %d, streams %d, runs %d, GOMAXPROCS %d, NumCPU %d, %s\n",
		*sizeFlag, sec, *chunkSize, *streams, *runs, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Printf("load average at start: %s\n", loadAvg())

	opts := []transport.Option{
		transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
		transport.WithSecurity(sec),
		transport.WithTimeouts(time.Minute, time.Minute, time.Minute),
	}
	a, err := transport.New(ctx, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := transport.New(ctx, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Connect(ctx, b.NostrPubkey(), tcpAddrs(b.Addrs())); err != nil {
		log.Fatal(err)
	}
	srv := &switchStore{}
	b.ServeStorage(srv, nil)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		profileOut = f
		if profilePhase == "" {
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
	}
	var res results
	for run := range *runs {
		fmt.Printf("\nrun %d/%d (load %s)\n", run+1, *runs, loadAvg())
		res.add("raw TCP copy", measure("raw TCP copy", size, func() error { return rawTCP(size) }))
		for _, parent := range strings.Split(*dirs, ",") {
			// The bare stream runs right before and after this directory's
			// phases; their ratios are to the mean of the two, so a change
			// of machine load in between hurts neither side alone.
			bare1 := measure("bare libp2p stream ("+sec.String()+"+yamux)", size, func() error { return bareStream(ctx, a, b, size) })
			files := measure("bare stream into files (store in "+parent+")", size, func() error { return bareToFiles(ctx, a, b, parent, size) })
			put, get := putGet(ctx, a, b, srv, parent, size, *chunkSize, *streams)
			bare2 := measure("bare libp2p stream ("+sec.String()+"+yamux)", size, func() error { return bareStream(ctx, a, b, size) })
			res.add("bare libp2p stream", bare1)
			res.add("bare libp2p stream", bare2)
			bareMBs, bareCPU := (bare1.mbs+bare2.mbs)/2, (bare1.cpu+bare2.cpu)/2
			for _, sm := range []*sample{&files, &put, &get} {
				sm.ratio, sm.cpuRatio = sm.mbs/bareMBs, bareCPU/sm.cpu
			}
			res.add("bare stream into files in "+parent, files)
			res.add("encrypted Put, store in "+parent, put)
			res.add("encrypted Get, store in "+parent, get)
		}
	}
	fmt.Printf("\nload average at end: %s\n", loadAvg())
	res.print(*runs)
}

// putGet measures an encrypted Put then Get of size bytes, with the
// provider's store in a fresh directory under parent.
func putGet(ctx context.Context, a, b *transport.Host, srv *switchStore, parent string, size int64, chunkSize, streams int) (put, get sample) {
	storeDir, err := os.MkdirTemp(parent, "transportbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(storeDir)
	st, err := store.Open(storeDir, 0)
	if err != nil {
		log.Fatal(err)
	}
	srv.set(st)
	defer srv.set(nil)
	var ref transport.Ref
	putOpt := transport.PutOptions{ChunkSize: chunkSize, Streams: streams}
	put = measure("encrypted Put (store in "+parent+")", size, func() error {
		defer profile("put")()
		r, _, err := a.Put(ctx, &patternReader{left: size}, []peer.ID{b.ID()}, putOpt)
		ref = r
		return err
	})
	get = measure("encrypted Get (store in "+parent+")", size, func() error {
		defer profile("get")()
		cw := &countWriter{}
		if err := a.Get(ctx, ref, cw, transport.GetOptions{Streams: streams}); err != nil {
			return err
		}
		if cw.n != size {
			return fmt.Errorf("got %d bytes, want %d", cw.n, size)
		}
		return nil
	})
	return put, get
}

var (
	profilePhase string
	profileOut   *os.File
	profiled     bool
)

// profile starts the CPU profile for the first phase named -profile-phase
// and returns its stop function.
func profile(phase string) func() {
	if profileOut == nil || phase != profilePhase || profiled {
		return func() {}
	}
	profiled = true
	if err := pprof.StartCPUProfile(profileOut); err != nil {
		log.Fatal(err)
	}
	return pprof.StopCPUProfile
}

// switchStore lets one provider host serve a fresh store per phase.
type switchStore struct {
	mu sync.RWMutex
	st *store.Store
}

func (s *switchStore) set(st *store.Store) { s.mu.Lock(); s.st = st; s.mu.Unlock() }
func (s *switchStore) get() transport.ChunkStore {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st
}
func (s *switchStore) Put(c chunk.CID, owner [32]byte, data []byte) error {
	return s.get().Put(c, owner, data)
}
func (s *switchStore) Get(c chunk.CID, buf []byte) ([]byte, error) { return s.get().Get(c, buf) }

// GetFramed passes the store's GET served in place through (see transport's
// framedStore).
func (s *switchStore) GetFramed(c chunk.CID, room int, buf []byte, send func([]byte) error) ([]byte, error) {
	s.mu.RLock()
	st := s.st
	s.mu.RUnlock()
	return st.GetFramed(c, room, buf, send)
}
func (s *switchStore) Has(c chunk.CID) (bool, error)                    { return s.get().Has(c) }
func (s *switchStore) Delete(c chunk.CID, owner [32]byte) error         { return s.get().Delete(c, owner) }
func (s *switchStore) Prove(c chunk.CID, ch [32]byte) ([32]byte, error) { return s.get().Prove(c, ch) }

// sample is one phase's measurement.
type sample struct {
	mbs, cpu, ratio   float64
	cpuRatio          float64 // bare stream's CPU per byte / this phase's
	peakHeap, peakRSS uint64
}

// results collects samples per phase, in first-seen order.
type results struct {
	order []string
	by    map[string][]sample
}

func (r *results) add(name string, s sample) {
	r.touch(name)
	r.by[name] = append(r.by[name], s)
}

// touch gives name its place in the order, if it has none yet.
func (r *results) touch(name string) {
	if r.by == nil {
		r.by = map[string][]sample{}
	}
	if _, ok := r.by[name]; !ok {
		r.order = append(r.order, name)
		r.by[name] = nil
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func (r *results) print(runs int) {
	fmt.Printf("\nsummary: median of %d runs; ratio = phase MB/s / bare libp2p stream MB/s measured around it;\n"+
		"cpu ratio = bare stream CPU per GiB / phase CPU per GiB (the throughput ratio when CPU-bound); peak memory = max over runs\n", runs)
	fmt.Printf("%-40s %9s %9s %6s %9s %10s %9s %15s\n", "phase", "MB/s", "min-max", "ratio", "cpu ratio", "cpu s/GiB", "peak heap", "peak RSS")
	for _, name := range r.order {
		ss := r.by[name]
		var mbs, cpu, ratio, cpuRatio []float64
		var heap, rss uint64
		for _, s := range ss {
			mbs = append(mbs, s.mbs)
			cpu = append(cpu, s.cpu)
			ratio = append(ratio, s.ratio)
			cpuRatio = append(cpuRatio, s.cpuRatio)
			heap, rss = max(heap, s.peakHeap), max(rss, s.peakRSS)
		}
		lo, hi := slices.Min(mbs), slices.Max(mbs)
		rs, cs := "-", "-"
		if ss[0].ratio > 0 {
			rs, cs = fmt.Sprintf("%.2f", median(ratio)), fmt.Sprintf("%.2f", median(cpuRatio))
		}
		fmt.Printf("%-40s %9.0f %4.0f-%-4.0f %6s %9s %10.2f %5d MiB %9d MiB\n",
			name, median(mbs), lo, hi, rs, cs, median(cpu), heap>>20, rss>>20)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func tcpAddrs(in []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range in {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// measure runs f, printing MB/s, CPU time, peak Go heap (sampled) and peak RSS.
func measure(name string, size int64, f func() error) sample {
	debug.FreeOSMemory() // so the previous phase's heap does not count as this one's RSS
	resetPeakRSS()
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
			}
		}
	}()
	cpu0, flt0 := cpuTime(), minorFaults()
	start := time.Now()
	err := f()
	el := time.Since(start)
	cpu, faults := cpuTime()-cpu0, minorFaults()-flt0
	close(stop)
	wg.Wait()
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	mbs := float64(size) / el.Seconds() / 1e6
	rss := peakRSS()
	fmt.Printf("  %-50s %6.0f MB/s  %6.2fs  cpu %5.2fs  peak heap %5d MiB  peak RSS %5d MiB  page faults %7d\n",
		name, mbs, el.Seconds(), cpu.Seconds(), peakHeap.Load()>>20, rss>>20, faults)
	gib := float64(size) / (1 << 30)
	return sample{mbs: mbs, cpu: cpu.Seconds() / gib, peakHeap: peakHeap.Load(), peakRSS: rss}
}

// cpuTime returns the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minorFaults returns the page faults this process has taken that needed
// no disk read: on this kind of VM a fault on fresh memory costs more CPU
// than hashing the page.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

// resetPeakRSS resets the kernel's VmHWM for this process (Linux).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func rawTCP(size int64) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != size {
			err = fmt.Errorf("raw: got %d", n)
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	if _, err := io.CopyN(c, &patternReader{left: size}, size); err != nil {
		return err
	}
	_ = c.Close()
	return <-done
}

func bareStream(ctx context.Context, a, b *transport.Host, size int64) error {
	const proto = "/sovmesh/bench/bare/1.0.0"
	done := make(chan error, 1)
	b.LibP2P().SetStreamHandler(proto, func(s network.Stream) {
		n, err := io.Copy(io.Discard, s)
		if err == nil && n != size {
			err = fmt.Errorf("bare: got %d", n)
		}
		_ = s.Close()
		done <- err
	})
	s, err := a.LibP2P().NewStream(ctx, b.ID(), proto)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(s, io.LimitReader(&patternReader{left: size}, size), buf); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	return <-done
}

// bareToFiles sends size bytes over a bare libp2p stream whose receiver
// writes each 1 MiB block to its own new file under parent, with no
// hashing, no encryption and no fsync: the cost of carrying and storing
// the bytes at all, a reference point for Put.
func bareToFiles(ctx context.Context, a, b *transport.Host, parent string, size int64) error {
	const proto = "/sovmesh/bench/files/1.0.0"
	dir, err := os.MkdirTemp(parent, "transportbench-files-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	done := make(chan error, 1)
	b.LibP2P().SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		buf := make([]byte, 1<<20)
		var got int64
		for i := 0; ; i++ {
			n, err := io.ReadFull(s, buf)
			if n > 0 {
				if werr := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), buf[:n], 0o600); werr != nil {
					done <- werr
					return
				}
				got += int64(n)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				done <- err
				return
			}
		}
		if got != size {
			done <- fmt.Errorf("files: got %d", got)
			return
		}
		done <- nil
	})
	defer b.LibP2P().RemoveStreamHandler(proto)
	s, err := a.LibP2P().NewStream(ctx, b.ID(), proto)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(s, io.LimitReader(&patternReader{left: size}, size), buf); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	return <-done
}

// patternReader yields left bytes of a random 1 MiB block, repeated.
type patternReader struct {
	left int64
	off  int
}

var block = func() []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	return b
}()

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := copy(b, block[p.off:])
	if int64(n) > p.left {
		n = int(p.left)
	}
	p.off = (p.off + n) % len(block)
	p.left -= int64(n)
	return n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }
