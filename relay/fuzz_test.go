package relay_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77"

	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// The fuzz targets of the message parsers live here, in the root module, so
// CI runs them (third_party/go-nostr is a module of its own, outside ./...).

var messageSeeds = []string{
	`["EVENT",{"id":"` + strings.Repeat("a", 64) + `","pubkey":"` + strings.Repeat("b", 64) + `","created_at":1,"kind":1,"tags":[["e","x"]],"content":"hi","sig":"` + strings.Repeat("c", 128) + `"}]`,
	`["EVENT",{"id":"\"","kind":-1}]`,
	`["REQ","s",{"kinds":[1],"limit":0}]`,
	`["REQ","s",{"#xx":["a"]},{"ids":["00"]}]`,
	`["REQ","\"q",{}]`,
	`["COUNT","c",{"kinds":[1]},{"authors":["` + strings.Repeat("b", 64) + `"]}]`,
	`["COUNT","c",{"count":3}]`,
	`["CLOSE","s"]`,
	`["AUTH",{"kind":22242}]`,
	`["NEG-OPEN","n",{},"61"]`,
	`["NEG-MSG","n","6100"]`,
	`["NEG-CLOSE","n"]`,
	`["NEG-ERR","n","blocked: x"]`,
	"[\"REQ\",\"\xff\",{}]",
	`[`, `[]`, `[""]`, `"`,
}

func FuzzParseNegMessage(f *testing.F) {
	for _, s := range append(messageSeeds, crashInputs...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		env := nip77.ParseNegMessage(msg)
		if env == nil {
			return
		}
		b, err := env.MarshalJSON()
		if err != nil {
			t.Fatalf("%q parsed as %s but does not marshal: %v", msg, env.Label(), err)
		}
		again := nip77.ParseNegMessage(string(b))
		if again == nil || again.Label() != env.Label() {
			t.Fatalf("%q: %s marshals to %q, which does not parse back", msg, env.Label(), b)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range append(messageSeeds, crashInputs...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		// The relay answers a message that is not valid UTF-8 with a
		// NOTICE before parsing it (invalid text cannot round-trip:
		// marshalling replaces it with U+FFFD).
		if !utf8.ValidString(msg) {
			return
		}
		env, err := nostr.NewMessageParser().ParseMessage(msg)
		if err != nil || env == nil {
			return
		}
		count, ok := env.(*nostr.CountEnvelope)
		if !ok || count.Count != nil {
			return
		}
		// A COUNT request keeps every filter, through a round trip too.
		var arr []json.RawMessage
		if json.Unmarshal([]byte(msg), &arr) == nil && len(arr) >= 2 && len(count.Filters) != len(arr)-2 {
			t.Fatalf("%q: COUNT kept %d filters of %d", msg, len(count.Filters), len(arr)-2)
		}
		b, err := count.MarshalJSON()
		if err != nil {
			t.Fatalf("COUNT does not marshal: %v", err)
		}
		again, err := nostr.NewMessageParser().ParseMessage(string(b))
		if err != nil {
			t.Fatalf("%q: COUNT marshals to %q, which does not parse: %v", msg, b, err)
		}
		if c2, ok := again.(*nostr.CountEnvelope); !ok || len(c2.Filters) != len(count.Filters) || c2.SubscriptionID != count.SubscriptionID {
			t.Fatalf("%q: COUNT marshals to %q, which parses differently", msg, b)
		}
	})
}

// FuzzRelayMessage sends each input as a websocket text message to a real
// relay (one per fuzz process) on its own connection. The relay must live
// and keep its protocol: an EVENT gets its OK, a REQ its EOSE or CLOSED, and
// no message panics.
func FuzzRelayMessage(f *testing.F) {
	for _, s := range append(messageSeeds, crashInputs...) {
		f.Add(s)
	}
	s := relaytest.New(f, nil)
	const syncID = "fuzz-sync"
	f.Fuzz(func(t *testing.T, msg string) {
		if len(msg) > 64*1024 || strings.Contains(msg, syncID) {
			return
		}
		var wantOK, wantEnd string // an EVENT's id, a REQ's subscription id
		if utf8.ValidString(msg) {
			env, err := nostr.NewMessageParser().ParseMessage(msg)
			switch e := env.(type) {
			case *nostr.EventEnvelope:
				if err == nil {
					wantOK = e.Event.ID
				}
			case *nostr.ReqEnvelope:
				if err == nil {
					wantEnd = e.SubscriptionID
				}
			}
		}
		c := dialRaw(t, s.URL)
		c.send(msg)
		c.send(`["REQ","` + syncID + `",{"ids":["` + strings.Repeat("0", 64) + `"]}]`)
		gotOK, gotEnd, synced := wantOK == "", wantEnd == "", false
		deadline := time.Now().Add(10 * time.Second)
		for range 100000 {
			if gotOK && gotEnd && synced {
				break
			}
			b, err := c.readMsg(deadline)
			if err != nil {
				t.Fatalf("%q: connection ended before its answers (OK %v, EOSE/CLOSED %v, sync %v): %v", msg, gotOK, gotEnd, synced, err)
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(b, &arr); err != nil || len(arr) < 2 {
				t.Fatalf("%q: relay sent %q, not a JSON array", msg, b)
			}
			switch label, id := str(arr[0]), str(arr[1]); {
			case label == "OK" && id == wantOK:
				gotOK = true
			case (label == "EOSE" || label == "CLOSED") && id == wantEnd:
				gotEnd = true
			case label == "EOSE" && id == syncID:
				synced = true
			}
		}
		if p := metric(t, s.HTTP, "sovmesh_panics_total"); p != 0 {
			t.Fatalf("%q: %v panics recovered", msg, p)
		}
	})
}
