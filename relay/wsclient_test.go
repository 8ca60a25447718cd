package relay_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// rawClient is a plain websocket connection to a relay, for messages a
// go-nostr client would never send and for reading every answer.
type rawClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c}
}

func (c *rawClient) send(msg string) {
	c.t.Helper()
	c.sendFrame(websocket.TextMessage, []byte(msg))
}

func (c *rawClient) sendFrame(typ int, b []byte) {
	c.t.Helper()
	if err := c.c.WriteMessage(typ, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads one message as a JSON array; err is the read error (the
// connection closed).
func (c *rawClient) next() ([]json.RawMessage, error) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) == 0 {
		c.t.Fatalf("relay sent %q, not a JSON array", b)
	}
	return arr, nil
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
