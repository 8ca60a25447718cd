package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/internal/manifest"
	"github.com/sovmesh/sovmesh/relay"
)

// withRelay opens the relay of dir (not served), runs f and shuts it down.
func withRelay(t *testing.T, dir string, f func(r *relay.Relay)) {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.DataDir = dir
	cfg.IPEventRate, cfg.PubkeyEventRate = 0, 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := relay.OpenStore(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(cfg, st, relay.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	f(r)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func note(t *testing.T, sk string, kind int, content string, tags nostr.Tags) *nostr.Event {
	t.Helper()
	evt := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Content: content, Tags: tags}
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return evt
}

func storedIDs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	withRelay(t, dir, func(r *relay.Relay) {
		ch, err := r.Store().QueryEvents(t.Context(), nostr.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for evt := range ch {
			out[evt.ID] = true
		}
	})
	return out
}

func meshrelay(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := run(t.Context(), args, func(string) string { return "" }, &stderr)
	return code, stderr.String()
}

// TestEventBundle carries events between two relays with no network
// between them: export, import, import again; a deletion in the bundle
// removes the event it names.
func TestEventBundle(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	sk := nostr.GeneratePrivateKey()
	doomed := note(t, sk, 1, "doomed", nil)
	var carried []string
	withRelay(t, a, func(r *relay.Relay) {
		for i := range 3 {
			evt := note(t, sk, 1, fmt.Sprint("carried ", i), nil)
			if err := r.Publish(t.Context(), evt); err != nil {
				t.Fatal(err)
			}
			carried = append(carried, evt.ID)
		}
		// b has doomed; a has its deletion.
		del := note(t, sk, 5, "", nostr.Tags{{"e", doomed.ID}})
		if err := r.Publish(t.Context(), del); err != nil {
			t.Fatal(err)
		}
		carried = append(carried, del.ID)
	})
	withRelay(t, b, func(r *relay.Relay) {
		if err := r.Publish(t.Context(), doomed); err != nil {
			t.Fatal(err)
		}
	})

	out := filepath.Join(t.TempDir(), "bundle")
	if code, msg := meshrelay(t, "export", "--data", a, out); code != 0 || !strings.Contains(msg, "exported 4 events") {
		t.Fatalf("export: %d %s", code, msg)
	}
	code, msg := meshrelay(t, "import", "--data", b, out)
	if code != 0 || !strings.Contains(msg, "4 events, 4 stored, 0 already here, 0 refused") {
		t.Fatalf("import: %d %s", code, msg)
	}
	got := storedIDs(t, b)
	for _, id := range carried {
		if !got[id] {
			t.Errorf("event %s not imported", id)
		}
	}
	if got[doomed.ID] {
		t.Error("the bundle's deletion did not remove the event it names")
	}
	code, msg = meshrelay(t, "import", "--data", b, out)
	if code != 0 || !strings.Contains(msg, "4 events, 0 stored, 4 already here, 0 refused") {
		t.Fatalf("import again: %d %s", code, msg)
	}
}

// TestEventBundleRefused: a bundle that does not verify is refused whole,
// naming why, and nothing of it is stored.
func TestEventBundleRefused(t *testing.T) {
	a := t.TempDir()
	sk := nostr.GeneratePrivateKey()
	withRelay(t, a, func(r *relay.Relay) {
		for i := range 3 {
			if err := r.Publish(t.Context(), note(t, sk, 1, fmt.Sprint("event ", i), nil)); err != nil {
				t.Fatal(err)
			}
		}
	})
	attacker := nostr.GeneratePrivateKey()
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string
	}{
		{"an event changed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, bundleEvents)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("event 1"), []byte("event 7"), 1), 0o644)
		}, "does not match the manifest"},
		{"the manifest changed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "MANIFEST.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"sovmesh-events"`), []byte(`"sovmesh-evenst"`), 1), 0o644)
		}, "signature does not verify"},
		{"a file added", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "extra.jsonl"), []byte("{}\n"), 0o644)
		}, "not listed in the manifest"},
		{"a forged event, manifest signed again", func(t *testing.T, dir string) {
			p := filepath.Join(dir, bundleEvents)
			b, _ := os.ReadFile(p)
			var evt nostr.Event
			first, rest, _ := bytes.Cut(b, []byte("\n"))
			if err := json.Unmarshal(first, &evt); err != nil {
				t.Fatal(err)
			}
			evt.Content = "forged"
			forged, _ := json.Marshal(evt)
			os.WriteFile(p, append(append(forged, '\n'), rest...), 0o644)
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
			if _, err := manifest.Sign(dir, bundleLabel, func(e *nostr.Event) error { return e.Sign(attacker) }, nostr.Now()); err != nil {
				t.Fatal(err)
			}
		}, "line 1: event"},
		{"no manifest", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "MANIFEST.json"))
		}, "no MANIFEST.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle")
			if code, msg := meshrelay(t, "export", "--data", a, out); code != 0 {
				t.Fatalf("export: %d %s", code, msg)
			}
			tc.tamper(t, out)
			b := t.TempDir()
			code, msg := meshrelay(t, "import", "--data", b, out)
			if code != 1 || !strings.Contains(msg, "nothing imported") || !strings.Contains(msg, tc.want) {
				t.Fatalf("import: %d %s; want a refusal naming %q", code, msg, tc.want)
			}
			if n := len(storedIDs(t, b)); n != 0 {
				t.Fatalf("%d events stored from a refused bundle", n)
			}
		})
	}
}

// TestEventBundleNeedsStoppedRelay: export beside a running relay names it.
func TestEventBundleNeedsStoppedRelay(t *testing.T) {
	dir := t.TempDir()
	lock, err := datadir.Acquire(dir, "meshrelay")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, msg := meshrelay(t, "export", "--data", dir, filepath.Join(t.TempDir(), "out"))
	if code != 1 || !strings.Contains(msg, "in use") {
		t.Fatalf("export beside a running relay: %d %s", code, msg)
	}
}
