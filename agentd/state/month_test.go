package state

import (
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// TestTotalsBetweenAndActivity: the dashboard's months split earnings at
// the month's first second (UTC), and its activity counts a role's sessions
// since a time, by resource, with their delivered bytes.
func TestTotalsBetweenAndActivity(t *testing.T) {
	ctx := t.Context()
	d, _ := openWithJournal(t, t.TempDir())
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dec := nov.AddDate(0, 1, 0)
	at := func(tm time.Time) { d.now = func() time.Time { return tm } }
	at(dec.Add(-time.Second))
	record(t, d, d.pay, line{Entry{Session: "a", Kind: Earn, Resource: nips.Storage}, op{"receive", "done", 5, 5, 0}})
	at(dec)
	record(t, d, d.pay, line{Entry{Session: "b", Kind: Earn, Resource: nips.Bandwidth}, op{"receive", "done", 7, 7, 0}})
	tests := []struct {
		name     string
		from, to time.Time
		want     map[nips.Resource]uint64
	}{
		{"november", nov, dec, map[nips.Resource]uint64{nips.Storage: 5}},
		{"december", dec, dec.AddDate(0, 1, 0), map[nips.Resource]uint64{nips.Bandwidth: 7}},
		{"october", nov.AddDate(0, -1, 0), nov, map[nips.Resource]uint64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tot, err := d.TotalsBetween(ctx, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var sum uint64
			for r, v := range tc.want {
				sum += v
				if tot.ByResource[r] != v {
					t.Errorf("%s: %d sats, want %d", r, tot.ByResource[r], v)
				}
			}
			if tot.Net() != sum {
				t.Errorf("net %d, want %d", tot.Net(), sum)
			}
		})
	}

	at(nov)
	put := func(id, role string, r nips.Resource) {
		t.Helper()
		if err := d.PutSession(ctx, Session{ID: id, Role: role, Resource: r, Counterparty: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	put("old", RoleProvider, nips.Bandwidth) // before the period
	at(dec)
	put("bw", RoleProvider, nips.Bandwidth)
	put("st", RoleProvider, nips.Storage)
	put("bought", RoleBuyer, nips.Bandwidth)
	if err := d.AddUsage(ctx, "bw", 1000, 3_000_000); err != nil {
		t.Fatal(err)
	}
	if err := d.FinishSession(ctx, "bw", "done", ""); err != nil {
		t.Fatal(err)
	}
	act, err := d.Activity(ctx, RoleProvider, dec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[nips.Resource]Activity{nips.Bandwidth: {Sessions: 1, Delivered: 3_000_000}, nips.Storage: {Sessions: 1, Open: 1}}
	if len(act) != len(want) || act[nips.Bandwidth] != want[nips.Bandwidth] || act[nips.Storage] != want[nips.Storage] {
		t.Fatalf("activity %+v, want %+v", act, want)
	}
}
