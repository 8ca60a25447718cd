package transport_test

import (
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
