package main

import "fmt"

// printTable prints the results as the Markdown table docs/benchmarks.md keeps.
func printTable(rs []result, c ceiling) {
	fmt.Printf("\n| relay | ingest events/s | OK p50 | OK p99 | REQ p50 / p99, one at a time | REQ p50 / p99, 8 connections | stored | KiB RSS per idle conn | KiB Go heap+stack per idle conn |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Printf("| %s | %.0f | %s | %s | %s / %s | %s / %s | %d | %.1f | %.1f |\n", r.target, r.ingestRate(),
			r.okP50.Round(10e3), r.okP99.Round(10e3), r.serialP50.Round(10e3), r.serialP99.Round(10e3),
			r.reqP50.Round(10e3), r.reqP99.Round(10e3), r.stored, r.bytesPerIdle/1024, r.goPerIdle/1024)
	}
	fmt.Printf("\n%s\n", c)
	var ours *result
	for i := range rs {
		if rs[i].target == "sovmesh" {
			ours = &rs[i]
		}
	}
	if ours == nil {
		return
	}
	for _, r := range rs {
		if r.target != "sovmesh" {
			fmt.Printf("sovmesh ingest / %s: %.2fx\n", r.target, ours.ingestRate()/r.ingestRate())
		}
	}
	for _, v := range []struct {
		name string
		r    rate
	}{{"go-nostr", c.stock}, {"sovmesh's " + c.impl, c.ours}} {
		fmt.Printf("sovmesh ingest / %s verification ceiling: %.0f%% of %d cores, %.0f%% of one core\n",
			v.name, 100*ours.ingestRate()/v.r.allCores, c.cores, 100*ours.ingestRate()/v.r.perCore)
	}
}
