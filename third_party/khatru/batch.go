package khatru

// sovmesh patch: this file is not in upstream khatru. It lets a REQ's stored
// events go out in few network writes, encoded without encoding/json.
//
// Upstream writes each stored event with WebSocket.WriteJSON: encoding/json
// reflects over nostr.EventEnvelope, calls its MarshalJSON, re-validates and
// compacts the whole output (appendCompact), and the websocket library then
// makes one write system call per event (two for an event over 1 KiB). A
// REQ of 100 events cost 100-200 system calls. Here the envelopes are
// written with easyjson straight into one buffer, and each batch of them is
// handed to the network in one write.

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/mailru/easyjson/jwriter"
	"github.com/nbd-wtf/go-nostr"
)

const (
	// batchBytes: a batch of stored events is written once it holds this much.
	batchBytes = 64 << 10
	// batchDelay: an event waits at most this long for more to join its batch
	// when the query has none ready (a slow scan still delivers steadily).
	batchDelay = 2 * time.Millisecond
)

// batchConn is the network connection under a WebSocket. Between hold and
// release, what the websocket library writes is collected and then written
// with one Write; otherwise writes go straight through. The library still
// frames every message and keeps its own state (close sent, write errors).
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     []byte
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchBytes+4<<10); return &b }}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *batchConn) hold() {
	c.mu.Lock()
	c.holding = true
	if c.buf == nil {
		c.buf = (*batchBufs.Get().(*[]byte))[:0]
	}
	c.mu.Unlock()
}

// release writes what was collected since hold. The buffer goes back to the
// pool, so an idle connection keeps none.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	var err error
	if len(c.buf) > 0 {
		_, err = c.Conn.Write(c.buf)
	}
	if cap(c.buf) <= 2*batchBytes {
		b := c.buf[:0]
		batchBufs.Put(&b)
	}
	c.buf = nil
	return err
}

// batchHijacker hands the websocket library a batchConn when it hijacks the
// HTTP connection.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
		if err != nil {
			return nil, nil, err
		}
		h.conn = &batchConn{Conn: c}
		return h.conn, rw, nil
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, rw, nil
}

func (h *batchHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// WriteTextMessages queues each of msgs as one text message, in order; the
// writer goroutine sends them with as few network writes as it can. It
// waits while the connection's send queue is half full (the sender is a
// REQ's own query, which may as well follow the client's pace), and fails
// once the connection is closed.
func (ws *WebSocket) WriteTextMessages(msgs ...[]byte) error {
	out := make([]outMsg, len(msgs))
	for i, m := range msgs {
		out[i] = outMsg{websocket.TextMessage, m}
	}
	return ws.queue.pushWait(out...)
}

// envelopeBatch collects EVENT envelopes for one subscription.
type envelopeBatch struct {
	w     jwriter.Writer
	ends  []int
	first time.Time // when the oldest envelope waiting was added
}

// addEvent appends ["EVENT",<subID>,<event>].
func (b *envelopeBatch) addEvent(subID string, evt *nostr.Event) {
	b.begin(subID)
	evt.MarshalEasyJSON(&b.w)
	b.end()
}

func (b *envelopeBatch) begin(subID string) {
	if len(b.ends) == 0 {
		b.first = time.Now()
		b.w.NoEscapeHTML = true
	}
	b.w.RawString(`["EVENT",`)
	b.w.String(subID)
	b.w.RawByte(',')
}

func (b *envelopeBatch) end() {
	b.w.RawByte(']')
	b.ends = append(b.ends, b.w.Size())
}

// addJSON appends ["EVENT",<subID>,<evt>], evt being one event's JSON.
func (b *envelopeBatch) addJSON(subID string, evt []byte) {
	b.begin(subID)
	b.w.Buffer.AppendBytes(evt)
	b.end()
}

func (b *envelopeBatch) len() int  { return len(b.ends) }
func (b *envelopeBatch) size() int { return b.w.Size() }

// flush writes the envelopes collected and empties the batch.
func (b *envelopeBatch) flush(ws *WebSocket) error {
	if len(b.ends) == 0 {
		return nil
	}
	all, err := b.w.BuildBytes()
	if err != nil {
		b.reset()
		return err
	}
	msgs := make([][]byte, len(b.ends))
	start := 0
	for i, end := range b.ends {
		msgs[i] = all[start:end:end]
		start = end
	}
	b.reset()
	return ws.WriteTextMessages(msgs...)
}

func (b *envelopeBatch) reset() {
	b.w = jwriter.Writer{NoEscapeHTML: true}
	b.ends = b.ends[:0]
}

// sendStored writes the values of ch as EVENT envelopes for subscription
// id, in order, batching them: a batch goes out when it reaches batchBytes,
// when ch closes, or when its oldest event has waited batchDelay and ch has
// nothing ready.
func sendStored[T any](ws *WebSocket, id string, ch chan T, add func(*envelopeBatch, string, T)) {
	var (
		b     envelopeBatch
		timer *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var (
			v  T
			ok bool
		)
		select {
		case v, ok = <-ch:
		default:
			if b.len() == 0 {
				v, ok = <-ch
				break
			}
			wait := batchDelay - time.Since(b.first)
			if wait <= 0 {
				b.flush(ws)
				v, ok = <-ch
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case v, ok = <-ch:
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
			case <-timer.C:
				b.flush(ws)
				v, ok = <-ch
			}
		}
		if !ok {
			b.flush(ws)
			return
		}
		add(&b, id, v)
		if b.size() >= batchBytes {
			b.flush(ws)
		}
	}
}

// eoseMessage is ["EOSE",<subID>].
func eoseMessage(subID string) []byte {
	w := jwriter.Writer{NoEscapeHTML: true}
	w.RawString(`["EOSE",`)
	w.String(subID)
	w.RawByte(']')
	b, _ := w.BuildBytes()
	return b
}

// writeNegMessage queues ["NEG-MSG",<subID>,<msg>] as WriteJSON would.
func (ws *WebSocket) writeNegMessage(subID, msg string) error {
	return ws.send(outMsg{websocket.TextMessage, negMessage(subID, msg)})
}

// negMessage is ["NEG-MSG",<subID>,<message>] (sovmesh patch: written
// without encoding/json, whose reflection and re-compacting of the whole
// hex message, up to the client's frame limit, were a quarter of a
// NEG-OPEN's cost).
func negMessage(subID, msg string) []byte {
	w := jwriter.Writer{NoEscapeHTML: true}
	w.RawString(`["NEG-MSG",`)
	w.String(subID)
	w.RawByte(',')
	w.String(msg)
	w.RawByte(']')
	b, _ := w.BuildBytes()
	return b
}
