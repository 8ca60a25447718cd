package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/bench/attack"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// rawClient is a websocket connection to a relay written frame by frame
// (bench/attack underneath), for messages a go-nostr client would never
// send (any header, fragments, unsolicited control frames) and for reading
// every answer. The embedded attack.Conn gives the raw frames.
type rawClient struct {
	*attack.Conn
	t *testing.T
}

// dialWS opens a websocket to url; the connection is closed when the test ends.
func dialWS(t *testing.T, url string, o attack.DialOptions) (*rawClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := attack.Dial(ctx, url, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{Conn: c, t: t}, nil
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	c, err := dialWS(t, url, attack.DialOptions{})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// dialWithHeader opens a websocket to url with header; on a refused upgrade
// it returns the HTTP status and body instead.
func dialWithHeader(t *testing.T, url string, header http.Header) (*rawClient, int, string) {
	t.Helper()
	c, err := dialWS(t, url, attack.DialOptions{Header: header})
	if err != nil {
		var refused *attack.RefusedError
		if errors.As(err, &refused) {
			return nil, refused.Status, refused.Body
		}
		t.Fatalf("dial %s: %v", url, err)
	}
	return c, http.StatusSwitchingProtocols, ""
}

// dialFrames opens a websocket to srv; rcvbuf, when positive, is the
// client's kernel receive buffer (set before connecting, so the TCP window
// stays small).
func dialFrames(t *testing.T, srv *relaytest.Server, rcvbuf int) *rawClient {
	t.Helper()
	c, err := dialWS(t, srv.URL, attack.DialOptions{ReadBuffer: rcvbuf})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.URL, err)
	}
	return c
}

func (c *rawClient) send(msg string) {
	c.t.Helper()
	c.sendFrame(attack.OpText, []byte(msg))
}

// sendJSON sends v as one JSON array.
func (c *rawClient) sendJSON(v ...any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.send(string(b))
}

func (c *rawClient) sendFrame(op byte, b []byte) {
	c.t.Helper()
	if err := c.WriteFrame(true, op, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// readMsg reads one data message; a close frame from the relay is an error.
func (c *rawClient) readMsg(deadline time.Time) ([]byte, error) {
	f, err := c.Read(deadline)
	if err != nil {
		return nil, err
	}
	if f.Op == attack.OpClose {
		return nil, fmt.Errorf("closed by the relay: %q", f.Payload)
	}
	return f.Payload, nil
}

// next reads one message as a JSON array; err is the read error (the
// connection closed).
func (c *rawClient) next() ([]json.RawMessage, error) {
	c.t.Helper()
	b, err := c.readMsg(time.Now().Add(5 * time.Second))
	if err != nil {
		return nil, err
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) == 0 {
		c.t.Fatalf("relay sent %q, not a JSON array", b)
	}
	return arr, nil
}

// nextOf returns the next message labelled label, skipping others.
func (c *rawClient) nextOf(label string) []json.RawMessage {
	c.t.Helper()
	for range 100 {
		b, err := c.readMsg(time.Now().Add(5 * time.Second))
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", label, err)
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) == 0 {
			continue
		}
		if str(msg[0]) == label {
			return msg
		}
	}
	c.t.Fatalf("no %s in 100 messages", label)
	return nil
}

// ok sends an EVENT or AUTH message with evt and returns its OK.
func (c *rawClient) ok(verb string, evt *nostr.Event) (bool, string) {
	c.t.Helper()
	c.sendJSON(verb, evt)
	m := c.nextOf("OK")
	var accepted bool
	var reason string
	if len(m) < 4 || json.Unmarshal(m[2], &accepted) != nil || json.Unmarshal(m[3], &reason) != nil {
		c.t.Fatalf("bad OK %s", m)
	}
	return accepted, reason
}

// until reads messages until one has label (any, if "") and (for a non-empty
// id) its second element is id, and returns it with the messages read before it.
func (c *rawClient) until(label, id string) (msg []json.RawMessage, before [][]json.RawMessage) {
	c.t.Helper()
	for range 10000 {
		arr, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s %q: %v (read before: %s)", label, id, err, show(before))
		}
		if (label == "" || str(arr[0]) == label) && (id == "" || (len(arr) > 1 && str(arr[1]) == id)) {
			return arr, before
		}
		before = append(before, arr)
	}
	c.t.Fatalf("no %s %q in 10000 messages", label, id)
	return nil, nil
}

// sync sends a REQ that matches nothing stored and waits for its EOSE: every
// message the relay meant to send before it has arrived, and the relay lives.
func (c *rawClient) sync() (before [][]json.RawMessage) {
	c.t.Helper()
	c.send(`["REQ","sync",{"ids":["` + strings.Repeat("0", 64) + `"]}]`)
	_, before = c.until("EOSE", "sync")
	c.send(`["CLOSE","sync"]`)
	return before
}

// waitFor reads messages until one contains want.
func (c *rawClient) waitFor(want string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := c.Read(deadline)
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", want, err)
		}
		if f.Op == attack.OpClose {
			c.t.Fatalf("waiting for %s: closed by the relay: %q", want, f.Payload)
		}
		if strings.Contains(string(f.Payload), want) {
			return
		}
	}
}

// waitClosed reads until the relay closes the connection.
func (c *rawClient) waitClosed(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		f, err := c.Read(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v", within)
			}
			return
		}
		if f.Op == attack.OpClose {
			return
		}
	}
}

// wantPrefix checks that arr's reason (element i) starts with prefix.
func wantPrefix(t *testing.T, arr []json.RawMessage, i int, prefix string) {
	t.Helper()
	if len(arr) <= i || !strings.HasPrefix(str(arr[i]), prefix) {
		t.Fatalf("got %s, want element %d to start with %q", show([][]json.RawMessage{arr}), i, prefix)
	}
}

func str(m json.RawMessage) string {
	var s string
	_ = json.Unmarshal(m, &s)
	return s
}

func show(msgs [][]json.RawMessage) string {
	var sb strings.Builder
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		sb.Write(b)
		sb.WriteByte(' ')
	}
	return sb.String()
}

func countLabel(msgs [][]json.RawMessage, label string) int {
	n := 0
	for _, m := range msgs {
		if str(m[0]) == label {
			n++
		}
	}
	return n
}

// metric reads one series (name with its labels) from the relay's /metrics, or -1 if absent.
func metric(t testing.TB, httpURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(httpURL + "/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	return -1
}
