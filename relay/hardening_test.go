package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"

	"github.com/sovmesh/sovmesh/bench/attack"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// Messages that crashed the relay (issue 11): nip77.ParseNegMessage sliced
// the label without a bounds check.
var crashInputs = []string{`,""`, `"",`, `[",0000"000`}

func TestMessageParserCrashInputs(t *testing.T) {
	s := relaytest.New(t, nil)
	for _, in := range crashInputs {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			c := dialRaw(t, s.URL)
			c.send(in)
			arr, _ := c.until("NOTICE", "")
			wantPrefix(t, arr, 1, "failed to parse envelope")
			dialRaw(t, s.URL).sync() // the relay lives
		})
	}
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	s := relaytest.New(t, nil, relay.WithEventPolicy("boom", func(_ context.Context, evt *nostr.Event) string {
		if evt.Content == "boom" {
			panic("policy bug")
		}
		return ""
	}))
	other := dialRaw(t, s.URL)
	c := dialRaw(t, s.URL)
	sk := nostr.GeneratePrivateKey()
	evt := signed(t, sk, 1, nostr.Now(), nil, "boom")
	b, _ := json.Marshal([]any{"EVENT", evt})
	c.send(string(b))
	for range 100 {
		if _, err := c.next(); err != nil {
			break // closed, as it should be
		}
	}
	if _, err := c.next(); err == nil {
		t.Fatal("connection still open after a panic")
	}
	if got := metric(t, s.HTTP, "sovmesh_panics_total"); got != 1 {
		t.Fatalf("sovmesh_panics_total = %v, want 1", got)
	}
	other.sync()
	dialRaw(t, s.URL).sync()
}

// publishKind1 stores a kind-1 event through the relay itself, then syncs c:
// what c has been sent for it has arrived when this returns.
func publishKind1(t *testing.T, s *relaytest.Server, c *rawClient) [][]json.RawMessage {
	t.Helper()
	evt := signed(t, nostr.GeneratePrivateKey(), 1, nostr.Now(), nil, "later")
	if err := s.Publish(t.Context(), evt); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return c.syncAny()
}

// syncAny is sync for connections whose REQs are refused (--auth all): an
// unknown message is answered with a NOTICE after everything sent before.
func (c *rawClient) syncAny() [][]json.RawMessage {
	c.t.Helper()
	c.send(`["SOVMESH-SYNC"]`)
	_, before := c.until("NOTICE", "")
	return before
}

func TestLimitZeroRunsEveryREQPolicy(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*relay.Config)
		reqs      []string // the last one must be refused
		want      string
		auth      bool // an AUTH challenge precedes the CLOSED
	}{
		{"auth all", func(c *relay.Config) { c.Auth = relay.AuthAll },
			[]string{`["REQ","s",{"kinds":[1],"limit":0}]`}, "auth-required:", true},
		{"max subscriptions", func(c *relay.Config) { c.MaxSubscriptions = 1 },
			[]string{`["REQ","a",{"limit":0}]`, `["REQ","s",{"limit":0}]`}, "blocked:", false},
		{"subscription id length", func(c *relay.Config) { c.MaxSubIDLength = 1 },
			[]string{`["REQ","s2",{"limit":0}]`}, "invalid:", false},
		{"tag shape", nil, []string{`["REQ","s",{"#xx":["a"],"limit":0}]`}, "invalid:", false},
		{"search", nil, []string{`["REQ","s",{"search":"x","limit":0}]`}, "invalid:", false},
		{"req rate", func(c *relay.Config) { c.IPReqRate, c.IPReqBurst = 0.001, 1 },
			[]string{`["REQ","a",{"limit":0}]`, `["REQ","s",{"limit":0}]`}, "rate-limited:", false},
		{"max filters", func(c *relay.Config) { c.MaxFilters = 1 },
			[]string{`["REQ","s",{"limit":0},{"limit":0}]`}, "invalid:", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.New(t, tc.configure)
			c := dialRaw(t, s.URL)
			subID := func(req string) string { return str(json.RawMessage(strings.SplitN(req, ",", 3)[1])) }
			for _, r := range tc.reqs[:len(tc.reqs)-1] {
				c.send(r)
				c.until("EOSE", subID(r)) // handled before the next
			}
			id := subID(tc.reqs[len(tc.reqs)-1])
			c.send(tc.reqs[len(tc.reqs)-1])
			arr, before := c.until("CLOSED", id)
			wantPrefix(t, arr, 2, tc.want)
			if tc.auth && countLabel(before, "AUTH") == 0 {
				t.Fatalf("no AUTH challenge before CLOSED: %s", show(before))
			}
			for _, m := range publishKind1(t, s, c) {
				if str(m[0]) == "EVENT" && str(m[1]) == id {
					t.Fatalf("refused subscription %q received %s", id, show([][]json.RawMessage{m}))
				}
			}
		})
	}
}

func TestREQRefusedAtLaterFilterLeavesNoListener(t *testing.T) {
	s := relaytest.New(t, nil) // max_filters 10
	c := dialRaw(t, s.URL)
	filters := strings.TrimSuffix(strings.Repeat(`{"kinds":[1]},`, 11), ",")
	c.send(`["REQ","s",` + filters + `]`)
	arr, _ := c.until("CLOSED", "s")
	wantPrefix(t, arr, 2, "invalid:")
	if n := countLabel(publishKind1(t, s, c), "EVENT"); n != 0 {
		t.Fatalf("refused REQ delivered %d copies of a later event", n)
	}
}

// negOpen returns a NEG-OPEN over filter from a client holding nothing.
func negOpen(id, filter string) string {
	v := vector.New()
	v.Seal()
	return `["NEG-OPEN","` + id + `",` + filter + `,"` + negentropy.New(v, 0).Start() + `"]`
}

func storeKind1(t *testing.T, s *relaytest.Server, n int) {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	for i := range n {
		if err := s.Publish(t.Context(), signed(t, sk, 1, nostr.Now()-nostr.Timestamp(i), nil, fmt.Sprint(i))); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

func TestNegentropyLimits(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*relay.Config)
		stored    int
		opens     []string // sent in order on one connection; the last one's answer is checked
		label     string
		prefix    string
	}{
		{"records within the limit", func(c *relay.Config) { c.NegMaxRecords = 3 }, 3,
			[]string{negOpen("n", "{}")}, "NEG-MSG", ""},
		{"records over the limit", func(c *relay.Config) { c.NegMaxRecords = 3 }, 4,
			[]string{negOpen("n", "{}")}, "NEG-ERR", "blocked: too many records, narrow the filter"},
		{"limit 0", nil, 1, []string{negOpen("n", `{"limit":0}`)}, "NEG-ERR", "invalid:"},
		{"sessions per connection", func(c *relay.Config) { c.NegMaxSessions = 1 }, 2,
			[]string{negOpen("a", "{}"), negOpen("n", "{}")}, "NEG-ERR", "blocked:"},
		{"a reused id replaces its session", func(c *relay.Config) { c.NegMaxSessions = 1 }, 2,
			[]string{negOpen("n", "{}"), negOpen("n", "{}")}, "NEG-MSG", ""},
		{"rate per IP", func(c *relay.Config) { c.IPNegRate, c.IPNegBurst = 0.001, 1 }, 2,
			[]string{negOpen("a", "{}"), negOpen("n", "{}")}, "NEG-ERR", "rate-limited:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.New(t, tc.configure)
			storeKind1(t, s, tc.stored)
			c := dialRaw(t, s.URL)
			for _, open := range tc.opens[:len(tc.opens)-1] {
				c.send(open)
				c.until("NEG-MSG", str(json.RawMessage(strings.Split(open, ",")[1]))) // open before the next
			}
			c.send(tc.opens[len(tc.opens)-1])
			arr, _ := c.until(tc.label, "n")
			if tc.prefix != "" {
				wantPrefix(t, arr, 2, tc.prefix)
			}
			c.sync()
		})
	}
}

func TestCountNIP45(t *testing.T) {
	a, b := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	pa, _ := nostr.GetPublicKey(a)
	tests := []struct {
		name      string
		configure func(*relay.Config)
		count     string
		want      int64  // when prefix is ""
		prefix    string // CLOSED reason
		auth      bool
	}{
		{"one filter", nil, `{"kinds":[7]}`, 3, "", false},
		{"filters are OR'd, each event once", nil, `{"kinds":[7]},{"authors":["` + pa + `"]}`, 6, "", false},
		{"disjoint filters add up", nil, `{"kinds":[1]},{"kinds":[7]}`, 6, "", false},
		{"refused filter", nil, `{"kinds":[1]},{"#xx":["a"]}`, 0, "invalid:", false},
		{"auth all", func(c *relay.Config) { c.Auth = relay.AuthAll }, `{"kinds":[1]}`, 0, "auth-required:", true},
		{"more than max-count-events", func(c *relay.Config) { c.MaxCountEvents = 5 }, `{}`, 0, "blocked:", false},
		{"max-count-events reached", func(c *relay.Config) { c.MaxCountEvents = 6 }, `{}`, 6, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.New(t, tc.configure)
			// a: three kind 1, one kind 7; b: two kind 7.
			for i, e := range []struct {
				sk   string
				kind int
			}{{a, 1}, {a, 1}, {a, 1}, {a, 7}, {b, 7}, {b, 7}} {
				if err := s.Publish(t.Context(), signed(t, e.sk, e.kind, nostr.Now()-nostr.Timestamp(i), nil, fmt.Sprint(i))); err != nil {
					t.Fatalf("publish: %v", err)
				}
			}
			c := dialRaw(t, s.URL)
			c.send(`["COUNT","c",` + tc.count + `]`)
			for range 100 {
				arr, before := c.until("", "c")
				switch str(arr[0]) {
				case "COUNT":
					if tc.prefix != "" {
						t.Fatalf("got %s, want CLOSED %q", show([][]json.RawMessage{arr}), tc.prefix)
					}
					var res struct{ Count int64 }
					if err := json.Unmarshal(arr[2], &res); err != nil || res.Count != tc.want {
						t.Fatalf("got %s, want count %d", arr[2], tc.want)
					}
				case "CLOSED":
					if tc.prefix == "" {
						t.Fatalf("got %s, want a count", show([][]json.RawMessage{arr}))
					}
					wantPrefix(t, arr, 2, tc.prefix)
					if tc.auth && countLabel(before, "AUTH") == 0 {
						t.Fatalf("no AUTH challenge before CLOSED: %s", show(before))
					}
				default:
					continue
				}
				break
			}
			c.syncAny()
		})
	}
}

func TestRefusedInput(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	eventMsg := func(kind int) string {
		evt := signed(t, sk, kind, nostr.Now(), nil, "x")
		b, _ := json.Marshal([]any{"EVENT", evt})
		return string(b)
	}
	valid := eventMsg(1)
	badUTF8 := strings.Replace(valid, `"content":"x"`, "\"content\":\"\xff\xfe\"", 1)
	tests := []struct {
		name  string
		typ   byte
		msg   string
		label string // OK (for the event) or NOTICE
	}{
		{"negative kind", attack.OpText, eventMsg(-1), "OK"},
		{"kind above 65535", attack.OpText, eventMsg(65536), "OK"},
		{"invalid UTF-8", attack.OpText, badUTF8, "NOTICE"},
		{"binary frame", attack.OpBinary, valid, "NOTICE"},
	}
	s := relaytest.New(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.URL)
			c.sendFrame(tc.typ, []byte(tc.msg))
			arr, _ := c.until(tc.label, "")
			i := 1
			if tc.label == "OK" {
				i = 3
				if string(arr[2]) != "false" {
					t.Fatalf("accepted: %s", show([][]json.RawMessage{arr}))
				}
			}
			wantPrefix(t, arr, i, "invalid:")
			if n := countLabel(c.sync(), "OK"); n != 0 {
				t.Fatalf("the refused message was also processed (%d OK)", n)
			}
		})
	}
	if n := len(query(t, connect(t, s.URL), nostr.Filter{Authors: []string{mustPub(t, sk)}})); n != 0 {
		t.Fatalf("%d refused events stored", n)
	}
}

func mustPub(t *testing.T, sk string) string {
	t.Helper()
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func TestReadBudget(t *testing.T) {
	tests := []struct {
		name          string
		burst         int
		first, second string // sent in turn on one connection
		firstLabel    string
		secondLabel   string // the second's answer; "CLOSED"/"NEG-ERR" must be rate-limited
	}{
		{"REQ after REQ", 3, `["REQ","a",{}]`, `["REQ","n",{"kinds":[1]}]`, "EOSE", "CLOSED"},
		{"COUNT after COUNT", 3, `["COUNT","a",{}]`, `["COUNT","n",{}]`, "COUNT", "CLOSED"},
		{"NEG-OPEN after NEG-OPEN", 3, negOpen("a", "{}"), negOpen("n", "{}"), "NEG-MSG", "NEG-ERR"},
		{"COUNT after REQ", 3, `["REQ","a",{}]`, `["COUNT","n",{}]`, "EOSE", "CLOSED"},
		{"REQ after NEG-OPEN", 3, negOpen("a", "{}"), `["REQ","n",{}]`, "NEG-MSG", "CLOSED"},
		{"within the budget", 1000, `["REQ","a",{}]`, `["COUNT","n",{}]`, "EOSE", "COUNT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.New(t, func(c *relay.Config) { c.IPReadRate, c.IPReadBurst = 0.001, tc.burst })
			storeKind1(t, s, 5)
			c := dialRaw(t, s.URL)
			c.send(tc.first)
			c.until(tc.firstLabel, "a")
			c.send(tc.second)
			arr, _ := c.until(tc.secondLabel, "n")
			if tc.secondLabel != "EOSE" && tc.secondLabel != "COUNT" && tc.secondLabel != "NEG-MSG" {
				wantPrefix(t, arr, 2, "rate-limited:")
			}
			// Another address still reads.
			other, err := dialWS(t, s.URL, attack.DialOptions{LocalIP: attackerIP})
			if err != nil {
				t.Fatalf("dial from 127.0.0.2: %v", err)
			}
			other.send(`["REQ","o",{}]`)
			other.until("EOSE", "o")
		})
	}
}
