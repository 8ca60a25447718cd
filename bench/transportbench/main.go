// Command transportbench measures sovmesh's transport on loopback, side by
// side in one run: a raw TCP copy, a bare libp2p stream on the chosen
// security transport, and encrypted Put and Get of the same amount of data
// through the storage protocol (one buyer, one provider, in this process).
// It reports throughput and the peak heap and RSS of each phase.
//
//	go run ./bench/transportbench -size 1GiB -security tls -dir /dev/shm
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
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/store"
)

func main() {
	sizeFlag := flag.String("size", "1GiB", "bytes per phase (suffixes KiB, MiB, GiB)")
	secFlag := flag.String("security", "tls", "security transport: tls or noise")
	dir := flag.String("dir", "", "provider store directory (default: a temp dir; use /dev/shm to take the disk out)")
	chunkSize := flag.Int("chunk", 1<<20, "plaintext chunk size")
	streams := flag.Int("streams", 4, "parallel streams per provider")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Put and Get phases to this file")
	flag.Parse()
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
	ctx := context.Background()
	fmt.Printf("transportbench: %s per phase, security %s, chunk %d, streams %d, GOMAXPROCS %d, %s\n",
		*sizeFlag, sec, *chunkSize, *streams, runtime.GOMAXPROCS(0), runtime.Version())

	raw := measure("raw TCP copy", size, func() error { return rawTCP(size) })

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
	bare := measure("bare libp2p stream ("+sec.String()+"+yamux)", size, func() error { return bareStream(ctx, a, b, size) })

	storeDir := *dir
	if storeDir == "" {
		if storeDir, err = os.MkdirTemp("", "transportbench-"); err != nil {
			log.Fatal(err)
		}
	} else if storeDir, err = os.MkdirTemp(storeDir, "transportbench-"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(storeDir)
	st, err := store.Open(storeDir, 0)
	if err != nil {
		log.Fatal(err)
	}
	b.ServeStorage(st, nil)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	var ref transport.Ref
	putOpt := transport.PutOptions{ChunkSize: *chunkSize, Streams: *streams}
	put := measure("encrypted Put (store in "+storeDir+")", size, func() error {
		r, _, err := a.Put(ctx, &patternReader{left: size}, []peer.ID{b.ID()}, putOpt)
		ref = r
		return err
	})
	get := measure("encrypted Get", size, func() error {
		cw := &countWriter{}
		if err := a.Get(ctx, ref, cw, transport.GetOptions{Streams: *streams}); err != nil {
			return err
		}
		if cw.n != size {
			return fmt.Errorf("got %d bytes, want %d", cw.n, size)
		}
		return nil
	})
	fmt.Printf("\nratios: bare/raw %.2f, put/bare %.2f, get/bare %.2f\n", bare/raw, put/bare, get/bare)
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

// measure runs f, printing MB/s, peak Go heap (sampled) and peak RSS.
func measure(name string, size int64, f func() error) float64 {
	runtime.GC()
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
	start := time.Now()
	err := f()
	el := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	mbs := float64(size) / el.Seconds() / 1e6
	fmt.Printf("%-58s %8.0f MB/s  %6.2fs  peak heap %5d MiB  peak RSS %5d MiB\n",
		name, mbs, el.Seconds(), peakHeap.Load()>>20, peakRSS()>>20)
	return mbs
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
