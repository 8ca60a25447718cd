package transport_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/meter"
)

// TestBandwidthWriteTo copies a carried download with io.Copy, which uses
// BandwidthConn.WriteTo (the SOCKS5 proxy's path): every byte arrives and a session the provider ends (the payer's budget runs out)
// ends the copy with an error, not as a clean EOF.
func TestBandwidthWriteTo(t *testing.T) {
	const size = 3 << 20
	tests := []struct {
		name    string
		budget  uint64 // 0: none
		wantErr bool
	}{
		{"whole download", 0, false},
		{"budget runs out", 1 << 20, true},
	}
	target := sourceSink(t, size)
	buyer := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gate := &meter.Gate{}
			prov := newHost(t, transport.WithTimeouts(0, 0, 500e6))
			prov.ServeBandwidth(transport.BandwidthConfig{Gate: gate, AllowPrivateTargets: true})
			payer := &meter.Payer{Step: 256 << 10, Budget: tc.budget}
			conn, err := buyer.DialBandwidth(t.Context(), connect(t, buyer, prov), target, payer)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var _ io.WriterTo = conn // io.Copy takes this path, not Read
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			n, err := io.Copy(&got, conn)
			if n != int64(got.Len()) || uint64(n) != conn.Usage().BytesOut {
				t.Fatalf("copied %d, buffer holds %d, buyer counted %d", n, got.Len(), conn.Usage().BytesOut)
			}
			if !bytes.Equal(got.Bytes(), make([]byte, n)) {
				t.Fatal("copied bytes differ from the target's")
			}
			if tc.wantErr {
				if err == nil || n >= size {
					t.Fatalf("copy past the budget: %d bytes, err %v", n, err)
				}
				return
			}
			if err != nil || n != size {
				t.Fatalf("copied %d of %d: %v", n, size, err)
			}
		})
	}
}
