package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/dashboard"
	"github.com/sovmesh/sovmesh/agentd/provider"
)

// cmdProvide runs the provider until SIGTERM.
func cmdProvide(ctx context.Context, e *env) error {
	pc, err := e.cfg.providerConfig()
	if err != nil {
		return usageError(err.Error())
	}
	n, err := openNode(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	stopWatch := watchAuthorizations(ctx, n)
	defer stopWatch()
	stopTopUp, err := startTopUp(ctx, e, n)
	if err != nil {
		return err
	}
	defer stopTopUp()
	defer startMirror(ctx, n)()
	p, err := provider.New(n, pc)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "agentd: providing as %s\n", n.Key.Pubkey)
	if e.cfg.dashboard != "" {
		stop, url, err := dashboard.New(p, n.DB, n.Log).Start(ctx, e.cfg.dashboard)
		if err != nil {
			// The market matters more than the page: keep providing.
			fmt.Fprintf(e.stderr, "agentd: no dashboard: %v (set --dashboard to another address, or empty for none)\n", err)
		} else {
			defer stop()
			fmt.Fprintf(e.stderr, "agentd: dashboard on %s\n", url)
			if host, _, _ := net.SplitHostPort(e.cfg.dashboard); !isLoopback(host) {
				fmt.Fprintf(e.stderr, "agentd: the dashboard has no login: anyone who can reach %s can read your earnings\n", e.cfg.dashboard)
			}
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	select {
	case <-p.Ready():
		fmt.Fprintf(e.stderr, "agentd: provider ready: offers published, answering bids\n")
	case err := <-errc:
		return err
	}
	return <-errc
}

// cmdServe runs the buyer's local endpoints until SIGTERM.
func cmdServe(ctx context.Context, e *env) error {
	if e.cfg.openaiAddr == "" && e.cfg.socksAddr == "" && e.cfg.autoRepair == 0 {
		return usageError("serve: set --openai, --socks and/or --auto-repair")
	}
	_, b, stop, err := startBuyer(ctx, e)
	if err != nil {
		return err
	}
	defer stop()
	if e.cfg.autoRepair > 0 {
		stop := autoRepair(ctx, b, e.cfg.autoRepair)
		defer stop()
		fmt.Fprintf(e.stderr, "agentd: repairing our files every %s\n", e.cfg.autoRepair)
	}
	if e.cfg.openaiAddr != "" {
		ep, err := b.ServeOpenAI(e.cfg.openaiAddr, e.apiKey)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = ep.Shutdown(sctx)
		}()
		fmt.Fprintf(e.stderr, "agentd: OpenAI-compatible endpoint on %s (OPENAI_BASE_URL=%s)\n", ep.Addr(), ep.URL())
	}
	if e.cfg.socksAddr != "" {
		s, addr, err := b.ServeSOCKS(e.cfg.socksAddr)
		if err != nil {
			return err
		}
		defer s.Shutdown()
		fmt.Fprintf(e.stderr, "agentd: SOCKS5 proxy on %s\n", addr)
	}
	<-ctx.Done()
	return nil
}

// watchAuthorizations applies the budget owners' authorizations and
// revocations while the daemon runs (agentd.Node.WatchAuthorizations) in a
// goroutine that ends with ctx; the returned stop ends it early and waits
// for it. Call stop before closing n.
func watchAuthorizations(ctx context.Context, n *agentd.Node) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.WatchAuthorizations(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// repairPerFile bounds one file's automatic repair.
const repairPerFile = 10 * time.Minute

// autoRepair runs the buyer's RepairLoop every interval in a goroutine that
// ends with ctx; the returned stop ends it early and waits for it.
func autoRepair(ctx context.Context, b *buyer.Buyer, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	t := time.NewTicker(every)
	var wg sync.WaitGroup
	wg.Go(func() { b.RepairLoop(ctx, t.C, repairPerFile) })
	return func() {
		cancel()
		wg.Wait()
		t.Stop()
	}
}

// isLoopback reports whether host (of a listen address) is a loopback name
// or address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
