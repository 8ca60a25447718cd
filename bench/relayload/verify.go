package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

type ceiling struct {
	perCore, allCores float64
	cores             int
}

// measureVerify times BIP-340 verification the way the relays do it
// (go-nostr's CheckSignature), on one goroutine and on one per core.
func measureVerify(d time.Duration) ceiling {
	evt := newGenerator(3, time.Minute).event(0)
	run := func(workers int) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := *evt
				for time.Now().Before(stop) {
					if ok, _ := e.CheckSignature(); !ok {
						panic("verify failed")
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	c := runtime.NumCPU()
	return ceiling{perCore: run(1), allCores: run(c), cores: c}
}
