package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

func cmdStore(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		return usageError("store: put FILE | quote FILE | get ROOT [-o FILE] | audit ROOT | repair ROOT | rm ROOT | ls | grant ROOT PUBKEY")
	}
	if !e.cfg.listenSet {
		// A store command only dials providers: its libp2p host listens on
		// loopback, not on every interface as a daemon's does.
		e.cfg.node.ListenAddrs = transport.LoopbackListenAddrs
	}
	n, err := openNode(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	switch e.args[0] {
	case "ls":
		return storeList(ctx, e, n)
	case "grant":
		if len(e.args) != 3 {
			return usageError("store grant ROOT PUBKEY")
		}
		if err := n.Box().Grant(ctx, e.args[1], e.args[2]); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "agentd: %s can now fetch %s (and nothing else)\n", e.args[2], e.args[1])
		return nil
	}
	if e.args[0] == "get" {
		if done, err := storeGetLocal(ctx, e, n); done || err != nil {
			return err
		}
	}
	b, err := buyer.New(ctx, n, e.cfg.buyerConfig())
	if err != nil {
		return err
	}
	bar := newBar(e.stderr)
	switch e.args[0] {
	case "rm":
		if len(e.args) != 2 {
			return usageError("store rm ROOT")
		}
		if err := b.Delete(ctx, e.args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "agentd: deleted %s from its providers and the SafeBox\n", e.args[1])
		return nil
	case "audit":
		if len(e.args) != 2 {
			return usageError("store audit ROOT")
		}
		reps, err := b.Audit(ctx, e.args[1])
		if err != nil {
			return err
		}
		failed := 0
		for _, r := range reps {
			status := "ok"
			if r.Failed > 0 {
				status = "FAILED: " + r.Err
				failed++
			}
			fmt.Fprintf(e.stdout, "%s  proved %d  failed %d  %s\n", r.Provider, r.Proved, r.Failed, status)
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d providers failed the storage proof", failed, len(reps))
		}
		return nil
	case "repair":
		if len(e.args) != 2 {
			return usageError("store repair ROOT")
		}
		return storeRepair(ctx, e, b, strings.TrimSpace(e.args[1]))
	case "quote":
		if len(e.args) != 2 {
			return usageError("store quote FILE")
		}
		st, err := os.Stat(e.args[1])
		if err != nil {
			return err
		}
		q, err := b.Quote(ctx, st.Size())
		if err != nil {
			return err
		}
		printQuote(e.stdout, q)
		return nil
	case "put":
		return storePut(ctx, e, b, bar)
	case "get":
		if len(e.args) != 2 {
			return usageError("store get ROOT [-o FILE]")
		}
		err := getOutput(e, func(w io.Writer) error {
			_, err := b.Get(ctx, strings.TrimSpace(e.args[1]), w, bar.update)
			return err
		})
		bar.done()
		return err
	}
	return usageError("store: unknown subcommand " + e.args[0])
}

// printQuote writes a storage quote: one line per provider and the total.
func printQuote(w io.Writer, q buyer.Quote) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tBYTES\tMSAT/GIB-DAY\tMSAT/GIB-UPLOAD\tMSAT/GIB-RETRIEVAL\tSATS\tAT MOST")
	for _, p := range q.Providers {
		hold, _ := p.Prices.Of(nips.UnitGiBDay)
		up, _ := p.Prices.Of(nips.UnitGiBUpload)
		ret, _ := p.Prices.Of(nips.UnitGiBRetrieval)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Provider, p.Bytes, hold, up, ret, p.Sats, p.Cap)
	}
	fmt.Fprintf(tw, "total (%d of %d replicas, %s)\t%d\t\t\t\t%d\t%d\n", len(q.Providers), q.Replicas, q.Duration, q.Size, q.Sats, q.Cap)
	_ = tw.Flush()
}

// bar is a progress bar on stderr for transfers over 1 MiB.
type bar struct {
	w     io.Writer
	mu    sync.Mutex
	start time.Time
	last  time.Time
	shown bool
}

func newBar(w io.Writer) *bar { return &bar{w: w, start: time.Now()} }

func (b *bar) update(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if total < 1<<20 || (time.Since(b.last) < 100*time.Millisecond && done < total) {
		return
	}
	b.last = time.Now()
	b.shown = true
	const width = 30
	frac := float64(done) / float64(total)
	frac = min(max(frac, 0), 1)
	fill := int(frac * width)
	rate := float64(done) / max(time.Since(b.start).Seconds(), 0.001) / (1 << 20)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %.1f/%.1f MiB  %.1f MiB/s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		frac*100, float64(done)/(1<<20), float64(total)/(1<<20), rate)
}

func (b *bar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		fmt.Fprintln(b.w)
	}
}
