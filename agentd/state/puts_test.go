package state

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestPutJournal: stripes begun and stored are reported back, other CIDs
// for a begun stripe are refused, replacing a provider forgets what was
// stored, the stripes are listed in order across pages, and an ended put
// is gone.
func TestPutJournal(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	mtime := time.Unix(1700000000, 123)
	id, err := d.BeginPut(ctx, Put{Path: "/f", Name: "f", Size: 600 << 20, ModTime: mtime, Key: "00", ChunkSize: 1 << 20,
		DataShards: 2, ParityShards: 1, Providers: []string{"a", "b", "c"}, Sessions: []string{"s1", "s2", "s3"}})
	if err != nil {
		t.Fatal(err)
	}
	cids := func(s int) []byte { return bytes.Repeat([]byte{byte(s), byte(s >> 8)}, 48) }
	const stripes = 300 // more than a page of PutStripes
	for s := range stripes {
		begun, stored, err := d.BeginStripe(ctx, id, s, cids(s))
		if err != nil || begun || stored {
			t.Fatalf("stripe %d begun: %v %v %v", s, begun, stored, err)
		}
		if s%2 == 0 {
			if err := d.StripeStored(ctx, id, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name           string
		stripe         int
		begun, stored  bool
		otherCIDs, bad bool
	}{
		{"stored", 4, true, true, false, false},
		{"begun", 5, true, false, false, false},
		{"changed", 5, false, false, true, true},
		{"new", stripes, false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cids(tc.stripe)
			if tc.otherCIDs {
				c = cids(tc.stripe + 1)
			}
			begun, stored, err := d.BeginStripe(ctx, id, tc.stripe, c)
			if tc.bad != errors.Is(err, ErrJournalMismatch) || (!tc.bad && err != nil) {
				t.Fatalf("err %v", err)
			}
			if begun != tc.begun || stored != tc.stored {
				t.Fatalf("begun %v stored %v", begun, stored)
			}
		})
	}
	p, err := d.GetPut(ctx, id)
	if err != nil || p.Stripes != stripes+1 || p.Stored != stripes/2 || !p.ModTime.Equal(mtime) || p.Providers[2] != "c" {
		t.Fatalf("put: %+v %v", p, err)
	}
	next := 0
	if err := d.PutStripes(ctx, id, func(s int, c []byte) error {
		if s != next || !bytes.Equal(c, cids(s)) {
			t.Fatalf("stripe %d listed as %d", next, s)
		}
		next++
		return nil
	}); err != nil || next != stripes+1 {
		t.Fatalf("listed %d stripes: %v", next, err)
	}
	if !slices.Equal(p.Sessions, []string{"s1", "s2", "s3"}) {
		t.Fatalf("put sessions: %v", p.Sessions)
	}
	// A resumed put names new sessions where the old are gone.
	if err := d.SetPutSessions(ctx, id, []string{"s1", "s4", "s3"}); err != nil {
		t.Fatal(err)
	}
	if p, err := d.GetPut(ctx, id); err != nil || !slices.Equal(p.Sessions, []string{"s1", "s4", "s3"}) || p.Stored != stripes/2 {
		t.Fatalf("after new sessions: %+v %v", p, err)
	}
	if err := d.SetPutProviders(ctx, id, []string{"a", "d", "c"}); err != nil {
		t.Fatal(err)
	}
	if ps, err := d.Puts(ctx); err != nil || len(ps) != 1 || ps[0].Stored != 0 || ps[0].Providers[1] != "d" {
		t.Fatalf("after a provider is replaced: %+v %v", ps, err)
	}
	if err := d.EndPut(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ps, err := d.Puts(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("after the end: %+v %v", ps, err)
	}
	if _, err := d.GetPut(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ended put: %v", err)
	}
}
