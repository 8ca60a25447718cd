package buyer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestOpenBidSkipsRelaysWithoutMatching: a relay that runs no matching
// engine says so in its NIP-11 document (no "matching"), and a buyer's
// open bid waits for the end of proposals of the relays that do only: with
// a matching relay and a plain one and nothing to propose, it fails at
// once; with only plain relays it does not publish the bid at all
// (ErrNoMatching). MatchTimeout is an hour; the call gets two minutes. On
// main the buyer waited for an end of proposals from every relay, which a
// plain relay never sends, so the call ran into its deadline.
func TestOpenBidSkipsRelaysWithoutMatching(t *testing.T) {
	for _, c := range []struct {
		name       string
		marketRely bool // the buyer also uses a relay that runs matching
		want       error
	}{
		{"a matching relay and a plain one, nothing to propose", true, ErrNoMatch},
		{"only a plain relay", false, ErrNoMatching},
	} {
		t.Run(c.name, func(t *testing.T) {
			plain := relaytest.Start(t)
			var net *agentdtest.Net
			if c.marketRely {
				_, _, net = marketNet(t)
			} else {
				net = agentdtest.Start(t)
			}
			bn := net.NodeWith(t, "buyer", 5000, func(cfg *agentd.Config) {
				if c.marketRely {
					cfg.Relays = append(cfg.Relays, plain)
				} else {
					cfg.Relays = []string{plain}
				}
			})
			b, err := New(t.Context(), bn, Config{OpenBids: true, MatchTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			_, err = b.OpenBid(ctx, nips.Storage, 1, 86400, "")
			if ctx.Err() != nil {
				t.Fatalf("the buyer waited until its deadline (%v)", err)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
