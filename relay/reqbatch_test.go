package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
)

// TestStoredEventsOnTheWire reads a REQ's answer frame by frame: khatru's
// patched send path batches stored events into shared network writes (more
// than one batch here) and encodes them itself. Every message must be one
// whole, valid EVENT for the exact subscription id, in NIP-01 order, with
// the stored event unchanged, and EOSE must come last.
func TestStoredEventsOnTheWire(t *testing.T) {
	t.Run("sovmesh", func(t *testing.T) {
		// The stored JSON goes out as it is (khatru's QueryEventsJSON).
		srv := relaytest.New(t, nil)
		checkStoredOnTheWire(t, srv.URL, srv.Relay.Store())
	})
	t.Run("khatru", func(t *testing.T) {
		// Plain khatru, as the load tool's baselines run it: decoded events
		// are encoded again.
		store, err := sqlitestore.New(filepath.Join(t.TempDir(), "events.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		kh := khatru.NewRelay()
		kh.Log.SetOutput(io.Discard)
		kh.QueryEvents = append(kh.QueryEvents, store.QueryEvents)
		hs := httptest.NewServer(kh)
		defer hs.Close()
		checkStoredOnTheWire(t, "ws"+strings.TrimPrefix(hs.URL, "http"), store)
	})
}

func checkStoredOnTheWire(t *testing.T, url string, store eventstore.Store) {
	sk := nostr.GeneratePrivateKey()
	now := nostr.Now()

	// 300 events of 0.4 to 2.4 KiB (some over the websocket library's 1 KiB
	// write buffer), with text that JSON must escape: well over one 64 KiB
	// batch. Several share a created_at, so order by id matters.
	var evts []*nostr.Event
	for i := range 300 {
		content := fmt.Sprintf("note %d <b>&amp;</b> \"quoted\" \\ back\tslash é ☃ \u2028 ", i) +
			strings.Repeat("x", 300+(i%5)*500)
		evts = append(evts, signed(t, sk, 1, now-nostr.Timestamp(i/3), nostr.Tags{{"t", "wire"}}, content))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(evts))
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(evts); i += 16 {
				if err := store.SaveEvent(t.Context(), evts[i]); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("save: %v", err)
	}
	byID := make(map[string]*nostr.Event, len(evts))
	for _, e := range evts {
		byID[e.ID] = e
	}

	ws := dialRaw(t, url)
	// A bound, not a pace: the two REQs take milliseconds on a quiet
	// machine, and seconds on 2 cores shared with the rest of the suite.
	deadline := time.Now().Add(60 * time.Second)

	for _, tc := range []struct {
		subID  string
		filter nostr.Filter
	}{
		{`sub "one" \ <two> é`, nostr.Filter{Kinds: []int{1}}},
		{"limited", nostr.Filter{Tags: nostr.TagMap{"t": {"wire"}}, Limit: 250}},
	} {
		req, _ := json.Marshal([]any{"REQ", tc.subID, tc.filter})
		ws.send(string(req))
		var got []string
		for {
			msg, err := ws.readMsg(deadline)
			if err != nil {
				t.Fatalf("%s: read after %d events: %v", tc.subID, len(got), err)
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(msg, &arr); err != nil {
				t.Fatalf("%s: message %d is not a JSON array: %v: %.200s", tc.subID, len(got), err, msg)
			}
			var label, sub string
			if len(arr) < 2 || json.Unmarshal(arr[0], &label) != nil || json.Unmarshal(arr[1], &sub) != nil {
				t.Fatalf("%s: malformed message %.200s", tc.subID, msg)
			}
			if sub != tc.subID {
				t.Fatalf("%s message for subscription %q, want %q", label, sub, tc.subID)
			}
			if label == "EOSE" {
				break
			}
			if label != "EVENT" || len(arr) != 3 {
				t.Fatalf("%s: unexpected message %.200s", tc.subID, msg)
			}
			var evt nostr.Event
			if err := json.Unmarshal(arr[2], &evt); err != nil {
				t.Fatalf("%s: event does not decode: %v", tc.subID, err)
			}
			if ok, err := evt.CheckSignature(); !ok || err != nil {
				t.Fatalf("%s: event %s does not verify: %v", tc.subID, evt.ID, err)
			}
			want := byID[evt.ID]
			if want == nil || want.Content != evt.Content || want.CreatedAt != evt.CreatedAt || !slices.EqualFunc(want.Tags, evt.Tags, slices.Equal) {
				t.Fatalf("%s: event %s differs from the one stored", tc.subID, evt.ID)
			}
			got = append(got, evt.ID)
		}
		if want := expected(evts, tc.filter); !slices.Equal(got, want) {
			t.Fatalf("%s: %d events in wrong order or incomplete, want %d", tc.subID, len(got), len(want))
		}
		closeMsg, _ := json.Marshal([]any{"CLOSE", tc.subID})
		ws.send(string(closeMsg))
	}
}
