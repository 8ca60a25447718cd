package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/bip340"
)

// rate is verifications per second on one goroutine and on one per core.
type rate struct {
	perCore, allCores float64
}

// ceiling is the BIP-340 verification rate of the two verifiers the relays
// use: go-nostr's CheckSignature (stock khatru) and internal/bip340's
// CheckEvent (sovmesh; libsecp256k1 when built with cgo). Each checks the
// hash of the event's serialization, as a relay must.
type ceiling struct {
	stock, ours rate
	impl        string // internal/bip340's implementation
	cores       int
}

// measureVerify times each verifier for d on one goroutine and for d on one
// goroutine per core.
func measureVerify(d time.Duration) ceiling {
	evt := newGenerator(3, time.Minute).event(0)
	run := func(workers int, check func(*nostr.Event) (bool, error)) float64 {
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
					if ok, _ := check(&e); !ok {
						panic("verify failed")
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	stock := func(e *nostr.Event) (bool, error) { return e.CheckSignature() }
	c := runtime.NumCPU()
	return ceiling{
		stock: rate{perCore: run(1, stock), allCores: run(c, stock)},
		ours:  rate{perCore: run(1, bip340.CheckEvent), allCores: run(c, bip340.CheckEvent)},
		impl:  bip340.Implementation,
		cores: c,
	}
}

// String is the ceiling as the tool prints it.
func (c ceiling) String() string {
	return fmt.Sprintf("BIP-340 verify: go-nostr (stock khatru) %.0f/s on 1 core, %.0f/s on %d cores; sovmesh (%s) %.0f/s on 1 core, %.0f/s on %d cores",
		c.stock.perCore, c.stock.allCores, c.cores, c.impl, c.ours.perCore, c.ours.allCores, c.cores)
}
