package web

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
)

// BenchmarkDashboard measures one uncached /admin/api/stats computation
// (counts by kind, network health scan) on a store holding n providers, each with an
// offer and a presence beacon.
func BenchmarkDashboard(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("providers=%d", n), func(b *testing.B) {
			st, err := sqlitestore.New(filepath.Join(b.TempDir(), "events.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for i := range n {
				sk := fmt.Sprintf("%064x", i+1)
				o := nipstest.BandwidthOffer()
				o.ID = "o"
				o.Expiration = nostr.Now() + 3600
				p := nipstest.Presence()
				p.Expiration = nostr.Now() + 600
				for _, evt := range []nostr.Event{o.ToEvent(nostr.Now()), p.ToEvent(nostr.Now())} {
					if err := evt.Sign(sk); err != nil {
						b.Fatal(err)
					}
					if err := st.ReplaceEvent(b.Context(), &evt); err != nil {
						b.Fatal(err)
					}
				}
			}
			s, err := New(Config{Operator: strings.Repeat("ab", 32), AuthWindow: time.Minute, SessionTTL: time.Hour, MaxSessions: 1}, st)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				s.netAt = time.Time{} // no cache: measure the scan
				d, err := s.dashboard(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if d.Network.ProvidersSeen != n || d.Network.BeaconsFresh != n {
					b.Fatalf("network %+v, want %d providers", d.Network, n)
				}
			}
		})
	}
}
