package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// generator makes deterministic, realistic events: 200 authors, a few kinds,
// t tags from a vocabulary of 500 and p tags.
type generator struct {
	keys    []string
	pubkeys []string
	seed    uint64
	// spread is how far back created_at may go: live traffic is created
	// now, a store's history over weeks.
	spread int
}

func newGenerator(seed uint64, spread time.Duration) *generator {
	g := &generator{seed: seed, spread: max(1, int(spread.Seconds()))}
	r := rand.New(rand.NewPCG(seed, 1))
	for range 200 {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		b[0] |= 1
		sk := fmt.Sprintf("%x", b)
		pk, err := nostr.GetPublicKey(sk)
		if err != nil {
			continue
		}
		g.keys = append(g.keys, sk)
		g.pubkeys = append(g.pubkeys, pk)
	}
	return g
}

var kinds = []int{1, 1, 1, 7, 1111, 30023}

func (g *generator) event(i int) *nostr.Event {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)+2))
	k := r.IntN(len(g.keys))
	kind := kinds[r.IntN(len(kinds))]
	tags := nostr.Tags{{"t", fmt.Sprintf("topic%d", r.IntN(500))}, {"p", g.pubkeys[r.IntN(len(g.pubkeys))]}}
	if kind == 30023 {
		tags = append(tags, nostr.Tag{"d", fmt.Sprintf("article-%d", i)})
	}
	evt := &nostr.Event{
		Kind:      kind,
		CreatedAt: nostr.Now() - nostr.Timestamp(r.IntN(g.spread)),
		Tags:      tags,
		Content:   fmt.Sprintf("event %d from the load generator: %x", i, r.Uint64()),
	}
	_ = evt.Sign(g.keys[k])
	return evt
}

// signAll makes n events using every core.
func (g *generator) signAll(offset, n int) []*nostr.Event {
	out := make([]*nostr.Event, n)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				out[i] = g.event(offset + i)
			}
		}()
	}
	wg.Wait()
	return out
}
