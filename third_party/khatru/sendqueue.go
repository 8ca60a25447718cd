package khatru

// sovmesh patch: this file is not in upstream khatru. Every message to a
// client goes through a bounded queue drained by one writer goroutine per
// connection, and every network write has a deadline (Relay.WriteWait).
//
// Upstream wrote in the goroutine of whoever sent: a publisher's broadcast
// wrote to each matching subscriber itself, with no write deadline, so one
// subscriber that stopped reading blocked every publisher it matched (and,
// through the connection's mutex, everything else written to it) forever.
// Here a sender only appends to the queue; a connection whose queue is full,
// or whose write misses its deadline, is closed and reported to
// Relay.OnConnectionDropped. Messages to one connection keep their order.

import (
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Reasons passed to Relay.OnConnectionDropped.
const (
	// DropSlowConsumer: the client did not read fast enough (its send
	// queue filled up, or a write missed Relay.WriteWait).
	DropSlowConsumer = "slow_consumer"
	// DropMessageTimeout: the client took longer than
	// Relay.MaxMessageAssembly to send one message.
	DropMessageTimeout = "message_timeout"
)

// ErrConnectionClosed is returned by writes to a closed connection.
var ErrConnectionClosed = errors.New("connection closed")

type outMsg struct {
	typ  int
	data []byte
}

// sendQueue holds the messages waiting for a connection's writer. Its counts
// include the messages the writer has taken but not yet written, so the
// bounds hold for everything the connection keeps in memory.
type sendQueue struct {
	mu       sync.Mutex
	space    *sync.Cond // signalled when messages are written or the queue closes
	pending  []outMsg
	msgs     int // pending and being written
	bytes    int
	maxMsgs  int
	maxBytes int
	closed   bool
	wake     chan struct{}   // one token: the writer has work
	idle     []chan struct{} // closed when the queue is empty or closed
}

func newSendQueue(maxMsgs, maxBytes int) *sendQueue {
	q := &sendQueue{maxMsgs: maxMsgs, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
	q.space = sync.NewCond(&q.mu)
	return q
}

func msgBytes(msgs []outMsg) int {
	n := 0
	for _, m := range msgs {
		n += len(m.data)
	}
	return n
}

// push appends msgs without waiting. full reports that they do not fit
// (nothing was queued then); a close frame always fits.
func (q *sendQueue) push(msgs ...outMsg) (full bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, ErrConnectionClosed
	}
	n := msgBytes(msgs)
	control := len(msgs) == 1 && msgs[0].typ == websocket.CloseMessage
	if !control && (q.msgs+len(msgs) > q.maxMsgs || q.bytes+n > q.maxBytes) {
		return true, nil
	}
	q.add(msgs, n)
	return false, nil
}

// pushWait appends msgs once the queue is at most half full with them (or
// empty, for a batch larger than that), so a sender that may wait (a REQ's
// stored events) never takes the room pushes need.
func (q *sendQueue) pushWait(msgs ...outMsg) error {
	n := msgBytes(msgs)
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.msgs > 0 && (q.msgs+len(msgs) > q.maxMsgs/2 || q.bytes+n > q.maxBytes/2) {
		q.space.Wait()
	}
	if q.closed {
		return ErrConnectionClosed
	}
	q.add(msgs, n)
	return nil
}

func (q *sendQueue) add(msgs []outMsg, n int) {
	q.pending = append(q.pending, msgs...)
	q.msgs += len(msgs)
	q.bytes += n
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take hands the writer what is pending.
func (q *sendQueue) take() []outMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.pending
	q.pending = nil
	return msgs
}

// written releases the room of msgs once the writer is done with them.
func (q *sendQueue) written(msgs []outMsg) {
	q.mu.Lock()
	q.msgs -= len(msgs)
	q.bytes -= msgBytes(msgs)
	if q.msgs == 0 {
		q.wakeIdle()
	}
	q.mu.Unlock()
	q.space.Broadcast()
}

func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.pending = nil
	q.wakeIdle()
	q.mu.Unlock()
	q.space.Broadcast()
}

// drained returns a channel closed once nothing is left to write.
func (q *sendQueue) drained() <-chan struct{} {
	ch := make(chan struct{})
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.msgs == 0 {
		close(ch)
	} else {
		q.idle = append(q.idle, ch)
	}
	return ch
}

func (q *sendQueue) wakeIdle() {
	for _, ch := range q.idle {
		close(ch)
	}
	q.idle = nil
}

// send queues msgs without waiting; a connection whose queue is full is
// dropped as a slow consumer.
func (ws *WebSocket) send(msgs ...outMsg) error {
	full, err := ws.queue.push(msgs...)
	if full {
		ws.drop(DropSlowConsumer, "send queue full")
		return ErrConnectionClosed
	}
	return err
}

// drop closes the connection for reason, reporting it once. The read loop
// then ends the connection as for any network error.
func (ws *WebSocket) drop(reason, detail string) {
	ws.dropOnce.Do(func() {
		if ws.onDrop != nil {
			ws.onDrop(reason, detail)
		}
		ws.queue.close()
		ws.conn.Close()
	})
}

// writeLoop is the connection's only writer: it writes what is queued, in
// order, collecting up to batchBytes into one network write, and pings the
// client every pingPeriod. It returns when ctx is done or a write fails.
func (ws *WebSocket) writeLoop(writeWait, pingPeriod time.Duration) {
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ws.Context.Done():
			return
		case <-ws.queue.wake:
			msgs := ws.queue.take()
			err := ws.writeBatch(msgs, writeWait)
			ws.queue.written(msgs)
			if err != nil {
				ws.writeFailed(err)
				return
			}
		case <-ticker.C:
			var b [8]byte
			rand.Read(b[:])
			ws.pingMu.Lock()
			ws.ping = string(b[:])
			ws.pingMu.Unlock()
			if err := ws.conn.WriteControl(websocket.PingMessage, b[:], time.Now().Add(writeWait)); err != nil {
				ws.writeFailed(err)
				return
			}
		}
	}
}

func (ws *WebSocket) writeFailed(err error) {
	if isTimeout(err) {
		ws.drop(DropSlowConsumer, "write timeout")
		return
	}
	ws.queue.close()
	ws.conn.Close()
}

// writeBatch writes msgs, with one network write per batchBytes when the
// connection was hijacked through a batchConn. Each network write must
// finish within writeWait.
func (ws *WebSocket) writeBatch(msgs []outMsg, writeWait time.Duration) error {
	for len(msgs) > 0 {
		if ws.closeSent {
			return nil // the library refuses to write after a close frame
		}
		if ws.batch != nil {
			ws.batch.hold()
		}
		deadline := time.Now().Add(writeWait)
		ws.conn.SetWriteDeadline(deadline)
		var err error
		size := 0
		for len(msgs) > 0 && (size < batchBytes || size == 0) {
			m := msgs[0]
			msgs = msgs[1:]
			size += len(m.data)
			if m.typ == websocket.TextMessage || m.typ == websocket.BinaryMessage {
				err = ws.conn.WriteMessage(m.typ, m.data)
			} else {
				err = ws.conn.WriteControl(m.typ, m.data, deadline)
			}
			if m.typ == websocket.CloseMessage {
				ws.closeSent = true
				break
			}
			if err != nil || ws.batch == nil {
				break
			}
		}
		if ws.batch != nil {
			if rerr := ws.batch.release(); err == nil {
				err = rerr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pongAnswersPing reports whether a pong's data is that of the last ping
// sent; unsolicited pongs do not keep a connection alive.
func (ws *WebSocket) pongAnswersPing(data string) bool {
	ws.pingMu.Lock()
	defer ws.pingMu.Unlock()
	return ws.ping != "" && data == ws.ping
}
