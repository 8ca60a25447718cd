package buyer

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
)

// BenchmarkSOCKSDownload downloads the same file over HTTP, side by side in
// each iteration: directly from the server (direct); through a bare libp2p
// stream between the buyer's and the provider's hosts, on the connection
// the session uses, copied to the server by the provider (libp2p: the
// floor of any carried connection); and through agentd's SOCKS5 proxy on a
// bought bandwidth session, paid step by step at the dev mint (socks5). It
// reports each one's throughput and the ratios socks5/direct and
// socks5/libp2p. The file is served from memory on 127.0.0.1; the provider,
// buyer, relay and mint run in this process.
//
//	go test -run '^$' -bench SOCKSDownload -benchtime 5x ./agentd/buyer/
//
// -socks.size sets the file's size (default 100 MiB).
func BenchmarkSOCKSDownload(b *testing.B) {
	size := socksBenchSize
	body := make([]byte, size)
	_, _ = rand.Read(body)
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = web.Serve(ln) }()
	defer web.Close()
	fileURL := "http://" + ln.Addr().String() + "/file"

	ctx := b.Context()
	net0 := agentdtest.Start(b)
	// 1 sat per MiB carried, both ways.
	prov := startProvider(b, net0, "bw", provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}})
	bn := net0.Node(b, "buyer", 100_000)
	buy, err := New(ctx, bn, Config{BandwidthMiB: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer buy.Close(ctx)
	srv, addr, err := buy.ServeSOCKS("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	// The bare stream: the provider copies it to the target, both ways.
	const bareProto = "/sovmesh-bench/tcp/1"
	prov.Node.Host.LibP2P().SetStreamHandler(bareProto, func(s network.Stream) {
		defer s.Close()
		t, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			_ = s.Reset()
			return
		}
		defer t.Close()
		go func() { _, _ = io.Copy(t, s) }()
		_, _ = io.Copy(s, t)
	})
	bare := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			s, err := bn.Host.LibP2P().NewStream(ctx, prov.Node.Host.ID(), bareProto)
			if err != nil {
				return nil, err
			}
			return streamConn{s}, nil
		}}}
	direct := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	socks, err := proxy.SOCKS5("tcp", addr.String(), nil, proxy.Direct)
	if err != nil {
		b.Fatal(err)
	}
	viaSOCKS := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: socks.(proxy.ContextDialer).DialContext}}

	// get downloads the file with c and returns the wall time and the CPU
	// time (the whole process: server, provider, buyer and client).
	get := func(c *http.Client) (time.Duration, time.Duration) {
		b.Helper()
		cpu0 := cpuTime()
		start := time.Now()
		resp, err := c.Get(fileURL)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, bufio.NewReaderSize(resp.Body, 256<<10))
		resp.Body.Close()
		if err != nil || n != int64(size) {
			b.Fatalf("got %d of %d bytes: %v", n, size, err)
		}
		return time.Since(start), cpuTime() - cpu0
	}
	// The first connection buys the session: not part of the figures.
	get(viaSOCKS)

	var dDirect, dBare, dSOCKS, cDirect, cBare, cSOCKS time.Duration
	add := func(d, c *time.Duration, dd, cc time.Duration) { *d += dd; *c += cc }
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		dd, cc := get(direct)
		add(&dDirect, &cDirect, dd, cc)
		dd, cc = get(bare)
		add(&dBare, &cBare, dd, cc)
		dd, cc = get(viaSOCKS)
		add(&dSOCKS, &cSOCKS, dd, cc)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(dDirect), "direct-MB/s")
	b.ReportMetric(mbps(dBare), "libp2p-MB/s")
	b.ReportMetric(mbps(dSOCKS), "socks5-MB/s")
	gib := float64(size) * float64(b.N) / (1 << 30)
	b.ReportMetric(cDirect.Seconds()/gib, "direct-cpu-s/GiB")
	b.ReportMetric(cBare.Seconds()/gib, "libp2p-cpu-s/GiB")
	b.ReportMetric(cSOCKS.Seconds()/gib, "socks5-cpu-s/GiB")
	b.ReportMetric(dDirect.Seconds()/dSOCKS.Seconds(), "socks5/direct")
	b.ReportMetric(dBare.Seconds()/dSOCKS.Seconds(), "socks5/libp2p")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// streamConn is a libp2p stream as a net.Conn.
type streamConn struct{ network.Stream }

func (c streamConn) LocalAddr() net.Addr  { return bwAddr("libp2p") }
func (c streamConn) RemoteAddr() net.Addr { return bwAddr("libp2p") }

type bwAddr string

func (a bwAddr) Network() string { return "libp2p" }
func (a bwAddr) String() string  { return string(a) }

// socksBenchSize is BenchmarkSOCKSDownload's file size.
var socksBenchSize = 100 << 20
