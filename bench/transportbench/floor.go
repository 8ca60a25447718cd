package main

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"time"

	"github.com/klauspost/reedsolomon"
	"lukechampine.com/blake3"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// runFloor measures, on one goroutine, the CPU per GiB of each step a put
// cannot avoid on this CPU: SHA-256 (the CID, computed by the buyer and
// checked by the provider), AES-256-GCM (the chunk's seal; TLS costs about
// as much per direction), Reed-Solomon encoding of a 2+1 stripe (per GiB of
// file data), and a memory copy, over chunks of 1 and 4 MiB. BLAKE3 (an
// indirect dependency already) is measured beside SHA-256 for reference:
// what a cheaper CID hash would cost.
func runFloor(size int64) {
	fmt.Printf("transportbench -floor: %d MiB per step, one goroutine, GOMAXPROCS %d, %s, load %s\n",
		size>>20, runtime.GOMAXPROCS(0), runtime.Version(), loadAvg())
	key, err := chunk.NewKey()
	if err != nil {
		panic(err)
	}
	ciph, err := chunk.NewCipher(key)
	if err != nil {
		panic(err)
	}
	rs, err := reedsolomon.New(2, 1)
	if err != nil {
		panic(err)
	}
	for _, cs := range []int{1 << 20, 4 << 20} {
		buf := make([]byte, cs+chunk.Overhead)
		dst := make([]byte, cs+chunk.Overhead)
		copy(buf, block)
		shards := [][]byte{make([]byte, cs), make([]byte, cs), make([]byte, cs)}
		n := int(size / int64(cs))
		step := func(name string, perGiB float64, f func(i int)) {
			f(0) // warm
			cpu0 := cpuTime()
			start := time.Now()
			for i := range n {
				f(i)
			}
			el := time.Since(start)
			cpu := cpuTime() - cpu0
			gib := float64(size) / (1 << 30) * perGiB
			fmt.Printf("  %-40s chunk %d MiB: %6.3f CPU s/GiB  (%6.0f MB/s wall)\n",
				name, cs>>20, cpu.Seconds()/gib, float64(size)*perGiB/el.Seconds()/1e6)
		}
		step("SHA-256 (chunk.Sum)", 1, func(int) { _ = chunk.Sum(buf) })
		step("SHA-256 streaming (store check)", 1, func(int) { h := sha256.New(); h.Write(buf); _ = h.Sum(nil) })
		step("BLAKE3 (reference)", 1, func(int) { _ = blake3.Sum256(buf) })
		step("AES-256-GCM seal (chunk.Seal)", 1, func(i int) { ciph.Seal(dst[:0], buf[:cs], chunk.KindData, uint64(i)) })
		step("AES-256-GCM open", 1, func(i int) {
			sealed := ciph.Seal(dst[:0], buf[:cs], chunk.KindData, 7)
			_, _ = ciph.Open(buf[:0], sealed, chunk.KindData, 7)
		})
		// per GiB of file data: a stripe carries 2 chunks.
		step("Reed-Solomon 2+1 encode", 0.5, func(int) { _ = rs.Encode(shards) })
		step("memmove", 1, func(int) { copy(dst, buf) })
	}
}
