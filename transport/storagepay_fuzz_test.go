package transport

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/internal/frame"
)

// mapStore is an in-memory ChunkStore for fuzzing the storage protocol.
type mapStore struct {
	mu sync.Mutex
	m  map[chunk.CID][]byte
}

func (s *mapStore) Put(c chunk.CID, _ [32]byte, data []byte) error {
	if chunk.Sum(data) != c {
		return ErrCIDMismatch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c] = append([]byte(nil), data...)
	return nil
}

func (s *mapStore) Get(c chunk.CID, buf []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[c]
	if !ok {
		return nil, ErrNotFound
	}
	return append(buf, d...), nil
}

func (s *mapStore) Has(c chunk.CID) (bool, error)               { _, err := s.Get(c, nil); return err == nil, nil }
func (s *mapStore) Delete(chunk.CID, [32]byte) error            { return nil }
func (s *mapStore) Prove(chunk.CID, [32]byte) ([32]byte, error) { return [32]byte{}, nil }
func (s *mapStore) bytes() (n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.m {
		n += uint64(len(d))
	}
	return n
}

// FuzzStorageFrames feeds arbitrary frames to a provider's storage request
// loop on a metered account (credit starting at the fuzzed value, payments
// of the token's first byte in units, payments asked ahead): it never
// panics, never uses more units than were redeemed, charges a stored chunk
// its bytes, and answers only with well-formed OK, DATA, NEEDPAY and ERR
// frames.
func FuzzStorageFrames(f *testing.F) {
	data := []byte("some ciphertext")
	cid := chunk.Sum(data)
	put := fr(tPut, append(cid[:], data...))
	get := fr(tGet, cid[:])
	f.Add(uint64(100), frames(put, get))
	f.Add(uint64(0), frames(put, fr(tPay, []byte{20}), fr(tPay, []byte{20}), get, fr(tPay, nil)))
	f.Add(uint64(16), frames(put, fr(tPay, []byte{30}), get, fr(tPay, []byte{0})))
	f.Add(uint64(15), frames(put, fr(tPay, []byte{1}), get))
	f.Add(uint64(0), frames(fr(tPay, []byte{5})))
	f.Add(uint64(10), frames(fr(tPut, []byte{1, 2}), fr(0x7f, nil)))
	f.Add(uint64(10), []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, credit uint64, in []byte) {
		var out bytes.Buffer
		s := &fakeStream{r: bytes.NewReader(in), w: &out}
		h := &Host{cfg: DefaultConfig(), ctx: t.Context()}
		c := newConn(s, maxStorageFrame, time.Second)
		a := &storageAccount{t: h, m: &meter{gate: byteGate{}, credit: credit}, changed: make(chan struct{})}
		st := &mapStore{m: map[chunk.CID][]byte{}}
		var buf []byte
		for range 100 {
			typ, body, err := c.read(time.Second)
			if err != nil {
				break
			}
			var ans []byte
			ansTyp := rOK
			err = h.storageRequest(t.Context(), c, a, st, [32]byte{}, typ, body, &buf, &ans, &ansTyp)
			if err != nil {
				_ = c.writeErr(err)
				if errors.Is(err, errFatal) {
					break
				}
				continue
			}
			_ = c.write(ansTyp, ans)
		}
		a.redeems.Wait()
		if a.m.usage.Units > a.m.credit {
			t.Fatalf("used %d units on a credit of %d", a.m.usage.Units, a.m.credit)
		}
		if a.m.usage.Units < st.bytes() {
			t.Fatalf("stored %d bytes for %d units", st.bytes(), a.m.usage.Units)
		}
		rd := frame.NewReader(&out, 0)
		for {
			typ, body, ferr := rd.Next()
			if ferr == io.EOF {
				return
			}
			if ferr != nil {
				t.Fatalf("provider wrote a bad frame: %v", ferr)
			}
			switch typ {
			case rOK, rData:
			case rNeedPay:
				if _, _, _, derr := decodeNeedPay(body); derr != nil {
					t.Fatal(derr)
				}
			case rErr:
				if _, ok := decodeRemoteError(body).(*RemoteError); !ok {
					t.Fatalf("ERR frame %x", body)
				}
			default:
				t.Fatalf("provider sent frame %#x", typ)
			}
		}
	})
}
