// Command socksbench measures a SOCKS5 connection through a bought
// bandwidth session against a direct connection, through the real
// binaries over a real link (issue 14, point 6). It must run as root on
// Linux: it creates two network namespaces joined by a veth pair,
//
//	near: the buyer's `agentd serve` (SOCKS5 proxy on 127.0.0.1) and the client
//	far:  an HTTP file server, `meshrelay` with its dev mint, `agentd provide`
//
// and, for each link condition (-conds), downloads the same file with the
// same client three ways, one after the other, -rounds times: directly
// (client -> server over the veth), through the floor (the same three hops
// carried by one plain TLS 1.3 connection, floor.go: what any secure
// user-space carrier pays for the hops) and through the proxy (client ->
// SOCKS5 -> buyer -> libp2p over the veth -> provider -> server). The first
// SOCKS5 connection, before any measurement, buys the session; every
// measured one pays its steps at the mint as it goes. It reports MB/s, the ratios socks5/direct, floor/direct and socks5/floor
// (of the summed wall times) and the CPU seconds per GiB moved of every
// process (from /proc/PID/stat for the daemons, rusage for the client).
// A condition shapes both ends of the veth: RATE with a tc token bucket
// (tbf), RATE:DELAY with tc netem (rate and one-way delay, where the kernel
// has sch_netem); "-" leaves the link unshaped.
//
//	go build -o /tmp/agentd ./cmd/agentd && go build -o /tmp/meshrelay ./cmd/meshrelay
//	go run ./bench/socksbench -agentd /tmp/agentd -meshrelay /tmp/meshrelay -size 64MiB -rounds 2 \
//	    -conds '-,10gbit,1gbit,100mbit'
//
// Everything it creates (namespaces, processes, the data directory) is
// removed on exit, on error and on SIGINT/SIGTERM; namespace and link names
// carry the process id, so runs do not collide.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/proxy"

	"github.com/sovmesh/sovmesh/internal/syncbuf"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve-file":
			serveFile(os.Args[2:])
			return
		case "get":
			get(os.Args[2:])
			return
		case "forward":
			forward(os.Args[2:])
			return
		case "floor":
			floor(os.Args[2:])
			return
		}
	}
	agentd := flag.String("agentd", "", "agentd binary (required)")
	relay := flag.String("meshrelay", "", "meshrelay binary (required)")
	sizeS := flag.String("size", "64MiB", "size of the downloaded file (KiB, MiB, GiB suffixes)")
	rounds := flag.Int("rounds", 2, "downloads each way per condition")
	conds := flag.String("conds", "-,10gbit,1gbit,100mbit", "comma-separated link conditions on both veth ends: - (unshaped), RATE (tc tbf) or RATE:DELAY (tc netem, one-way delay; needs sch_netem)")
	keep := flag.Bool("v", false, "print the daemons' logs when done")
	flag.Parse()
	size, err := parseSize(*sizeS)
	if err != nil || *agentd == "" || *relay == "" || *rounds < 1 || *rounds > 100 {
		log.Fatalf("socksbench: want -agentd, -meshrelay, a -size (%v) and 1..100 -rounds", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{agentd: *agentd, relay: *relay, size: size, verbose: *keep}
	err = b.run(ctx, *rounds, strings.Split(*conds, ","))
	b.teardown()
	if err != nil {
		log.Fatalf("socksbench: %v", err)
	}
}

type bench struct {
	agentd, relay string
	size          int64
	verbose       bool

	dir          string
	near, far    string // namespaces
	vnear, vfar  string // veth ends
	nearIP       string
	farIP        string
	procs        []*proc
	nsMade       []string
	mintURL, url string
}

// proc is a daemon in a namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan struct{}
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (b *bench) setup() error {
	id := os.Getpid()
	b.near, b.far = fmt.Sprintf("sbn%d", id), fmt.Sprintf("sbf%d", id)
	b.vnear, b.vfar = fmt.Sprintf("sbn%d", id), fmt.Sprintf("sbf%d", id)
	net3 := fmt.Sprintf("10.%d.%d", 200+id/250%50, id%250)
	b.nearIP, b.farIP = net3+".1", net3+".2"
	for _, ns := range []string{b.near, b.far} {
		if err := sh("ip", "netns", "add", ns); err != nil {
			return err
		}
		b.nsMade = append(b.nsMade, ns)
	}
	steps := [][]string{
		{"ip", "link", "add", b.vnear, "netns", b.near, "type", "veth", "peer", "name", b.vfar, "netns", b.far},
		{"ip", "-n", b.near, "addr", "add", b.nearIP + "/24", "dev", b.vnear},
		{"ip", "-n", b.far, "addr", "add", b.farIP + "/24", "dev", b.vfar},
		{"ip", "-n", b.near, "link", "set", "lo", "up"},
		{"ip", "-n", b.far, "link", "set", "lo", "up"},
		{"ip", "-n", b.near, "link", "set", b.vnear, "up"},
		{"ip", "-n", b.far, "link", "set", b.vfar, "up"},
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			return err
		}
	}
	return nil
}

// teardown stops every process and removes the namespaces (the veth pair
// goes with them) and the data directory.
func (b *bench) teardown() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		p := b.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if b.verbose {
			fmt.Fprintf(os.Stderr, "--- %s\n%s\n", p.name, p.logs.String())
		}
	}
	for _, ns := range b.nsMade {
		if err := sh("ip", "netns", "del", ns); err != nil {
			log.Print(err)
		}
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// start runs bin in namespace ns (ip netns exec execs it in place: the
// pid is the daemon's) and waits until its output matches ready.
func (b *bench) start(ctx context.Context, name, ns string, env []string, ready string, bin string, args ...string) (*proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{name: name, cmd: cmd, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.procs = append(b.procs, p)
	go func() { _ = cmd.Wait(); close(p.done) }()
	re := regexp.MustCompile(ready)
	deadline := time.Now().Add(90 * time.Second)
	for !re.MatchString(p.logs.String()) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited: %v\n%s", name, cmd.ProcessState, tail(p.logs.String()))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready after 90 s:\n%s", name, tail(p.logs.String()))
		}
	}
	return p, nil
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

func (b *bench) agentEnv(name, ip string) []string {
	return []string{
		"SOVMESH_DATA=" + b.dir + "/" + name,
		"SOVMESH_RELAY=ws://" + b.farIP + ":7447",
		"SOVMESH_MINT=" + b.mintURL,
		"SOVMESH_LISTEN=/ip4/" + ip + "/tcp/0",
		"SOVMESH_PASSPHRASE=",
		"SOVMESH_BUDGET_PER_DAY=0",
		"SOVMESH_BUDGET_PER_COUNTERPARTY=0",
		"SOVMESH_MIN_PROVIDERS=1",
		"SOVMESH_LOG_LEVEL=info",
	}
}

func (b *bench) run(ctx context.Context, rounds int, conds []string) error {
	dir, err := os.MkdirTemp("", "socksbench")
	if err != nil {
		return err
	}
	b.dir = dir
	if err := b.setup(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv, err := b.start(ctx, "file server", b.far, nil, "serving", self, "serve-file", "-listen", b.farIP+":8080", "-size", strconv.FormatInt(b.size, 10))
	if err != nil {
		return err
	}
	b.url = "http://" + b.farIP + ":8080/file"
	rl, err := b.start(ctx, "meshrelay", b.far, nil, `relay listening`, b.relay,
		"--listen", b.farIP+":7447", "--data", dir+"/relay", "--dev-mint-listen", "0.0.0.0:3338")
	if err != nil {
		return err
	}
	// A mint URL must be https unless on loopback: both sides use
	// http://127.0.0.1:3338, which in the near namespace is a forwarder to
	// the mint across the veth (payments cross the link too).
	b.mintURL = "http://127.0.0.1:3338"
	if _, err := b.start(ctx, "mint forwarder", b.near, nil, "forwarding", self, "forward", "-listen", "127.0.0.1:3338", "-to", b.farIP+":3338"); err != nil {
		return err
	}
	prov, err := b.start(ctx, "provider", b.far, b.agentEnv("provider", b.farIP), "provider running", b.agentd,
		"provide", "--bandwidth-price", "1000", "--allow-private-targets")
	if err != nil {
		return err
	}
	dep := exec.CommandContext(ctx, "ip", "netns", "exec", b.near, b.agentd, "wallet", "deposit", "20000")
	dep.Env = append(os.Environ(), b.agentEnv("buyer", b.nearIP)...)
	if out, err := dep.CombinedOutput(); err != nil {
		return fmt.Errorf("buyer deposit: %w\n%s", err, out)
	}
	buyer, err := b.start(ctx, "buyer", b.near, b.agentEnv("buyer", b.nearIP), "SOCKS5 proxy on", b.agentd,
		"serve", "--openai", "", "--socks", "127.0.0.1:1080")
	if err != nil {
		return err
	}
	// Buy the session (and warm both paths) with a first download each way.
	if _, err := b.get(ctx, ""); err != nil {
		return fmt.Errorf("direct warm-up: %w", err)
	}
	var buyErr error
	for range 30 { // the offer may take a moment to reach the relay
		if _, buyErr = b.get(ctx, "127.0.0.1:1080"); buyErr == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	if buyErr != nil {
		return fmt.Errorf("socks5 warm-up (buying the session): %w\n%s", buyErr, tail(buyer.logs.String()))
	}
	floorFar, err := b.start(ctx, "floor far", b.far, nil, "floor listening", self, "floor", "-listen", b.farIP+":9443")
	if err != nil {
		return err
	}
	floorNear, err := b.start(ctx, "floor near", b.near, nil, "floor listening", self, "floor", "-near", "-listen", "127.0.0.1:1081", "-to", b.farIP+":9443")
	if err != nil {
		return err
	}
	if _, err := b.get(ctx, "127.0.0.1:1081"); err != nil {
		return fmt.Errorf("floor warm-up: %w", err)
	}
	daemons := []*proc{srv, rl, prov, buyer, floorNear, floorFar}
	fmt.Printf("file %d MiB, %d rounds per condition; load average %s\n", b.size>>20, rounds, loadavg())
	// What the daemons burn with no traffic (relay subscriptions, timers):
	// on a slow link it is part of their CPU per GiB.
	idle0 := cpus(daemons)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
	}
	idle1 := cpus(daemons)
	fmt.Printf("idle CPU, ms per s: server %d, relay+mint %d, provider %d, buyer %d\n",
		(idle1[0]-idle0[0]).Milliseconds()/5, (idle1[1]-idle0[1]).Milliseconds()/5,
		(idle1[2]-idle0[2]).Milliseconds()/5, (idle1[3]-idle0[3]).Milliseconds()/5)
	fmt.Println("| link | direct MB/s | floor MB/s | socks5 MB/s | socks5/direct | floor/direct | socks5/floor | 0.5x met | direct CPU s/GiB (client, server) | floor CPU s/GiB (client, near, far, server) | socks5 CPU s/GiB (client, buyer, provider, server, relay+mint) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	const direct, viaFloor, viaSocks = 0, 1, 2
	vias := [3]string{"", "127.0.0.1:1081", "127.0.0.1:1080"}
	for _, c := range conds {
		if err := b.shape(c); err != nil {
			return err
		}
		var wall [3]time.Duration
		var cpu [3][5]time.Duration // client, carrier near, carrier far, server, relay+mint
		for range rounds {
			for i, via := range vias {
				before := cpus(daemons)
				r, err := b.get(ctx, via)
				if err != nil {
					return fmt.Errorf("%s via %q: %w\n%s", c, via, err, tail(buyer.logs.String()))
				}
				after := cpus(daemons)
				d := func(j int) time.Duration { return after[j] - before[j] }
				wall[i] += r.Wall
				cpu[i][0] += r.CPU
				cpu[i][3] += d(0)
				cpu[i][4] += d(1)
				switch i {
				case viaFloor:
					cpu[i][1] += d(4)
					cpu[i][2] += d(5)
				case viaSocks:
					cpu[i][1] += d(3)
					cpu[i][2] += d(2)
				}
			}
		}
		gib := float64(b.size) * float64(rounds) / (1 << 30)
		mb := func(d time.Duration) float64 { return float64(b.size) * float64(rounds) / d.Seconds() / 1e6 }
		per := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/gib) }
		sum := func(a [5]time.Duration) time.Duration {
			var t time.Duration
			for _, v := range a {
				t += v
			}
			return t
		}
		ratio := wall[direct].Seconds() / wall[viaSocks].Seconds()
		met := "no"
		if ratio >= 0.5 {
			met = "yes"
		}
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %s | %s (%s, %s) | %s (%s, %s, %s, %s) | %s (%s, %s, %s, %s, %s) |\n",
			c, mb(wall[direct]), mb(wall[viaFloor]), mb(wall[viaSocks]), ratio,
			wall[direct].Seconds()/wall[viaFloor].Seconds(), wall[viaFloor].Seconds()/wall[viaSocks].Seconds(), met,
			per(sum(cpu[direct])), per(cpu[direct][0]), per(cpu[direct][3]),
			per(sum(cpu[viaFloor])), per(cpu[viaFloor][0]), per(cpu[viaFloor][1]), per(cpu[viaFloor][2]), per(cpu[viaFloor][3]),
			per(sum(cpu[viaSocks])), per(cpu[viaSocks][0]), per(cpu[viaSocks][1]), per(cpu[viaSocks][2]), per(cpu[viaSocks][3]), per(cpu[viaSocks][4]))
	}
	fmt.Printf("load average at the end %s\n", loadavg())
	return b.shape("-")
}

// shape sets the link condition c on both veth ends.
func (b *bench) shape(c string) error {
	for _, e := range [][2]string{{b.near, b.vnear}, {b.far, b.vfar}} {
		_ = sh("ip", "netns", "exec", e[0], "tc", "qdisc", "del", "dev", e[1], "root")
		if c == "-" {
			continue
		}
		rate, delay, _ := strings.Cut(c, ":")
		bps, err := parseRate(rate)
		if err != nil {
			return err
		}
		args := []string{"ip", "netns", "exec", e[0], "tc", "qdisc", "add", "dev", e[1], "root"}
		if delay == "" {
			// A token bucket: a burst of 4 ms at the rate (at least 128 KiB,
			// above the veth's largest GSO packet), 50 ms of queue.
			burst := max(bps/8/250, 128<<10)
			args = append(args, "tbf", "rate", rate, "burst", strconv.FormatInt(burst, 10), "latency", "50ms")
		} else { // needs the kernel's sch_netem
			args = append(args, "netem", "rate", rate, "delay", delay, "limit", "100000")
		}
		if err := sh(args...); err != nil {
			return err
		}
	}
	return nil
}

// parseRate parses a tc rate with a kbit, mbit or gbit suffix into bits
// per second.
func parseRate(s string) (int64, error) {
	for _, u := range []struct {
		suf string
		m   int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil && n > 0 {
				return n * u.m, nil
			}
		}
	}
	return 0, fmt.Errorf("rate %q: want N followed by kbit, mbit or gbit", s)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpus is each process's CPU time (user + system) from /proc/PID/stat.
func cpus(ps []*proc) []time.Duration {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[i] = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return out
}

// result is what `socksbench get` prints.
type result struct {
	Bytes int64
	Wall  time.Duration
	CPU   time.Duration
}

// get runs one download in the near namespace, through the SOCKS5 proxy
// at via unless via is empty.
func (b *bench) get(ctx context.Context, via string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", b.near, self, "get", "-url", b.url, "-socks", via).Output()
	var r result
	if err == nil {
		err = json.Unmarshal(out, &r)
	}
	if err == nil && r.Bytes != b.size {
		err = fmt.Errorf("got %d of %d bytes", r.Bytes, b.size)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return r, err
}

// forward copies each TCP connection to -listen to -to, both ways.
func forward(args []string) {
	fs := flag.NewFlagSet("forward", flag.ExitOnError)
	listen := fs.String("listen", "", "address")
	to := fs.String("to", "", "address")
	_ = fs.Parse(args)
	serveEach(*listen, "forwarding", func(c net.Conn) {
		t, err := net.Dial("tcp", *to)
		if err != nil {
			return
		}
		defer t.Close()
		go func() { _, _ = io.Copy(t, c); _ = t.(*net.TCPConn).CloseWrite() }()
		_, _ = io.Copy(c, t)
	})
}

// serveEach listens on addr, prints ready once it does, and runs handle on
// each connection in a goroutine of its own, closing the connection after,
// until the process is killed.
func serveEach(addr, ready string, handle func(net.Conn)) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ready)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

// serveFile serves -size random bytes at /file until killed.
func serveFile(args []string) {
	fs := flag.NewFlagSet("serve-file", flag.ExitOnError)
	listen := fs.String("listen", "", "address")
	size := fs.Int64("size", 0, "bytes")
	_ = fs.Parse(args)
	body := make([]byte, *size)
	_, _ = rand.Read(body)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("serving")
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})}
	log.Fatal(srv.Serve(ln))
}

// get downloads -url (through the SOCKS5 proxy -socks, if set) and prints
// a result as JSON.
func get(args []string) {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	url := fs.String("url", "", "URL")
	via := fs.String("socks", "", "SOCKS5 proxy host:port")
	_ = fs.Parse(args)
	tr := &http.Transport{DisableKeepAlives: true}
	if *via != "" {
		d, err := proxy.SOCKS5("tcp", *via, nil, proxy.Direct)
		if err != nil {
			log.Fatal(err)
		}
		tr.DialContext = d.(proxy.ContextDialer).DialContext
	}
	cpu0 := cpuTime()
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Minute}).Get(*url)
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, bufio.NewReaderSize(resp.Body, 256<<10))
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	r := result{Bytes: n, Wall: time.Since(start), CPU: cpuTime() - cpu0}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mult, nil
}
