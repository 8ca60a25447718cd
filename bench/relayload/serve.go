package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/fiatjaf/eventstore/badger"
	"github.com/fiatjaf/eventstore/sqlite3"
	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
)

// serve runs one relay until ctx ends (sovmesh on the PostgreSQL database
// when database is not ""). It prints "ADDR host:port" on stdout
// once listening, and answers POST /bench/prefill?n=N by saving N generated
// events straight into the store (so the REQ phase does not wait on a slow
// ingest path). With profile set, POST /bench/profile/start and
// /bench/profile/stop write a CPU profile of what happens between them to
// that file, and its mutex and block profiles to that name plus ".mutex"
// and ".block".
func serve(ctx context.Context, target, dir, database, profile string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var (
		handler http.Handler
		store   eventstore.Store
		stop    func()
	)
	switch target {
	case "sovmesh":
		cfg := relay.DefaultConfig()
		cfg.DataDir = dir
		cfg.Database = database
		cfg.IPEventRate, cfg.PubkeyEventRate, cfg.IPReqRate, cfg.IPReadRate, cfg.IPConnPerMinute = 0, 0, 0, 0, 0
		cfg.IPMaxConnections = 0
		cfg.MaxSubscriptions = 64
		r, err := newRelay(cfg)
		if err != nil {
			return err
		}
		store, handler = r.Store(), r.Handler()
		stop = func() { _ = r.Shutdown(context.Background()) }
	case "sovmesh-defaults": // the relay as meshrelay runs it, limits included
		cfg := relay.DefaultConfig()
		cfg.DataDir = dir
		r, err := newRelay(cfg)
		if err != nil {
			return err
		}
		store, handler = r.Store(), r.Handler()
		stop = func() { _ = r.Shutdown(context.Background()) }
	case "khatru-sqlite3":
		db := &sqlite3.SQLite3Backend{DatabaseURL: filepath.Join(dir, "events.db")}
		if err := db.Init(); err != nil {
			return err
		}
		store, handler, stop = db, stockKhatru(db), db.Close
	case "khatru-badger":
		db := &badger.BadgerBackend{Path: filepath.Join(dir, "badger")}
		if err := db.Init(); err != nil {
			return err
		}
		store, handler, stop = db, stockKhatru(db), db.Close
	default:
		return fmt.Errorf("unknown target %q", target)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bench/prefill", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "n", http.StatusBadRequest)
			return
		}
		budget, err := time.ParseDuration(r.URL.Query().Get("max"))
		if err != nil {
			http.Error(w, "max", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		start := time.Now()
		saved, err := prefill(ctx, store, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d %s\n", saved, time.Since(start).Round(time.Millisecond))
	})
	if profile != "" {
		var (
			pmu sync.Mutex
			pf  *os.File
		)
		var ppath string
		mux.HandleFunc("POST /bench/profile/start", func(w http.ResponseWriter, r *http.Request) {
			pmu.Lock()
			defer pmu.Unlock()
			if pf != nil {
				http.Error(w, "a profile is running", http.StatusConflict)
				return
			}
			// ?suffix=S writes this profile to the path plus S.
			ppath = profile + r.URL.Query().Get("suffix")
			f, err := os.Create(ppath)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			pf = f
			// Contention over the same span: every contended lock, and
			// blocking of 100 µs or more (sampled by duration).
			runtime.SetMutexProfileFraction(1)
			runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		})
		mux.HandleFunc("POST /bench/profile/stop", func(w http.ResponseWriter, _ *http.Request) {
			pmu.Lock()
			defer pmu.Unlock()
			if pf == nil {
				http.Error(w, "no profile running", http.StatusConflict)
				return
			}
			pprof.StopCPUProfile()
			pf.Close()
			pf = nil
			for _, name := range []string{"mutex", "block"} {
				if err := writeProfile(name, ppath+"."+name); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			runtime.SetMutexProfileFraction(0)
			runtime.SetBlockProfileRate(0)
		})
	}
	mux.HandleFunc("GET /bench/mem", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "%d\n", ms.HeapInuse+ms.StackInuse)
	})
	mux.Handle("/", handler)
	srv := &http.Server{Handler: mux}
	fmt.Printf("ADDR %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	stop()
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// writeProfile writes the runtime profile name to path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stockKhatru is khatru as its README sets it up, with nothing of ours.
func stockKhatru(db eventstore.Store) http.Handler {
	rl := khatru.NewRelay()
	rl.StoreEvent = append(rl.StoreEvent, db.SaveEvent)
	rl.QueryEvents = append(rl.QueryEvents, db.QueryEvents)
	rl.DeleteEvent = append(rl.DeleteEvent, db.DeleteEvent)
	rl.ReplaceEvent = append(rl.ReplaceEvent, db.ReplaceEvent)
	if c, ok := db.(eventstore.Counter); ok {
		rl.CountEvents = append(rl.CountEvents, func(ctx context.Context, filters nostr.Filters) (int64, error) {
			if len(filters) != 1 {
				return 0, errors.New("unsupported: this baseline counts one filter")
			}
			return c.CountEvents(ctx, filters[0])
		})
	}
	rl.Log.SetOutput(io.Discard)
	return rl
}

// prefill saves up to n generated, signed events with 64 writers until ctx
// ends, and returns how many it saved.
func prefill(ctx context.Context, store eventstore.Store, n int) (int, error) {
	evts := make(chan *nostr.Event, 256)
	go func() {
		defer close(evts)
		g := newGenerator(7, 30*24*time.Hour) // history: a month of events
		for i := range n {
			select {
			case evts <- g.event(i):
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	saved := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for evt := range evts {
				err := store.SaveEvent(context.Background(), evt)
				// eventstore's sqlite3 backend sets no busy timeout: retry
				// its "database is locked" until the budget runs out.
				for err != nil && strings.Contains(err.Error(), "locked") && ctx.Err() == nil {
					time.Sleep(2 * time.Millisecond)
					err = store.SaveEvent(context.Background(), evt)
				}
				mu.Lock()
				switch {
				case err == nil:
					saved++
				case err != eventstore.ErrDupEvent && ctx.Err() == nil && firstErr == nil:
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return saved, firstErr
}

// rss returns the resident set size of process pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, err
	}
	return resident * int64(os.Getpagesize()), nil
}

// newRelay opens the event store cfg names and runs the relay on it.
func newRelay(cfg relay.Config) (*relay.Relay, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := relay.OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	return relay.New(cfg, st, relay.WithLogger(log))
}
