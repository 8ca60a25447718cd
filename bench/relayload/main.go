// Command relayload measures relays side by side: sovmesh's relay and stock
// khatru on eventstore's sqlite3 and badger backends. Each relay runs in a
// child process of its own (the same binary with -serve), so its memory is
// measured alone; the load comes from this process over websocket on
// 127.0.0.1. It reports ingest events/s with OK latency, REQ latency with
// -stored events in the store, memory per idle connection, and BIP-340
// verifications per second as the ceiling of any relay that checks
// signatures: go-nostr's verifier (what stock khatru uses) and sovmesh's
// (internal/bip340).
//
//	go run ./bench/relayload -targets sovmesh,khatru-sqlite3,khatru-badger
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type options struct {
	targets      string
	events       int
	ingestMax    time.Duration
	conns        int
	window       int
	stored       int
	reqs         int
	idle         int
	serve        string
	dir          string
	database     string
	scale        bool
	verifyFor    time.Duration
	storedBudget time.Duration
	cpuprofile   string
	reqprofile   string
	attack       attackOptions
	attackers    string
	attackURL    string
}

func main() {
	var o options
	flag.StringVar(&o.targets, "targets", "sovmesh,khatru-sqlite3,khatru-badger", "relays to measure, comma separated")
	flag.IntVar(&o.events, "events", 30000, "events to publish in the ingest phase")
	flag.DurationVar(&o.ingestMax, "ingest-max", 60*time.Second, "stop the ingest phase after this long (slow baselines)")
	flag.IntVar(&o.conns, "conns", 16, "websocket connections publishing at once")
	flag.IntVar(&o.window, "window", 64, "unacknowledged events per connection")
	flag.IntVar(&o.stored, "stored", 100000, "events in the store during the REQ phase")
	flag.DurationVar(&o.storedBudget, "prefill-max", 5*time.Minute, "give up filling the store after this long")
	flag.IntVar(&o.reqs, "reqs", 3000, "REQs in the query phase")
	flag.IntVar(&o.idle, "idle", 2000, "idle connections for the memory measurement")
	flag.DurationVar(&o.verifyFor, "verify-for", 3*time.Second, "how long to measure signature verification")
	flag.StringVar(&o.serve, "serve", "", "internal: run one relay (sovmesh, khatru-sqlite3, khatru-badger) and print its address")
	flag.StringVar(&o.dir, "dir", "", "internal: data directory for -serve")
	flag.StringVar(&o.database, "database", "", "postgres:// URL of a role that may create databases: with -scale, each PostgreSQL round runs on a fresh database made there (dropped after); with -serve, the database of the sovmesh relay")
	flag.BoolVar(&o.scale, "scale", false, "measure ingest and REQ latency of sovmesh on SQLite and of 1, 2 and 3 sovmesh processes on one PostgreSQL database (-database), the load spread over them, instead of the side-by-side measurement")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write each relay's CPU profile to this path with the target's name appended (with -attack: the attacked relay's, to this path)")
	flag.StringVar(&o.reqprofile, "reqprofile", "", "like -cpuprofile, but profile only the REQ phase (both rounds of queries; with -attack: from the first slice under attack to the end), and write the relay's mutex and block profiles of that phase to this path plus .mutex and .block")
	flag.StringVar(&o.attack.attacks, "attack", "", "run attacks (\"all\" or names from bench/attack, comma separated) against sovmesh with default limits while honest clients publish and query, instead of the side-by-side measurement")
	flag.DurationVar(&o.attack.phase, "attack-phase", 15*time.Second, "-attack: length of the honest phase without and with the attacks")
	flag.IntVar(&o.attack.rounds, "attack-rounds", 500, "-attack: most rounds (connections, messages) of each attack")
	flag.IntVar(&o.attack.stored, "attack-stored", 20000, "-attack: events in the store before the attacks")
	flag.IntVar(&o.attack.alternate, "attack-alternate", 1, "-attack: cut each phase into this many slices, run without and under attack in turn (a machine whose background load changes then weighs on both alike)")
	flag.DurationVar(&o.attack.startProfile, "attack-start-profile", 0, "-attack with -reqprofile: profile only the first this long of each slice under attack, slice i to the -reqprofile path plus \".i\" (where the start of an attack costs)")
	flag.IntVar(&o.attack.attackersNice, "attackers-nice", 0, "-attack: run the attackers' process at this niceness (19: the kernel runs the relay and the honest clients first, as if the attackers were other machines; 0: they compete for the CPUs as equals)")
	flag.StringVar(&o.attack.attackersCPUs, "attackers-cpus", "", "-attack: run the attackers' process on these CPUs only (taskset -c syntax, e.g. 1): attackers on CPUs of their own stand for attackers on other machines, who take no CPU from the relay; empty: wherever the load tool may run")
	flag.StringVar(&o.attack.relayCPUs, "relay-cpus", "", "-attack: run the relay's process on these CPUs only (taskset -c syntax, e.g. 0); empty: wherever the load tool may run (to pin the honest clients too, start the load tool itself under taskset)")
	flag.StringVar(&o.attackers, "attackers", "", "internal: run these attacks against -attack-url for -attack-phase and print their tallies")
	flag.StringVar(&o.attackURL, "attack-url", "", "internal: the relay -attackers attacks")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serve != "" {
		if o.cpuprofile != "" {
			f, err := os.Create(o.cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "relayload serve:", err)
				os.Exit(1)
			}
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		if err := serve(ctx, o.serve, o.dir, o.database, o.reqprofile); err != nil {
			fmt.Fprintln(os.Stderr, "relayload serve:", err)
			os.Exit(1)
		}
		return
	}
	if o.attackers != "" {
		if err := runAttackers(ctx, o.attackers, o.attackURL, o.attack.phase, o.attack.rounds); err != nil {
			fmt.Fprintln(os.Stderr, "relayload attackers:", err)
			os.Exit(1)
		}
		return
	}
	if o.attack.attacks != "" {
		o.attack.cpuprofile, o.attack.phaseprofile = o.cpuprofile, o.reqprofile
		if err := runAttack(ctx, o.attack); err != nil {
			fmt.Fprintln(os.Stderr, "relayload:", err)
			os.Exit(1)
		}
		return
	}
	if o.scale {
		if err := runScale(ctx, o); err != nil {
			fmt.Fprintln(os.Stderr, "relayload:", err)
			os.Exit(1)
		}
		return
	}
	if err := runAll(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "relayload:", err)
		os.Exit(1)
	}
}

func runAll(ctx context.Context, o options) error {
	fmt.Printf("relayload: %d events over %d connections (window %d), REQs at %d stored, %d idle connections\n",
		o.events, o.conns, o.window, o.stored, o.idle)
	ceil := measureVerify(o.verifyFor)
	fmt.Println(ceil)

	var results []result
	for _, target := range strings.Split(o.targets, ",") {
		target = strings.TrimSpace(target)
		fmt.Printf("\n== %s\n", target)
		res, err := measureTarget(ctx, o, target)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		res.print()
		results = append(results, res)
	}
	printTable(results, ceil)
	return nil
}
