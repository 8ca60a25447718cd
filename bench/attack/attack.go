// Package attack holds the hostile clients of issue 11: each Attack sends what
// an attacker on the open internet sends a relay (malformed frames, floods,
// readers that never read, spoofed headers) and tallies what the relay
// answered. The relay's hostile-client tests assert on the tallies;
// bench/relayload -attack runs the same attacks while honest clients publish
// and query, and measures what they cost the honest clients.
package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy"
	"github.com/nbd-wtf/go-nostr/nip77/negentropy/storage/vector"
)

// Target is the relay under attack.
type Target struct {
	// URL is its websocket address, ws://host:port.
	URL string
	// From is the attackers' source address (nil: the system's choice).
	From net.IP
}

// Tally counts the relay's answers by label: the message type, with the
// OK/CLOSED/NEG-ERR/NOTICE machine-readable prefix where there is one
// ("OK false rate-limited", "CLOSED auth-required", "EOSE", "EVENT"), plus
// "closed by relay" for a connection the relay ended and "upgrade NNN" for
// an upgrade refused with an HTTP status.
type Tally struct {
	mu     sync.Mutex
	counts map[string]int
}

// Add counts one answer.
func (t *Tally) Add(label string) {
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[label]++
	t.mu.Unlock()
}

// Get returns how often label was seen.
func (t *Tally) Get(label string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[label]
}

// String lists the labels and counts, sorted.
func (t *Tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, t.counts[k])
	}
	return b.String()
}

// Label names one relay message for a Tally.
func Label(msg string) string {
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(msg), &arr); err != nil || len(arr) == 0 {
		return "unparsable"
	}
	var typ string
	if json.Unmarshal(arr[0], &typ) != nil {
		return "unparsable"
	}
	reason := func(i int) string {
		if len(arr) <= i {
			return ""
		}
		var s string
		_ = json.Unmarshal(arr[i], &s)
		if p, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(p, " ") {
			return " " + p
		}
		if s == "" {
			return ""
		}
		return " (no prefix)"
	}
	switch typ {
	case "OK":
		var ok bool
		if len(arr) > 2 && json.Unmarshal(arr[2], &ok) == nil && ok {
			return "OK true"
		}
		return "OK false" + reason(3)
	case "CLOSED":
		return "CLOSED" + reason(2)
	case "NEG-ERR":
		return "NEG-ERR" + reason(2)
	case "NOTICE":
		return "NOTICE"
	}
	return typ
}

// An Attack is one hostile pattern. Run repeats it rounds times (or until
// ctx ends), on connections of its own, and tallies the answers.
type Attack struct {
	Name string
	// Point is the numbered point of issue 11 it reproduces.
	Point int
	Run   func(ctx context.Context, t Target, rounds int, tally *Tally) error
}

// All lists the attacks, in the order.
func All() []Attack {
	return []Attack{
		{"parse-crash", 1, ParseCrash},
		{"limit-zero", 2, LimitZero},
		{"filters-over-limit", 3, FiltersOverLimit},
		{"non-reader", 4, NonReader},
		{"auth-other-relay", 5, AuthOtherRelay},
		{"xff-spoof", 6, XFFSpoof},
		{"fragment-hold", 7, FragmentHold},
		{"conn-flood", 7, ConnFlood},
		{"neg-open-flood", 8, NegOpenFlood},
		{"count-flood", 8, CountFlood},
		{"negative-kind", 9, NegativeKind},
		{"bad-utf8", 9, BadUTF8},
	}
}

// ByName returns the attack called name.
func ByName(name string) (Attack, bool) {
	for _, a := range All() {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

const answerWait = 5 * time.Second

// dial opens a connection and counts a refused upgrade.
func dial(ctx context.Context, t Target, o DialOptions, tally *Tally) (*Conn, error) {
	o.LocalIP = t.From
	c, err := Dial(ctx, t.URL, o)
	if errors.Is(err, ErrRefused) {
		var code int
		if _, scanErr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "HTTP "):], "HTTP %d", &code); scanErr == nil {
			tally.Add(fmt.Sprintf("upgrade %d", code))
		} else {
			tally.Add("upgrade refused")
		}
	}
	return c, err
}

// readAnswer reads until a message match accepts, counting every message
// read, or counts the connection's end.
func readAnswer(c *Conn, tally *Tally, match func(label, msg string) bool) (string, bool) {
	deadline := time.Now().Add(answerWait)
	for {
		f, err := c.Read(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tally.Add("no answer")
			} else {
				tally.Add("closed by relay")
			}
			return "", false
		}
		if f.Op == OpClose {
			tally.Add("closed by relay")
			return "", false
		}
		msg := string(f.Payload)
		l := Label(msg)
		if l == "AUTH" {
			// A challenge is not an answer; callers that need it ask for it.
			if match(l, msg) {
				return msg, true
			}
			continue
		}
		tally.Add(l)
		if match(l, msg) {
			return msg, true
		}
	}
}

// subAnswer matches the answer to subscription id (EOSE, CLOSED, COUNT or
// NEG-*), or any NOTICE (the answer to a message the relay could not take).
func subAnswer(id string) func(string, string) bool {
	return func(l, msg string) bool {
		return l == "NOTICE" || subEnd(id)(l, msg)
	}
}

// subEnd matches only the answer to subscription id.
func subEnd(id string) func(string, string) bool {
	return func(l, msg string) bool {
		if !strings.HasPrefix(l, "EOSE") && !strings.HasPrefix(l, "CLOSED") && !strings.HasPrefix(l, "COUNT") && !strings.HasPrefix(l, "NEG-") {
			return false
		}
		return strings.Contains(msg, `"`+id+`"`)
	}
}

// ParseCrash sends the messages that crashed the negentropy parser, then
// checks that the connection still answers a REQ.
func ParseCrash(ctx context.Context, t Target, rounds int, tally *Tally) error {
	msgs := []string{`,""`, `"",`, `[",0000"000`, `["NEG-OPEN"`, `["NEG-MSG",`, `["NEG-OPEN","x",{},`, `[`, `["COUNT"]`, `["REQ"]`, `["EVENT",{}]`, `["CLOSE"]`, `["AUTH",1]`}
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		c, err := dial(ctx, t, DialOptions{}, tally)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := c.WriteText(m); err != nil {
				break
			}
		}
		if c.WriteText(`["REQ","alive",{"limit":1}]`) == nil {
			readAnswer(c, tally, subEnd("alive"))
		}
		c.Close()
	}
	return nil
}

// LimitZero opens subscriptions with "limit":0 (which skipped every REQ
// policy) on one connection, one at a time.
func LimitZero(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("z%d", i)
		if err := c.WriteText(`["REQ","` + id + `",{"limit":0}]`); err != nil {
			tally.Add("closed by relay")
			return nil
		}
		if _, ok := readAnswer(c, tally, subAnswer(id)); !ok {
			return nil
		}
	}
	return nil
}

// FiltersOverLimit sends a REQ with 11 filters for kind 1, then publishes a
// kind 1 event from another connection: a refused REQ must leave no
// listener behind, so "EVENT after CLOSED" must stay at zero.
func FiltersOverLimit(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return err
	}
	defer c.Close()
	pub, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return err
	}
	defer pub.Close()
	sk := nostr.GeneratePrivateKey()
	filters := strings.Repeat(`{"kinds":[1]},`, 11)
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("f%d", i)
		if err := c.WriteText(`["REQ","` + id + `",` + strings.TrimSuffix(filters, ",") + `]`); err != nil {
			return nil
		}
		if _, ok := readAnswer(c, tally, subAnswer(id)); !ok {
			return nil
		}
		evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: id}
		if err := evt.Sign(sk); err != nil {
			return err
		}
		b, _ := json.Marshal([]any{"EVENT", evt})
		if pub.WriteText(string(b)) != nil {
			return nil
		}
		if _, ok := readAnswer(pub, tally, func(l, _ string) bool { return strings.HasPrefix(l, "OK") }); !ok {
			return nil
		}
		// Events for one connection are delivered in order, so anything sent
		// to the refused subscription arrives before this REQ's EOSE.
		sync := "s" + id
		if c.WriteText(`["REQ","`+sync+`",{"ids":["`+evt.ID+`"],"limit":0}]`) != nil {
			return nil
		}
		done := subAnswer(sync)
		readAnswer(c, tally, func(l, msg string) bool {
			if l == "EVENT" && strings.Contains(msg, `"`+id+`"`) {
				tally.Add("EVENT after CLOSED")
			}
			return done(l, msg)
		})
	}
	return nil
}

// NonReader subscribes to everything on connections with tiny receive
// buffers and never reads again. Honest publishers must not wait for them.
func NonReader(ctx context.Context, t Target, rounds int, tally *Tally) error {
	var conns []*Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		c, err := dial(ctx, t, DialOptions{ReadBuffer: 1024}, tally)
		if err != nil {
			return nil
		}
		conns = append(conns, c)
		tally.Add("non-reader")
		if err := c.WriteText(`["REQ","all",{"limit":0}]`); err != nil {
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// AuthOtherRelay answers the relay's NIP-42 challenge with an AUTH event
// made for another relay's URL.
func AuthOtherRelay(ctx context.Context, t Target, rounds int, tally *Tally) error {
	sk := nostr.GeneratePrivateKey()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		c, err := dial(ctx, t, DialOptions{Header: http.Header{"Host": {"other-relay.example"}, "X-Forwarded-Host": {"other-relay.example"}}}, tally)
		if err != nil {
			return nil
		}
		// A REQ makes an --auth all relay send its challenge; others send it
		// on connect or not at all.
		_ = c.WriteText(`["REQ","a",{"limit":0}]`)
		var challenge string
		readAnswer(c, &Tally{}, func(l, msg string) bool {
			if l == "AUTH" {
				var arr []string
				_ = json.Unmarshal([]byte(msg), &arr)
				if len(arr) > 1 {
					challenge = arr[1]
				}
				return true
			}
			return strings.HasPrefix(l, "EOSE") || strings.HasPrefix(l, "CLOSED")
		})
		if challenge == "" {
			challenge = "no-challenge-sent"
		}
		evt := nostr.Event{Kind: 22242, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"relay", "ws://other-relay.example"}, {"challenge", challenge}}}
		if err := evt.Sign(sk); err != nil {
			return err
		}
		b, _ := json.Marshal([]any{"AUTH", evt})
		if c.WriteText(string(b)) == nil {
			readAnswer(c, tally, func(l, _ string) bool { return strings.HasPrefix(l, "OK") })
		}
		c.Close()
	}
	return nil
}

// XFFSpoof publishes from connections that each claim another client IP in
// X-Forwarded-For; per-IP limits must still see one client.
func XFFSpoof(ctx context.Context, t Target, rounds int, tally *Tally) error {
	sk := nostr.GeneratePrivateKey()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		ip := fmt.Sprintf("203.0.113.%d", i%250+1)
		c, err := dial(ctx, t, DialOptions{Header: http.Header{"X-Forwarded-For": {ip}, "X-Real-Ip": {ip}}}, tally)
		if err != nil {
			continue
		}
		for j := 0; j < 10; j++ {
			evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: fmt.Sprintf("xff %d %d", i, j)}
			if err := evt.Sign(sk); err != nil {
				c.Close()
				return err
			}
			b, _ := json.Marshal([]any{"EVENT", evt})
			if c.WriteText(string(b)) != nil {
				break
			}
			if _, ok := readAnswer(c, tally, func(l, _ string) bool { return strings.HasPrefix(l, "OK") }); !ok {
				break
			}
		}
		c.Close()
	}
	return nil
}

// FragmentHold starts a fragmented message and keeps the connection busy
// with unsolicited pongs and one-byte continuations, never finishing the
// message. The relay must end the connection.
func FragmentHold(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return nil
	}
	if err := c.WriteFrame(false, OpText, []byte(`["REQ","frag",`+strings.Repeat(" ", 4096))); err != nil {
		c.Close()
		return nil
	}
	var quitting atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := c.Read(time.Now().Add(time.Duration(rounds+10) * 200 * time.Millisecond))
		switch {
		case quitting.Load():
		case err == nil || !isTimeout(err):
			tally.Add("closed by relay")
		default:
			tally.Add("no answer")
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
loop:
	for i := 0; i < rounds; i++ {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if c.WriteFrame(true, OpPong, nil) != nil || c.WriteFrame(false, OpContinuation, []byte(" ")) != nil {
			// The relay ended the connection: the reader sees it too.
			<-done
			c.Close()
			return nil
		}
		tally.Add("fragment sent")
	}
	quitting.Store(true)
	c.Close()
	<-done
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ConnFlood opens rounds connections from one address and holds them.
func ConnFlood(ctx context.Context, t Target, rounds int, tally *Tally) error {
	var conns []*Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		c, err := dial(ctx, t, DialOptions{}, tally)
		if err != nil {
			switch {
			case errors.Is(err, ErrRefused):
			case isTimeout(err):
				tally.Add("dial timed out")
			default:
				tally.Add("dial failed")
			}
			continue
		}
		tally.Add("connected")
		conns = append(conns, c)
	}
	<-ctx.Done()
	return nil
}

// NegOpenFlood opens negentropy sessions over every stored event.
func NegOpenFlood(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return nil
	}
	defer c.Close()
	vec := vector.New()
	vec.Seal()
	neg := negentropy.New(vec, 1024*1024)
	initial := neg.Start()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("n%d", i)
		b, _ := json.Marshal([]any{"NEG-OPEN", id, map[string]any{}, initial})
		if c.WriteText(string(b)) != nil {
			tally.Add("closed by relay")
			return nil
		}
		if _, ok := readAnswer(c, tally, subAnswer(id)); !ok {
			return nil
		}
		_ = c.WriteText(`["NEG-CLOSE","` + id + `"]`)
	}
	return nil
}

// CountFlood sends COUNTs over every stored event, one at a time.
func CountFlood(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return nil
	}
	defer c.Close()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		id := fmt.Sprintf("c%d", i)
		if c.WriteText(`["COUNT","`+id+`",{},{"kinds":[1]}]`) != nil {
			tally.Add("closed by relay")
			return nil
		}
		if _, ok := readAnswer(c, tally, subAnswer(id)); !ok {
			return nil
		}
	}
	return nil
}

// NegativeKind publishes correctly signed events of negative kinds.
func NegativeKind(ctx context.Context, t Target, rounds int, tally *Tally) error {
	c, err := dial(ctx, t, DialOptions{}, tally)
	if err != nil {
		return nil
	}
	defer c.Close()
	sk := nostr.GeneratePrivateKey()
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		evt := nostr.Event{Kind: -1 - i, CreatedAt: nostr.Now(), Content: "negative"}
		if err := evt.Sign(sk); err != nil {
			return err
		}
		b, _ := json.Marshal([]any{"EVENT", evt})
		if c.WriteText(string(b)) != nil {
			return nil
		}
		if _, ok := readAnswer(c, tally, func(l, _ string) bool { return strings.HasPrefix(l, "OK") }); !ok {
			return nil
		}
	}
	return nil
}

// BadUTF8 sends text frames that are not UTF-8, each on a new connection.
func BadUTF8(ctx context.Context, t Target, rounds int, tally *Tally) error {
	for i := 0; i < rounds && ctx.Err() == nil; i++ {
		c, err := dial(ctx, t, DialOptions{}, tally)
		if err != nil {
			return nil
		}
		id := fmt.Sprintf("u%d", i)
		if c.WriteFrame(true, OpText, []byte("[\"REQ\",\""+id+"\",{\"#t\":[\"\xff\xfe\"]}]")) == nil {
			readAnswer(c, tally, subAnswer(id))
		}
		c.Close()
	}
	return nil
}
