package transport

// Fuzz targets for the frame body decoders of every protocol, and for the
// provider's side of a bandwidth session fed arbitrary frames. Properties:
// no panic; malformed input is refused with the protocol's sentinel; a
// decoded value re-encodes to the same bytes where the encoding is
// canonical.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/internal/frame"
)

func FuzzNeedPayBody(f *testing.F) {
	f.Add(u64s(1, 2, 3))
	f.Add(u64s(0, 0, 1))
	f.Add([]byte{})
	f.Add(make([]byte, 23))
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, body []byte) {
		used, credit, need, err := decodeNeedPay(body)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || len(body) == 24 {
				t.Fatalf("refused %d bytes: %v", len(body), err)
			}
			return
		}
		if got := u64s(used, credit, need); !bytes.Equal(got, body) {
			t.Fatalf("re-encoded %x, decoded from %x", got, body)
		}
	})
}

// FuzzSessionBody: a SESSION frame's body names no session (empty) or a
// 32-byte one; anything else is refused with ErrBadRequest, and a decoded
// session re-encodes to the same bytes.
func FuzzSessionBody(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 31))
	f.Add(make([]byte, 33))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := decodeSession(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) || len(body) == 0 || len(body) == sessionIDSize {
				t.Fatalf("refused %d bytes: %v", len(body), err)
			}
			return
		}
		if (id == "") != (len(body) == 0) {
			t.Fatalf("decoded %q from %d bytes", id, len(body))
		}
		got, err := encodeSession(id)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("re-encoded %x (%v), decoded %q from %x", got, err, id, body)
		}
		// The hex form the buyer names is what the provider decodes.
		if id != "" && id != strings.ToLower(id) {
			t.Fatalf("decoded %q, not lowercase hex", id)
		}
	})
}

// FuzzU64Body covers WANT, GRANT, CREDIT and the OK answers to CONNECT and
// to an inference.
func FuzzU64Body(f *testing.F) {
	f.Add(u64s(0))
	f.Add(u64s(1 << 40))
	f.Add([]byte{})
	f.Add(make([]byte, 7))
	f.Add(make([]byte, 9))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decodeU64("GRANT", body)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || len(body) == 8 || !strings.Contains(err.Error(), "GRANT") {
				t.Fatalf("refused %d bytes: %v", len(body), err)
			}
			return
		}
		if got := u64s(v); !bytes.Equal(got, body) {
			t.Fatalf("re-encoded %x, decoded from %x", got, body)
		}
	})
}

func FuzzRemoteErrorBody(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeRemoteError(errCode(ErrNotFound), ErrNotFound.Error()))
	f.Add(encodeRemoteError(errCode(ErrTooLarge), "transport: too large: frame: too large"))
	f.Add([]byte{byte(len(codeErrs))})
	f.Add(append([]byte{0xff}, bytes.Repeat([]byte("x"), 600)...))
	f.Add([]byte{3, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, body []byte) {
		err := decodeRemoteError(body)
		var re *RemoteError
		if !errors.As(err, &re) {
			t.Fatalf("decoded %T", err)
		}
		_ = err.Error()
		// Every code stands for a sentinel: its own, or ErrRemoteInternal.
		want := ErrRemoteInternal
		if int(re.Code) < len(codeErrs) {
			want = codeErrs[re.Code]
		}
		if !errors.Is(err, want) {
			t.Fatalf("code %d unwraps to %v, want %v", re.Code, re.Unwrap(), want)
		}
		if len(re.Msg) > maxErrMsg {
			t.Fatalf("message of %d bytes passed the %d-byte bound", len(re.Msg), maxErrMsg)
		}
		if len(body) == 0 {
			return
		}
		// Canonical up to the bound; longer messages are cut.
		if got := encodeRemoteError(re.Code, re.Msg); !bytes.Equal(got, body[:min(len(body), 1+maxErrMsg)]) {
			t.Fatalf("re-encoded %q, decoded from %q", got, body)
		}
	})
}

// TestRemoteErrorCodes: every sentinel survives the trip through an ERR
// frame, also wrapped; an error wrapping one arrives as that sentinel.
func TestRemoteErrorCodes(t *testing.T) {
	tests := []struct{ sent, want error }{{ErrTargetNotAllowed, ErrTargetRefused}}
	for _, e := range codeErrs {
		tests = append(tests, struct{ sent, want error }{fmt.Errorf("%w: details", e), e})
	}
	for _, tc := range tests {
		t.Run(tc.sent.Error(), func(t *testing.T) {
			got := decodeRemoteError(encodeRemoteError(errCode(tc.sent), tc.sent.Error()))
			if !errors.Is(got, tc.want) || got.Error() != "transport: remote: "+tc.sent.Error() {
				t.Fatalf("sent %v, got %v", tc.sent, got)
			}
		})
	}
}

func FuzzConnectBody(f *testing.F) {
	f.Add([]byte("127.0.0.1:80"))
	f.Add([]byte("[::1]:443"))
	f.Add([]byte("example.com:https"))
	f.Add([]byte("example"))
	f.Add([]byte(":"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte("a"), maxTarget+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		target, err := decodeConnect(body)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("refused %q: %v", body, err)
			}
			return
		}
		if target != string(body) || len(target) == 0 || len(target) > maxTarget {
			t.Fatalf("accepted %q as %q", body, target)
		}
		if _, _, err := net.SplitHostPort(target); err != nil {
			t.Fatalf("accepted %q: %v", target, err)
		}
	})
}

func FuzzDeleteBody(f *testing.F) {
	// A real authorization by a fixed owner for a fixed provider, checked
	// at a fixed time (BIP-340 signing is deterministic): the fuzzer
	// mutates it.
	now := time.Unix(1_800_000_000, 0)
	provider := peer.ID("fuzz provider")
	priv, err := IdentityFromNostrSecret(strings.Repeat("07", 32))
	if err != nil {
		f.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	owner, err := nostrKeyBytes(id)
	if err != nil {
		f.Fatal(err)
	}
	cid := chunk.Sum([]byte("fuzz"))
	expiry := now.Add(time.Minute).Unix()
	sig, err := signDelete(priv.(interface{ Raw() ([]byte, error) }), provider, cid, expiry)
	if err != nil {
		f.Fatal(err)
	}
	valid := encodeDelete(owner, expiry, sig)
	if err := verifyDelete(provider, cid, owner, expiry, sig, now); err != nil {
		f.Fatalf("seed authorization refused: %v", err)
	}
	f.Add(valid)
	f.Add(valid[:deleteSize-1])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add(encodeDelete(owner, now.Add(-time.Second).Unix(), sig))
	f.Add(encodeDelete(owner, now.Add(2*MaxDeleteValidity).Unix(), sig))
	f.Add(make([]byte, deleteSize))
	f.Fuzz(func(t *testing.T, rest []byte) {
		signer, exp, s, err := decodeDelete(rest)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) || len(rest) == deleteSize {
				t.Fatalf("refused %d bytes: %v", len(rest), err)
			}
			return
		}
		if got := encodeDelete(signer, exp, s); !bytes.Equal(got, rest) {
			t.Fatalf("re-encoded %x, decoded from %x", got, rest)
		}
		// Only the owner's own signature, unaltered, authorizes.
		err = verifyDelete(provider, cid, signer, exp, s, now)
		if err == nil && !bytes.Equal(rest, valid) {
			t.Fatalf("accepted a delete authorization nobody signed: %x", rest)
		}
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("refused with %v, want ErrUnauthorized", err)
		}
	})
}

// fakeStream is a network.Stream that reads r and writes w, ignoring
// deadlines, to drive one side of a session without a network. Other
// methods are not implemented (nil embedded interface).
type fakeStream struct {
	network.Stream
	r io.Reader
	w io.Writer
}

func (s *fakeStream) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *fakeStream) Write(p []byte) (int, error)      { return s.w.Write(p) }
func (s *fakeStream) SetDeadline(time.Time) error      { return nil }
func (s *fakeStream) SetReadDeadline(time.Time) error  { return nil }
func (s *fakeStream) SetWriteDeadline(time.Time) error { return nil }

// sinkConn is a target that takes every byte written to it.
type sinkConn struct {
	net.Conn
	n uint64
}

func (c *sinkConn) Write(p []byte) (int, error)      { c.n += uint64(len(p)); return len(p), nil }
func (c *sinkConn) SetWriteDeadline(time.Time) error { return nil }

// byteGate grants as many units as a token's first byte says (0 refused).
type byteGate struct{}

func (byteGate) Open(context.Context, Session) (uint64, error) { return 0, nil }
func (byteGate) Close(context.Context, Session, Usage)         {}
func (byteGate) Redeem(_ context.Context, _ Session, tok []byte) (uint64, error) {
	if len(tok) == 0 || tok[0] == 0 {
		return 0, errors.New("bad token")
	}
	return uint64(tok[0]), nil
}

func frames(fs ...[]byte) []byte {
	var b bytes.Buffer
	for _, f := range fs {
		if err := frame.Write(&b, f[0], f[1:]); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

func fr(typ byte, body []byte) []byte { return append([]byte{typ}, body...) }

// FuzzBandwidthFrames feeds arbitrary bytes to the provider's reader of a
// bandwidth session (credit starting at the fuzzed value, payments of the
// token's first byte in units): it never panics, never carries a byte the
// buyer was not granted or the credit does not cover, answers only with
// well-formed GRANT, NEEDPAY, CREDIT and ERR frames, and ends on bad input
// with a sentinel it reports in a last ERR frame.
func FuzzBandwidthFrames(f *testing.F) {
	want := func(n uint64) []byte { return fr(tWant, u64s(n)) }
	f.Add(uint64(100), frames(want(5), fr(tData, []byte("hello")), fr(tEOF, nil)))
	f.Add(uint64(3), frames(want(5), fr(tPay, []byte{2}), fr(tData, []byte("hello"))))
	f.Add(uint64(0), frames(want(5), fr(tPay, []byte{0})))
	f.Add(uint64(10), frames(fr(tData, []byte("past"))))
	f.Add(uint64(10), frames(want(2), fr(tEOF, nil), fr(tData, []byte("x"))))
	f.Add(uint64(10), frames(fr(tWant, []byte{1, 2}), fr(0x7f, nil)))
	f.Add(uint64(1<<63), frames(want(1<<62), want(1<<63), fr(tData, make([]byte, 100))))
	f.Add(uint64(10), []byte{0, 0, 0, 0})
	f.Add(uint64(10), []byte{0xff, 0xff, 0xff, 0xff, tData})
	f.Add(uint64(10), []byte{0, 0, 0, 9, tWant, 0, 0})
	f.Fuzz(func(t *testing.T, credit uint64, in []byte) {
		var out bytes.Buffer
		s := &fakeStream{r: bytes.NewReader(in), w: &out}
		target := &sinkConn{}
		b := &bwSession{
			t: &Host{cfg: DefaultConfig()}, c: newConn(s, maxBwFrame, time.Second), target: target,
			m: &meter{gate: byteGate{}, credit: credit}, credits: make(chan struct{}, 1),
		}
		b.touch()
		err := b.report(b.up(t.Context()))
		u, granted := b.m.usage, b.granted
		if u.BytesIn > granted || u.Units+(granted-u.BytesIn) > b.m.credit || u.Units != u.BytesIn || target.n != u.BytesIn {
			t.Fatalf("carried %+v to the target (%d bytes) on a grant of %d and credit %d", u, target.n, granted, b.m.credit)
		}
		reported := errors.Is(err, errReported)
		if !reported && !errors.Is(err, io.EOF) {
			t.Fatalf("session ended with %v, want a reported error or EOF", err)
		}
		// What the provider answered.
		rd := frame.NewReader(&out, 0)
		var lastGrant uint64
		for {
			typ, body, ferr := rd.Next()
			if ferr == io.EOF {
				if reported {
					t.Fatalf("error %v not sent to the buyer", err)
				}
				return
			}
			if ferr != nil {
				t.Fatalf("provider wrote a bad frame: %v", ferr)
			}
			switch typ {
			case rGrant:
				g, derr := decodeU64("GRANT", body)
				if derr != nil || g <= lastGrant || g > granted {
					t.Fatalf("GRANT %d after %d, granted %d: %v", g, lastGrant, granted, derr)
				}
				lastGrant = g
			case rNeedPay:
				if _, _, _, derr := decodeNeedPay(body); derr != nil {
					t.Fatal(derr)
				}
			case rCredit:
				if _, derr := decodeU64("CREDIT", body); derr != nil {
					t.Fatal(derr)
				}
			case rErr:
				sent := decodeRemoteError(body).(*RemoteError)
				if !reported || !errors.Is(err, sent.Unwrap()) {
					t.Fatalf("sent %v, session ended with %v", sent, err)
				}
				if typ, _, ferr := rd.Next(); ferr != io.EOF {
					t.Fatalf("frame %#x after ERR (%v)", typ, ferr)
				}
				return
			default:
				t.Fatalf("provider sent frame %#x", typ)
			}
		}
	})
}
