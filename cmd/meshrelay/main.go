// Command meshrelay runs the sovmesh relay.
//
// With no configuration it listens on 127.0.0.1:7447 and keeps its data in
// ./sovmesh-data. Every setting is a flag, a SOVMESH_* environment variable
// or a line of the file named by --config; `meshrelay -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return runExport(ctx, args[1:], getenv, stderr)
		case "import":
			return runImport(ctx, args[1:], getenv, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 2
	}
	log, err := cfg.log.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 2
	}
	if soft, hard, err := relay.RaiseOpenFileLimit(); err != nil {
		log.Warn("open file limit not raised", "soft", soft, "hard", hard, "err", err)
	} else {
		log.Info("open file limit", "soft", soft, "hard", hard)
	}
	market, err := marketplace.New(cfg.market, log)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 2
	}
	// One relay per data directory: a second would share the wallet.
	lock, err := datadir.Acquire(cfg.relay.DataDir, "meshrelay")
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	defer lock.Release()
	cash, feeOpts, err := openMoney(ctx, cfg.pay, cfg.relay.DataDir, cfg.relay.Database, log)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	defer func() {
		if err := cash.close(context.Background()); err != nil {
			log.Warn("closing the wallet", "err", err)
		}
	}()
	// The fee policy goes last: an event refused for any other reason is
	// never charged.
	opts := append(market.Options(), feeOpts...)
	store, err := relay.OpenStore(cfg.relay, log)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	r, err := relay.New(cfg.relay, store, append(opts, relay.WithLogger(log))...)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	mctx, stopMarket := context.WithCancel(context.Background())
	defer func() {
		stopMarket()
		market.Wait()
	}()
	if err := market.Start(mctx, r); err != nil {
		_ = r.Shutdown(context.Background())
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	if err := servePages(cfg.web, r, market, cash, log); err != nil {
		_ = r.Shutdown(context.Background())
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- r.ListenAndServe() }()
	select {
	case err := <-served:
		// Could not listen, or the server failed: close the store cleanly.
		_ = r.Shutdown(context.Background())
		fmt.Fprintf(stderr, "meshrelay: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "signal", context.Cause(ctx).Error())
	if err := r.Shutdown(context.Background()); err != nil {
		log.Warn("shutdown incomplete", "err", err)
		return 1
	}
	<-served
	return 0
}

type logOptions struct {
	level  string
	format string
}

func (o logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("log-level %q: want debug, info, warn or error", o.level)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, fmt.Errorf("log-format %q: want text or json", o.format)
	}
}

// servePages registers the offer browser and the operator dashboard on the
// relay's mux. The operator defaults to the relay's own key.
func servePages(wcfg web.Config, r *relay.Relay, market *marketplace.Marketplace, cash *money, log *slog.Logger) error {
	st, ok := r.Store().(web.Store)
	if !ok {
		return fmt.Errorf("web pages: event store %T cannot count events by kind", r.Store())
	}
	if wcfg.Operator == "" {
		wcfg.Operator = r.PublicKey()
	}
	pages, err := web.New(wcfg, st,
		web.WithLogger(log),
		web.WithStats(r),
		web.WithTrust(market.Trust),
		web.WithEarnings(cash.fees),
		web.WithWallet(cash.wallet),
		web.WithRelayInfo(func() web.RelayInfo { return web.RelayInfo{Name: r.Info().Name, Pubkey: r.PublicKey()} }),
		web.WithListenURLs(func() []string { return r.ListenURLs("http") }),
	)
	if err != nil {
		return fmt.Errorf("web pages: %w", err)
	}
	pages.Register(r.Mux())
	return nil
}
