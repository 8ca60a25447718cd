package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/store"
)

// layersConfig is the -layers mode's configuration.
type layersConfig struct {
	size      int64
	runs      int
	providers []int  // provider counts to measure Put/Get with
	dir       string // parent of every store and agentd data directory
	profile   string // CPU profile path prefix ("" = none)
	trace     string // execution trace path prefix ("" = none)
	gets      int    // times each get layer is measured per put
}

// runLayers measures, in one run, the same amount of data through each
// layer a stored file crosses: a raw TCP copy on loopback; a bare libp2p
// stream (TCP and QUIC, as agentd listens on both); transport Put and Get
// with no payment; and the whole agentd path with payment (a real relay
// and the dev mint in this process, providers and the buyer as agentd
// nodes: discovery, bid and match, Cashu steps redeemed at the mint,
// durable chunk writes, receipts). Every store lives under dir.
func runLayers(ctx context.Context, lc layersConfig) {
	fmt.Printf("load average at start: %s\n", loadAvg())
	tcp := []transport.Option{transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"), transport.WithTimeouts(time.Minute, time.Minute, time.Minute)}
	quic := []transport.Option{transport.WithListenAddrs("/ip4/127.0.0.1/udp/0/quic-v1"), transport.WithTimeouts(time.Minute, time.Minute, time.Minute)}
	maxN := 0
	for _, n := range lc.providers {
		maxN = max(maxN, n)
	}
	buyerHost := newHost(ctx, tcp)
	defer buyerHost.Close()
	var provHosts []*transport.Host
	var provStores []*switchStore
	for range maxN {
		h := newHost(ctx, tcp)
		defer h.Close()
		if _, err := buyerHost.Connect(ctx, h.NostrPubkey(), tcpAddrs(h.Addrs())); err != nil {
			log.Fatal(err)
		}
		srv := &switchStore{}
		h.ServeStorage(srv, nil)
		provHosts, provStores = append(provHosts, h), append(provStores, srv)
	}
	qa, qb := newHost(ctx, quic), newHost(ctx, quic)
	defer qa.Close()
	defer qb.Close()
	if _, err := qa.Connect(ctx, qb.NostrPubkey(), qb.Addrs()); err != nil {
		log.Fatal(err)
	}
	an := startAgentNet(ctx, lc.dir, maxN)
	defer an.close()

	if lc.profile != "" {
		runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
		runtime.SetMutexProfileFraction(10)
	}
	var res results
	for run := range lc.runs {
		fmt.Printf("\nrun %d/%d (load %s)\n", run+1, lc.runs, loadAvg())
		prof := func(layer string) func() {
			if lc.trace != "" && run == 0 {
				f, err := os.Create(lc.trace + "." + layer)
				if err != nil {
					log.Fatal(err)
				}
				if err := trace.Start(f); err != nil {
					log.Fatal(err)
				}
				return func() { trace.Stop(); _ = f.Close() }
			}
			if lc.profile == "" || run > 0 {
				return func() {}
			}
			f, err := os.Create(lc.profile + "." + layer)
			if err != nil {
				log.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatal(err)
			}
			// Block and mutex profiles are cumulative: a snapshot before
			// the layer (.0) and after it, for pprof -diff_base.
			snap := func(suffix string) {
				for _, kind := range []string{"block", "mutex"} {
					f, err := os.Create(lc.profile + "." + layer + "." + kind + suffix)
					if err != nil {
						log.Fatal(err)
					}
					if err := pprof.Lookup(kind).WriteTo(f, 0); err != nil {
						log.Fatal(err)
					}
					_ = f.Close()
				}
			}
			snap(".0")
			return func() { pprof.StopCPUProfile(); _ = f.Close(); snap("") }
		}
		layer := func(name, profName string, f func() error) sample {
			return measure(name, lc.size, func() error { defer prof(profName)(); return f() })
		}
		res.add("raw TCP copy", layer("raw TCP copy", "tcp", func() error { return rawTCP(lc.size) }))
		bare := layer("bare libp2p stream (TCP, TLS+yamux)", "bare", func() error { return bareStream(ctx, buyerHost, provHosts[0], lc.size) })
		res.add("bare libp2p stream, TCP", bare)
		q := layer("bare libp2p stream (QUIC)", "quic", func() error { return bareStream(ctx, qa, qb, lc.size) })
		rel := func(s *sample) { s.ratio, s.cpuRatio = s.mbs/bare.mbs, bare.cpu/s.cpu }
		rel(&q)
		res.add("bare libp2p stream, QUIC", q)
		// With -gets N > 1 each get layer is measured N times; the second
		// and later each with a bare stream of its own, measured right
		// after it, as the ratio's base.
		onGet := func(name string) func(i int, s sample) {
			return func(i int, s sample) {
				if i == 0 {
					rel(&s)
				} else {
					b := measure("bare libp2p stream (TCP, TLS+yamux)", lc.size, func() error { return bareStream(ctx, buyerHost, provHosts[0], lc.size) })
					res.add("bare libp2p stream, TCP", b)
					s.ratio, s.cpuRatio = s.mbs/b.mbs, b.cpu/s.cpu
				}
				res.add(name, s)
			}
		}
		for _, n := range lc.providers {
			res.touch(fmt.Sprintf("transport Put, %d provider(s)", n))
			put := transportPutGet(ctx, lc, buyerHost, provHosts[:n], provStores[:n], prof, onGet(fmt.Sprintf("transport Get, %d provider(s)", n)))
			rel(&put)
			res.add(fmt.Sprintf("transport Put, %d provider(s)", n), put)
		}
		for _, n := range lc.providers {
			res.touch(fmt.Sprintf("agentd put (paid), %d provider(s)", n))
			put := an.putGet(ctx, lc, n, prof, onGet(fmt.Sprintf("agentd get (paid), %d provider(s)", n)))
			rel(&put)
			res.add(fmt.Sprintf("agentd put (paid), %d provider(s)", n), put)
		}
	}
	fmt.Printf("\nload average at end: %s\n", loadAvg())
	fmt.Printf("\nratio = layer MB/s / bare libp2p stream (TCP) MB/s of the same run\n")
	res.print(lc.runs)
}

func newHost(ctx context.Context, opts []transport.Option) *transport.Host {
	h, err := transport.New(ctx, opts...)
	if err != nil {
		log.Fatal(err)
	}
	return h
}

// transportPutGet puts size bytes on the providers (each with a fresh store
// under lc.dir) with transport.Host.Put, no payment, then gets them back.
func transportPutGet(ctx context.Context, lc layersConfig, a *transport.Host, provs []*transport.Host, srvs []*switchStore,
	prof func(string) func(), onGet func(int, sample)) (put sample) {
	var peers []peer.ID
	for i, h := range provs {
		dir, err := os.MkdirTemp(lc.dir, "transportbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		st, err := store.Open(dir, 0)
		if err != nil {
			log.Fatal(err)
		}
		srvs[i].set(st)
		defer srvs[i].set(nil)
		peers = append(peers, h.ID())
	}
	n := len(provs)
	var ref transport.Ref
	put = measure(fmt.Sprintf("transport Put, %d provider(s)", n), lc.size, func() error {
		defer prof(fmt.Sprintf("transport-put-%d", n))()
		r, _, err := a.Put(ctx, &patternReader{left: lc.size}, peers, transport.PutOptions{})
		ref = r
		return err
	})
	for i := range max(lc.gets, 1) {
		onGet(i, measure(fmt.Sprintf("transport Get, %d provider(s)", n), lc.size, func() error {
			if i == 0 {
				defer prof(fmt.Sprintf("transport-get-%d", n))()
			}
			return getCounted(lc.size, func(w io.Writer) error { return a.Get(ctx, ref, w, transport.GetOptions{}) })
		}))
	}
	return put
}

func getCounted(size int64, get func(io.Writer) error) error {
	cw := &countWriter{}
	if err := get(cw); err != nil {
		return err
	}
	if cw.n != size {
		return fmt.Errorf("got %d bytes, want %d", cw.n, size)
	}
	return nil
}

// agentNet is a relay, the dev mint, storage providers and a funded buyer
// node, all in this process.
type agentNet struct {
	dir    string
	relay  *relay.Relay
	served chan error
	mint   *devmint.Mint
	nodes  []*agentd.Node
	stop   context.CancelFunc
	done   []chan error
	buyer  *agentd.Node
}

func startAgentNet(ctx context.Context, parent string, providers int) *agentNet {
	dir, err := os.MkdirTemp(parent, "transportbench-agentd-")
	if err != nil {
		log.Fatal(err)
	}
	an := &agentNet{dir: dir, served: make(chan error, 1)}
	rc := relay.DefaultConfig()
	rc.DataDir = filepath.Join(dir, "relay")
	rc.Listen = "127.0.0.1:0"
	rc.IPEventRate, rc.PubkeyEventRate, rc.IPReqRate, rc.IPNegRate, rc.IPConnPerMinute, rc.IPMaxConnections = 0, 0, 0, 0, 0, 0
	st, err := relay.OpenStore(rc, nil)
	if err != nil {
		log.Fatal(err)
	}
	if an.relay, err = relay.New(rc, st); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", rc.Listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() { an.served <- an.relay.Serve(ln) }()
	relayURL := "ws://" + ln.Addr().String()
	if an.mint, err = devmint.Start(ctx, filepath.Join(dir, "mint"), devmint.Options{}); err != nil {
		log.Fatal(err)
	}
	cfg := func(name string) agentd.Config {
		c := agentd.DefaultConfig()
		c.DataDir = filepath.Join(dir, name)
		c.Relays = []string{relayURL}
		c.Mints = []string{an.mint.URL()}
		c.ListenAddrs = transport.LoopbackListenAddrs
		c.KeyLogN = 4
		c.BudgetPerDay, c.BudgetPerCounterparty = 0, 0
		return c
	}
	pctx, stop := context.WithCancel(ctx)
	an.stop = stop
	var provs []*provider.Provider
	for i := range providers {
		nd, err := agentd.Open(ctx, cfg(fmt.Sprintf("provider%d", i)))
		if err != nil {
			log.Fatal(err)
		}
		// The CLI's default price (msat per GiB-day); retrieval at one day.
		p, err := provider.New(nd, provider.Config{Storage: &provider.StorageConfig{Quota: 64 << 30, PriceMsat: 2_000_000 + uint64(i)*1000}})
		if err != nil {
			log.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(pctx) }()
		an.nodes, an.done, provs = append(an.nodes, nd), append(an.done, done), append(provs, p)
	}
	for i, p := range provs {
		for range 500 {
			if _, ok := p.Offer(nips.Storage); ok {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, ok := p.Offer(nips.Storage); !ok {
			log.Fatalf("provider %d published no offer", i)
		}
	}
	if an.buyer, err = agentd.Open(ctx, cfg("buyer")); err != nil {
		log.Fatal(err)
	}
	if err := an.buyer.Wallet.Fund(ctx, 10_000_000); err != nil {
		log.Fatal(err)
	}
	return an
}

func (an *agentNet) close() {
	an.stop()
	for _, d := range an.done {
		<-d
	}
	for _, n := range an.nodes {
		_ = n.Close()
	}
	_ = an.buyer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = an.mint.Shutdown(ctx)
	_ = an.relay.Shutdown(ctx)
	<-an.served
	_ = os.RemoveAll(an.dir)
}

// putGet stores size bytes on n providers with agentd's buyer (paid in
// steps, for one day), reads them back, then deletes the file.
func (an *agentNet) putGet(ctx context.Context, lc layersConfig, n int, prof func(string) func(), onGet func(int, sample)) (put sample) {
	b, err := buyer.New(ctx, an.buyer, buyer.Config{Replicas: n, MinProviders: n, StorageDuration: 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	var root string
	put = measure(fmt.Sprintf("agentd put (paid), %d provider(s)", n), lc.size, func() error {
		defer prof(fmt.Sprintf("agentd-put-%d", n))()
		e, err := b.Put(ctx, &patternSeeker{size: lc.size, patternReader: patternReader{left: lc.size}}, "bench", lc.size, nil)
		root = e.Root
		return err
	})
	for i := range max(lc.gets, 1) {
		onGet(i, measure(fmt.Sprintf("agentd get (paid), %d provider(s)", n), lc.size, func() error {
			if i == 0 {
				defer prof(fmt.Sprintf("agentd-get-%d", n))()
			}
			return getCounted(lc.size, func(w io.Writer) error { _, err := b.Get(ctx, root, w, nil); return err })
		}))
	}
	if err := b.Delete(ctx, root); err != nil {
		log.Printf("delete %s: %v", root, err)
	}
	return put
}

// patternSeeker is a patternReader that rewinds (Buyer.Put retries from
// the start).
type patternSeeker struct {
	patternReader
	size int64
}

func (p *patternSeeker) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekStart {
		return 0, fmt.Errorf("patternSeeker: seek only to the start")
	}
	p.patternReader = patternReader{left: p.size}
	return 0, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err != nil || n < 1 || n > 8 {
			return nil, fmt.Errorf("bad provider count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
