package relay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// The cache stays within its bounds whatever it is given: at most maxCounts
// counts and maxRecords negentropy records, expired entries dropped first.
func TestHeavyCacheBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newHeavyCache(time.Second, 4, 10)
	for i := range 20 {
		c.putCount(fmt.Sprint(i), now, int64(i), false)
	}
	if n := len(c.counts); n > 4 {
		t.Fatalf("%d counts cached, bound 4", n)
	}
	if got, ok := c.count("19", now); !ok || got.n != 19 {
		t.Fatalf("newest count = %v %v, want 19 cached", got, ok)
	}
	if _, ok := c.count("19", now.Add(time.Second)); ok {
		t.Fatal("count served at its expiry")
	}

	recs := func(n int) []negRecord {
		out := make([]negRecord, n)
		for i := range out {
			out[i] = negRecord{nostr.Timestamp(i), strings.Repeat("0", 64)}
		}
		return out
	}
	c.putNeg("a", now, recs(4))
	c.putNeg("b", now, recs(4))
	c.putNeg("c", now, recs(4)) // 12 > 10: another entry goes
	if c.records > 10 {
		t.Fatalf("%d records cached, bound 10", c.records)
	}
	if _, ok := c.neg("c", now); !ok {
		t.Fatal("newest negentropy answer not cached")
	}
	c.putNeg("big", now, recs(11)) // over the bound alone: not kept
	if _, ok := c.neg("big", now); ok {
		t.Fatal("an answer over the bound was cached")
	}
	c.putNeg("c", now.Add(2*time.Second), recs(2)) // the others expired
	if c.records != 2 || len(c.negs) != 1 {
		t.Fatalf("after expiry: %d records in %d entries, want 2 in 1", c.records, len(c.negs))
	}

	off := newHeavyCache(0, 4, 10)
	off.putCount("x", now, 1, false)
	if _, ok := off.count("x", now); ok {
		t.Fatal("a zero TTL cached a count")
	}
}
