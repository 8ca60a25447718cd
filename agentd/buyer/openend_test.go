package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// TestOpenBidEndsWhenNothingMoreIsProposed: the relay's engine says when it
// has nothing more to propose for an open bid (kind 8470, counting its
// proposals), so a buyer that can no longer get the confirmations it needs
// fails at once with a clear error instead of waiting out MatchTimeout
// (an hour here; the call gets two minutes, and must return well within
// them). On main the buyer had no such signal and waited the whole
// MatchTimeout, so the call ran into its deadline.
func TestOpenBidEndsWhenNothingMoreIsProposed(t *testing.T) {
	for _, c := range []struct {
		name      string
		providers int
		put       bool // a put needing two providers; else OpenBid needing one
		want      error
		proposals uint64 // what the relay's last end counts
	}{
		{"no offer: nothing to propose at all", 0, false, ErrNoMatch, 0},
		{"one provider confirms, a put needs two", 1, true, ErrTooFewProviders, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, net := marketNet(t)
			for i := range c.providers {
				startProvider(t, net, "prov"+string(rune('a'+i)), storageCfg(2_000_000))
			}
			bn := net.Node(t, "buyer", 5000)
			b, err := New(t.Context(), bn, Config{OpenBids: true, Replicas: 2, MinProviders: 2,
				StorageDuration: 24 * time.Hour, MatchTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			if c.put {
				data := make([]byte, 1<<20)
				rand.Read(data)
				_, err = b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), nil)
			} else {
				_, err = b.OpenBid(ctx, nips.Storage, 1, 86400, "")
			}
			if ctx.Err() != nil {
				t.Fatalf("the buyer waited until its deadline (%v): no end of proposals", err)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			ends := query(t, srv.URL, nostr.Filter{Kinds: []int{nips.KindProposalsEnd}, Authors: []string{srv.Relay.PublicKey()}})
			var last nips.ProposalsEnd
			for _, ev := range ends {
				e, err := nips.ParseProposalsEnd(ev)
				if err != nil || e.Buyer != bn.Key.Pubkey {
					t.Fatalf("end of proposals %+v (%v)", e, err)
				}
				if e.Proposals >= last.Proposals {
					last = e
				}
			}
			if len(ends) == 0 || last.Proposals != c.proposals {
				t.Fatalf("%d ends of proposals, the last counting %d proposals; want one counting %d", len(ends), last.Proposals, c.proposals)
			}
		})
	}
}
