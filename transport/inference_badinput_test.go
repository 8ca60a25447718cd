package transport_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// inferenceProvider starts a host serving the echo model, metered by a
// gate granting initial free chunks, logging to the returned recorder.
func inferenceProvider(t *testing.T, initial uint64, opts ...transport.Option) (*transport.Host, *logRecorder) {
	t.Helper()
	logs, logOpt := newLogRecorder()
	prov := newHost(t, append([]transport.Option{logOpt}, opts...)...)
	prov.ServeInference(echoModel{}, &meter.Gate{Initial: initial})
	return prov, logs
}

// checkInference shows that prov still serves: one completion, paid.
func checkInference(t *testing.T, buyer, prov *transport.Host) {
	t.Helper()
	s, err := buyer.Infer(t.Context(), prov.ID(), chatRequest("still here"), &meter.Payer{Step: 1})
	if err != nil {
		t.Fatalf("provider unhealthy: %v", err)
	}
	words, err := collect(t, s)
	if err != nil || strings.Join(words, " ") != "still here" {
		t.Fatalf("provider unhealthy: got %q: %v", words, err)
	}
}

// TestInferenceProviderRefusesBadFrames sends what the client never sends
// (it checks requests first) on a raw inference stream: the provider's own
// checks answer each with an ERR frame naming the problem, close the
// stream, log the error, and the provider goes on serving.
func TestInferenceProviderRefusesBadFrames(t *testing.T) {
	hdr := func(n uint32) []byte { return u64(uint64(n))[4:] }
	valid := chatRequest("a b c")
	tests := []struct {
		name string
		// unpaid: no free chunk, so the provider stops at a pause point
		// before the first one (NEEDPAY).
		unpaid     bool
		payTimeout time.Duration
		send       [][]byte
		closeWrite bool
		want       error
		msg        string
	}{
		{name: "malformed JSON", send: [][]byte{frameOf(fInfer, []byte(`{"model":"echo","messages":[`))}, want: transport.ErrBadRequest, msg: "not a chat completion"},
		{name: "not an object", send: [][]byte{frameOf(fInfer, []byte(`["echo"]`))}, want: transport.ErrBadRequest, msg: "not a chat completion"},
		{name: "no model", send: [][]byte{frameOf(fInfer, []byte(`{"messages":[{"role":"user","content":"hi"}]}`))}, want: transport.ErrBadRequest, msg: "no model"},
		{name: "no messages", send: [][]byte{frameOf(fInfer, []byte(`{"model":"echo","messages":[]}`))}, want: transport.ErrBadRequest, msg: "no messages"},
		{name: "message without a role", send: [][]byte{frameOf(fInfer, []byte(`{"model":"echo","messages":[{"content":"hi"}]}`))}, want: transport.ErrBadRequest, msg: "no role"},
		{name: "empty request", send: [][]byte{frameOf(fInfer)}, want: transport.ErrBadRequest, msg: "not a chat completion"},
		{name: "wrong first frame", send: [][]byte{frameOf(fChunk, valid)}, want: transport.ErrBadRequest, msg: "want INFER, got 0x31"},
		{name: "oversized request", send: [][]byte{hdr(1 + transport.MaxInferenceRequest + 1), {fInfer}}, want: transport.ErrTooLarge, msg: "too large"},
		{name: "empty frame", send: [][]byte{hdr(0)}, want: transport.ErrProtocol, msg: "empty"},
		{name: "truncated request", send: [][]byte{hdr(uint32(1 + len(valid))), {fInfer}, valid[:10]}, closeWrite: true, want: transport.ErrProtocol, msg: "truncated"},
		{name: "wrong frame at pause point", unpaid: true, send: [][]byte{frameOf(fInfer, valid), frameOf(fInfer, valid)}, want: transport.ErrProtocol, msg: "at pause point"},
		{name: "truncated payment", unpaid: true, send: [][]byte{frameOf(fInfer, valid), hdr(50), {fPay}, []byte("units:")}, closeWrite: true, want: transport.ErrProtocol, msg: "truncated"},
		{name: "bad payment token", unpaid: true, send: [][]byte{frameOf(fInfer, valid), frameOf(fPay, []byte("units:1:x"))}, want: transport.ErrPaymentRefused, msg: "malformed token"},
		{name: "no payment at pause point", unpaid: true, payTimeout: 300 * time.Millisecond, send: [][]byte{frameOf(fInfer, valid)}, want: transport.ErrPayTimeout, msg: "no payment"},
	}
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			initial := uint64(100)
			if tc.unpaid {
				initial = 0
			}
			prov, logs := inferenceProvider(t, initial, transport.WithTimeouts(0, 0, tc.payTimeout))
			s := rawProtoStream(t, buyer, prov, transport.InferenceProtocol)
			send(t, s, tc.send...)
			if tc.closeWrite {
				_ = s.CloseWrite()
			}
			err := readRemoteErr(t, s, fNeedPay)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("provider answered %v, want %v naming %q", err, tc.want, tc.msg)
			}
			expectEnd(t, s)
			if logged := logs.wait(t, "inference session failed"); !errors.Is(logged, tc.want) {
				t.Fatalf("provider logged %v, want %v", logged, tc.want)
			}
			checkInference(t, buyer, prov)
		})
	}
}

// TestInferenceStalledBuyer: a buyer that sends nothing, or half a request,
// is cut off within the provider's stream timeout.
func TestInferenceStalledBuyer(t *testing.T) {
	const stream = 300 * time.Millisecond
	hdr := func(n uint32) []byte { return u64(uint64(n))[4:] }
	tests := []struct {
		name string
		send [][]byte
	}{
		{"silent", nil},
		{"half a request", [][]byte{hdr(100), {fInfer}, []byte(`{"model"`)}},
	}
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prov, logs := inferenceProvider(t, 100, transport.WithTimeouts(stream, 0, 0))
			s := rawProtoStream(t, buyer, prov, transport.InferenceProtocol)
			send(t, s, tc.send...)
			if took := expectEnd(t, s); took < stream/2 || took > stream+2*time.Second {
				t.Fatalf("stream ended after %v, stream timeout %v", took, stream)
			}
			if logged := logs.wait(t, "inference session failed"); !isTimeout(logged) {
				t.Fatalf("provider logged %v, want a timeout", logged)
			}
			checkInference(t, buyer, prov)
		})
	}
}
