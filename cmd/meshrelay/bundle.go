package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/bip340"
	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/internal/manifest"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

// An event bundle is a folder carried between relays with no network
// between them: events.jsonl (one event per line) and MANIFEST.json, a
// nips.Manifest labelled bundleLabel and signed with the exporting relay's
// key.
const (
	bundleLabel  = "sovmesh-events"
	bundleEvents = "events.jsonl"
	maxEventLine = 1 << 20
)

// bundleFlags are the flags export and import share.
func bundleFlags(name string, getenv func(string) string, out io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("meshrelay "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	data := relay.DefaultConfig().DataDir
	if v := getenv(envName("data")); v != "" {
		data = v
	}
	dir := fs.String("data", data, "the relay's data directory (the relay must be stopped)")
	return fs, dir
}

// runExport is "meshrelay export [--data DIR] [--filter JSON] OUT".
func runExport(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs, data := bundleFlags("export", getenv, stderr)
	filterJSON := fs.String("filter", "{}", "NIP-01 filter selecting the events to export (default: every stored event)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: meshrelay export [--data DIR] [--filter JSON] OUT\n\nwrites the selected events to the new folder OUT as events.jsonl with a MANIFEST.json signed by the relay's key")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "meshrelay export: name one folder to write (OUT)")
		return 2
	}
	var filter nostr.Filter
	if err := json.Unmarshal([]byte(*filterJSON), &filter); err != nil {
		fmt.Fprintf(stderr, "meshrelay export: --filter: not a NIP-01 filter: %v\n", err)
		return 2
	}
	out := fs.Arg(0)
	if err := os.Mkdir(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "meshrelay export: %v (OUT must be a new folder)\n", err)
		return 1
	}
	n, err := withStoppedRelay(*data, false, func(r *relay.Relay) (int, error) {
		return exportEvents(ctx, r, filter, out)
	})
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "exported %d events to %s\n", n, out)
	return 0
}

func exportEvents(ctx context.Context, r *relay.Relay, filter nostr.Filter, out string) (int, error) {
	f, err := os.OpenFile(filepath.Join(out, bundleEvents), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	ch, err := r.Store().QueryEvents(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	n := 0
	for evt := range ch {
		b, err := json.Marshal(evt)
		if err != nil {
			return n, err
		}
		w.Write(b)
		w.WriteByte('\n')
		n++
	}
	if err := w.Flush(); err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if _, err := manifest.Sign(out, bundleLabel, r.Sign, nostr.Now()); err != nil {
		return n, err
	}
	return n, nil
}

// runImport is "meshrelay import [--data DIR] IN".
func runImport(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs, data := bundleFlags("import", getenv, stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: meshrelay import [--data DIR] IN\n\nchecks the bundle IN (its manifest's signature, every file's hash, every event's id and signature) and only then stores its events through the relay's policies; importing twice changes nothing")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "meshrelay import: name one bundle folder to import (IN)")
		return 2
	}
	in := fs.Arg(0)
	m, err := manifest.Verify(in)
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay import: %s refused, nothing imported: %v\n", in, err)
		return 1
	}
	if m.Label != bundleLabel || len(m.Files) != 1 || m.Files[0].Path != bundleEvents {
		fmt.Fprintf(stderr, "meshrelay import: %s refused, nothing imported: not an event bundle (label %q, want %q with one file %s)\n", in, m.Label, bundleLabel, bundleEvents)
		return 1
	}
	path := filepath.Join(in, bundleEvents)
	total, err := eachEvent(path, func(int, *nostr.Event) error { return nil })
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay import: %s refused, nothing imported: %v\n", in, err)
		return 1
	}
	var stored, present, refused int
	reasons := map[string]int{}
	_, err = withStoppedRelay(*data, true, func(r *relay.Relay) (int, error) {
		return eachEvent(path, func(_ int, evt *nostr.Event) error {
			if had, err := hasEvent(ctx, r, evt.ID); err != nil {
				return err
			} else if had {
				present++
				return nil
			}
			if err := r.Publish(ctx, evt); err != nil {
				refused++
				reasons[refusalReason(err)]++
				return nil
			}
			stored++
			return nil
		})
	})
	if err != nil {
		fmt.Fprintf(stderr, "meshrelay import: %v (stored %d of %d before it)\n", err, stored, total)
		return 1
	}
	fmt.Fprintf(stderr, "imported %s signed by %s: %d events, %d stored, %d already here, %d refused by the relay's policies\n",
		in, m.Pubkey, total, stored, present, refused)
	for reason, n := range reasons {
		fmt.Fprintf(stderr, "  refused %d: %s\n", n, reason)
	}
	return 0
}

// eachEvent calls f for each line of path, after checking that it is an
// event whose id and signature verify; the first bad line ends it with an
// error naming the line.
func eachEvent(path string, f func(line int, evt *nostr.Event) error) (int, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	n := 0
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var evt nostr.Event
		if err := json.Unmarshal(sc.Bytes(), &evt); err != nil {
			return n, fmt.Errorf("%s line %d: not an event: %v", bundleEvents, line, err)
		}
		if ok, err := bip340.CheckEvent(&evt); err != nil || !ok {
			return n, fmt.Errorf("%s line %d: event %.16s: id or signature does not verify", bundleEvents, line, evt.ID)
		}
		if err := f(line, &evt); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("%s: %w", bundleEvents, err)
	}
	return n, nil
}

func hasEvent(ctx context.Context, r *relay.Relay, id string) (bool, error) {
	ch, err := r.Store().QueryEvents(ctx, nostr.Filter{IDs: []string{id}})
	if err != nil {
		return false, err
	}
	found := false
	for range ch {
		found = true
	}
	return found, nil
}

// refusalReason keeps the NIP-01 prefix and the reason of a refused
// event's error, for counting alike refusals together.
func refusalReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "publish ") {
		msg = msg[i+2:]
	}
	return msg
}

// withStoppedRelay opens the relay of data (taking the data directory's
// lock, so a running relay is named instead of shared) without serving it,
// runs f, and shuts it down. importing lifts the rate limits (the operator
// is the client) and adds the market's event validation.
func withStoppedRelay(data string, importing bool, f func(*relay.Relay) (int, error)) (int, error) {
	lock, err := datadir.Acquire(data, "meshrelay")
	if err != nil {
		return 0, err
	}
	defer lock.Release()
	cfg := relay.DefaultConfig()
	cfg.DataDir = data
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var opts []relay.Option
	if importing {
		cfg.IPEventRate, cfg.PubkeyEventRate = 0, 0
		opts = marketplace.ValidationOptions()
	}
	st, err := relay.OpenStore(cfg, log)
	if err != nil {
		return 0, err
	}
	r, err := relay.New(cfg, st, append(opts, relay.WithLogger(log))...)
	if err != nil {
		return 0, err
	}
	n, ferr := f(r)
	if err := r.Shutdown(context.Background()); err != nil {
		return n, errors.Join(ferr, err)
	}
	return n, ferr
}

// usageCode is the exit code of a failed flag parse (0 for -h).
func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
