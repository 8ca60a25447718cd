package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// scaleResult is one round of -scale: a number of relay processes on one
// store, the load spread over them.
type scaleResult struct {
	name          string
	procs         int
	ingestEvents  int
	ingestSeconds float64
	okP50, okP99  time.Duration
	reqs          int
	reqP50        time.Duration
	reqP99        time.Duration
}

// runScale measures sovmesh on SQLite (one process, the embedded default)
// and 1, 2 and 3 sovmesh processes on one PostgreSQL database, in that
// order in one run: ingest over o.conns connections, then o.reqs REQs over
// 8 connections, spread over the processes in turn. Each PostgreSQL round
// gets a fresh database.
func runScale(ctx context.Context, o options) error {
	if o.database == "" {
		return errors.New("-scale needs -database, the postgres:// URL of a role that may create databases")
	}
	fmt.Printf("relayload -scale: %d events over %d connections (window %d), then %d REQs over 8 connections\n",
		o.events, o.conns, o.window, o.reqs)
	var rs []scaleResult
	res, err := scaleRound(ctx, o, "sqlite", "", 1)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	rs = append(rs, res)
	for procs := 1; procs <= 3; procs++ {
		name := fmt.Sprintf("relayload_scale_%d", procs)
		dbURL, drop, err := freshDatabase(ctx, o.database, name)
		if err != nil {
			return err
		}
		res, err := scaleRound(ctx, o, "postgres", dbURL, procs)
		drop()
		if err != nil {
			return fmt.Errorf("postgres x%d: %w", procs, err)
		}
		rs = append(rs, res)
	}
	fmt.Printf("\n| store | relay processes | ingest events/s | OK p50 | OK p99 | REQ p50 | REQ p99 |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %s |\n", r.name, r.procs, float64(r.ingestEvents)/r.ingestSeconds,
			r.okP50.Round(10e3), r.okP99.Round(10e3), r.reqP50.Round(10e3), r.reqP99.Round(10e3))
	}
	return nil
}

// scaleRound starts procs sovmesh relays (on database, or each on SQLite
// when it is "") and measures them together.
func scaleRound(ctx context.Context, o options, name, database string, procs int) (scaleResult, error) {
	res := scaleResult{name: name, procs: procs}
	fmt.Printf("\n== %s, %d process(es)\n", name, procs)
	var urls []string
	for range procs {
		dir, err := os.MkdirTemp("", "relayload-scale-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		var args []string
		if database != "" {
			args = append(args, "-database", database)
		}
		c, err := startChild(ctx, "sovmesh", dir, args...)
		if err != nil {
			return res, err
		}
		defer c.stop(10 * time.Second)
		urls = append(urls, "ws://"+c.addr)
	}
	gen := newGenerator(1, time.Minute)
	evts := gen.signAll(0, o.events)
	n, secs, lat, err := ingest(ctx, urls, evts, o.conns, o.window, o.ingestMax)
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	res.ingestEvents, res.ingestSeconds = n, secs
	res.okP50, res.okP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	fmt.Printf("ingest: %d events in %.1fs = %.0f events/s, OK p50 %s p99 %s\n", n, secs, float64(n)/secs, res.okP50, res.okP99)
	qlat, err := queries(ctx, urls, gen, evts[:n], o.reqs, 8)
	if err != nil {
		return res, fmt.Errorf("queries: %w", err)
	}
	res.reqs = len(qlat)
	res.reqP50, res.reqP99 = percentile(qlat, 0.50), percentile(qlat, 0.99)
	fmt.Printf("REQ at %d stored: %d queries, p50 %s p99 %s\n", n, res.reqs, res.reqP50, res.reqP99)
	return res, nil
}

// freshDatabase creates the database name on the server of admin (dropping
// a leftover of an earlier run first) and returns its URL and a function
// that drops it.
func freshDatabase(ctx context.Context, admin, name string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("-database: want a postgres:// URL")
	}
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("connect to -database: %w", err)
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := exec("DROP DATABASE IF EXISTS " + ident); err != nil {
		return "", nil, err
	}
	if err := exec("CREATE DATABASE " + ident); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() {
		if err := exec("DROP DATABASE IF EXISTS " + ident + " WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "relayload: drop database %s: %v\n", name, strings.TrimSpace(err.Error()))
		}
	}
	return u.String(), drop, nil
}
