package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	big := bytes.Repeat([]byte{7}, 10000)
	for _, w := range []struct {
		typ   byte
		parts [][]byte
	}{{1, nil}, {2, [][]byte{[]byte("ab"), []byte("c")}}, {3, [][]byte{big}}} {
		if err := Write(&buf, w.typ, w.parts...); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf, 1<<20)
	want := []struct {
		typ  byte
		body []byte
	}{{1, []byte{}}, {2, []byte("abc")}, {3, big}}
	for i, w := range want {
		typ, body, err := r.Next()
		if err != nil || typ != w.typ || !bytes.Equal(body, w.body) {
			t.Fatalf("frame %d: %d %d bytes %v", i, typ, len(body), err)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// TestPutHeader builds frames in place, each header written over the last
// bytes of the body before it (as a sender reusing one buffer does), and
// reads them back.
func TestPutHeader(t *testing.T) {
	tests := []struct {
		name   string
		bodies []int // body sizes, carved one after another from one buffer
	}{
		{"empty body", []int{0}},
		{"one frame", []int{1000}},
		{"split in three", []int{10, 70000, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, n := range tc.bodies {
				total += n
			}
			buf := make([]byte, HeaderSize+total)
			for i := range total {
				buf[HeaderSize+i] = byte(i * 7)
			}
			want := slices.Clone(buf[HeaderSize:])
			var out bytes.Buffer
			off := HeaderSize
			for i, n := range tc.bodies {
				f := buf[off-HeaderSize : off+n]
				PutHeader(f, byte(i+1), n)
				out.Write(f)
				off += n
			}
			r := NewReader(&out, HardMax)
			at := 0
			for i, n := range tc.bodies {
				typ, body, err := r.Next()
				if err != nil || typ != byte(i+1) || !bytes.Equal(body, want[at:at+n]) {
					t.Fatalf("frame %d: type %d, %d bytes, %v; want type %d, %d bytes", i, typ, len(body), err, i+1, n)
				}
				at += n
			}
			if _, _, err := r.Next(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}
		})
	}
}

func TestBadFrames(t *testing.T) {
	hdr := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty frame", hdr(0), ErrEmpty},
		{"oversized", hdr(101), ErrTooLarge},
		{"huge", hdr(0xffffffff), ErrTooLarge},
		{"truncated header", []byte{0, 0}, ErrTruncated},
		{"missing type", hdr(5), ErrTruncated},
		{"truncated body", append(hdr(5), 1, 2), ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewReader(bytes.NewReader(tc.in), 100).Next()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	var seed bytes.Buffer
	_ = Write(&seed, 1, []byte("hello"))
	_ = Write(&seed, 2, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 64)
		var total int
		for range len(in) + 1 {
			_, body, err := r.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if len(body) > 63 {
				t.Fatalf("body of %d bytes passed a 64-byte limit", len(body))
			}
			total += HeaderSize + len(body)
			if total > len(in) {
				t.Fatal("read more than the input")
			}
		}
		t.Fatal("reader did not terminate")
	})
}

func TestNextInto(t *testing.T) {
	tests := []struct {
		name    string
		body    int
		dstCap  int
		inPlace bool
	}{
		{"fits", 1000, 1000, true},
		{"fits with room", 10, 4096, true},
		{"too small", 1000, 999, false},
		{"no dst", 1000, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			body := bytes.Repeat([]byte{5}, tc.body)
			if err := Write(&buf, 9, body); err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, 0, tc.dstCap)
			typ, got, err := NewReader(&buf, 1<<20).NextInto(dst)
			if err != nil || typ != 9 || !bytes.Equal(got, body) {
				t.Fatalf("got type %d, %d bytes, %v", typ, len(got), err)
			}
			inPlace := tc.dstCap > 0 && &got[0] == &dst[:1][0]
			if inPlace != tc.inPlace {
				t.Fatalf("read in place %v, want %v", inPlace, tc.inPlace)
			}
		})
	}
}

var errStall = errors.New("stalled")

// stallReader serves its chunks in order, failing with errStall once
// before the first byte of each.
type stallReader struct {
	chunks  [][]byte
	started bool // the first chunk has been stalled on
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	if !r.started {
		r.started = true
		return 0, errStall
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; len(r.chunks[0]) == 0 {
		r.chunks, r.started = r.chunks[1:], false
	}
	return n, nil
}

// TestResumeWaitingForHeader: a read that fails while waiting for a
// frame's length (a deadline) resumes, on the next call, with the length
// bytes already read, whatever their number.
func TestResumeWaitingForHeader(t *testing.T) {
	var buf bytes.Buffer
	_ = Write(&buf, 1, []byte("first"))
	first := buf.Len()
	_ = Write(&buf, 2, []byte("second"))
	in := buf.Bytes()
	for split := range 4 {
		t.Run(fmt.Sprintf("%d length bytes before the stall", split), func(t *testing.T) {
			// The first frame arrives whole, the second's length in two parts.
			r := &stallReader{chunks: [][]byte{in[:first], in[first : first+split], in[first+split:]}}
			fr := NewReader(r, 100)
			var got []string
			for range 10 {
				typ, body, err := fr.Next()
				if errors.Is(err, errStall) {
					continue
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				got = append(got, fmt.Sprintf("%d:%s", typ, body))
			}
			if want := []string{"1:first", "2:second"}; !slices.Equal(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
		})
	}
}
