package nips_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from nipstest.ExampleEvents")

// TestTestdata checks that every example in testdata is the event
// nipstest builds, has a valid id and signature, and parses.
func TestTestdata(t *testing.T) {
	examples := nipstest.ExampleEvents()
	for name, evt := range examples {
		path := filepath.Join("testdata", name)
		want, err := json.MarshalIndent(evt, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(name, func(t *testing.T) {
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read %s: %v (run go test ./nips -run TestTestdata -update)", path, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from nipstest.ExampleEvents()[%q]; run with -update after a deliberate change", path, name)
			}
			var e nostr.Event
			if err := json.Unmarshal(got, &e); err != nil {
				t.Fatal(err)
			}
			if !e.CheckID() {
				t.Fatal("bad id")
			}
			if ok, err := e.CheckSignature(); !ok {
				t.Fatalf("bad signature: %v", err)
			}
			if !nips.IsMarketKind(e.Kind) {
				t.Fatalf("kind %d is not a market kind", e.Kind)
			}
			if err := nips.Validate(&e); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		if _, ok := examples[filepath.Base(f)]; !ok {
			t.Errorf("%s is not produced by nipstest.ExampleEvents", f)
		}
	}
}

var exampleMarker = regexp.MustCompile("(?s)<!-- testdata: ([a-z0-9.-]+) -->\\s*```json\\n(.*?)```")

// TestSpecExamples checks that every JSON example in the Markdown specs is
// the same event as its testdata file, and that every testdata file is shown.
func TestSpecExamples(t *testing.T) {
	mds, _ := filepath.Glob("*.md")
	shown := map[string]bool{}
	for _, md := range mds {
		text, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range exampleMarker.FindAllSubmatch(text, -1) {
			name := string(m[1])
			shown[name] = true
			file, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Errorf("%s shows %s: %v", md, name, err)
				continue
			}
			var a, b any
			if err := json.Unmarshal(m[2], &a); err != nil {
				t.Errorf("%s: example %s is not JSON: %v", md, name, err)
				continue
			}
			_ = json.Unmarshal(file, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: example %s differs from testdata/%s", md, name, name)
			}
		}
	}
	names := make([]string, 0)
	for name := range nipstest.ExampleEvents() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, n := range names {
		if !shown[n] {
			t.Errorf("testdata/%s is not shown in any spec", n)
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range nipstest.Malformed() {
		t.Run(c.Name, func(t *testing.T) {
			if ok, _ := c.Event.CheckSignature(); !ok {
				t.Fatal("fixture is not signed")
			}
			err := nips.Validate(&c.Event)
			if err == nil {
				t.Fatalf("accepted; want error containing %q", c.Want)
			}
			if !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("error %q does not contain %q", err, c.Want)
			}
			if !errors.Is(err, c.Is) {
				t.Fatalf("error %q does not wrap %v", err, c.Is)
			}
			var pe *nips.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	ev := nipstest.ExampleEvents()
	check := func(t *testing.T, name string, want, got any) {
		t.Helper()
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: round trip\nwant %+v\n got %+v", name, want, got)
		}
	}
	for name, mk := range map[string]func() nips.Offer{
		"offer-storage.json": nipstest.StorageOffer, "offer-bandwidth.json": nipstest.BandwidthOffer, "offer-inference.json": nipstest.InferenceOffer,
	} {
		e := ev[name]
		got, err := nips.ParseOffer(&e)
		if err != nil {
			t.Fatal(err)
		}
		want := mk()
		want.Pubkey, want.EventID, want.CreatedAt = e.PubKey, e.ID, e.CreatedAt
		if want.Title == "" {
			want.Title = got.Title
		}
		if want.Summary == "" {
			want.Summary = got.Summary
		}
		check(t, name, want, got)
		if got.Address() != "38460:"+nipstest.Provider.Public+":"+want.ID {
			t.Errorf("address %s", got.Address())
		}
	}
	for name, mk := range map[string]func() nips.Bid{"bid-offer.json": nipstest.StorageBid, "bid-open.json": nipstest.OpenBid} {
		e := ev[name]
		got, err := nips.ParseBid(&e)
		if err != nil {
			t.Fatal(err)
		}
		want := mk()
		want.Pubkey, want.EventID, want.CreatedAt = e.PubKey, e.ID, e.CreatedAt
		if want.Offer != "" {
			want.Provider = nipstest.Provider.Public
		}
		if want.MinFill == 0 {
			want.MinFill = 1
		}
		check(t, name, want, got)
	}
	e := ev["presence.json"]
	pres, err := nips.ParsePresence(&e)
	if err != nil {
		t.Fatal(err)
	}
	wantP := nipstest.Presence()
	wantP.Pubkey, wantP.EventID, wantP.CreatedAt = e.PubKey, e.ID, e.CreatedAt
	check(t, "presence", wantP, pres)

	// Match, receipt, attestation: encode the parsed value again and compare tags.
	for _, name := range []string{"match.json", "proposal.json", "refusal.json", "decline.json", "release.json", "receipt.json", "attestation.json"} {
		e := ev[name]
		v, err := nips.Parse(&e)
		if err != nil {
			t.Fatal(err)
		}
		var again nostr.Event
		switch x := v.(type) {
		case nips.Match:
			again = x.ToEvent(e.CreatedAt)
		case nips.Proposal:
			again = x.ToEvent(e.CreatedAt)
		case nips.Refusal:
			again = x.ToEvent(e.CreatedAt)
		case nips.Receipt:
			again = x.ToEvent(e.CreatedAt)
		case nips.Attestation:
			again = x.ToEvent(e.CreatedAt)
		}
		if !reflect.DeepEqual(again.Tags, e.Tags) {
			t.Errorf("%s: tags differ after round trip\nwant %v\n got %v", name, e.Tags, again.Tags)
		}
	}
}

func TestReceiptCountersig(t *testing.T) {
	e := nipstest.ExampleEvents()["receipt.json"]
	r, err := nips.ParseReceipt(&e)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Countersigned() || r.Paid != 600000 {
		t.Fatalf("receipt %+v", r)
	}
	// A countersignature by another key than the buyer's does not verify.
	evt := r.ToEvent(e.CreatedAt)
	evt.Tags = evt.Tags.FilterOut([]string{"countersig"})
	evt.PubKey = nipstest.Provider.Public
	sig, err := nips.Countersign(&evt, nipstest.Relay.Secret)
	if err != nil {
		t.Fatal(err)
	}
	evt.Tags = append(evt.Tags, nostr.Tag{"countersig", sig})
	signed := nipstest.Sign(evt, nipstest.Provider)
	if _, err := nips.ParseReceipt(&signed); !errors.Is(err, nips.ErrBadCountersig) {
		t.Fatalf("foreign countersig: %v", err)
	}
	// An uncountersigned receipt parses, and says so.
	evt.Tags = evt.Tags.FilterOut([]string{"countersig"})
	bare := nipstest.Sign(evt, nipstest.Provider)
	r2, err := nips.ParseReceipt(&bare)
	if err != nil || r2.Countersigned() {
		t.Fatalf("bare receipt: %v %+v", err, r2)
	}
}

func TestValidateIgnoresOtherKinds(t *testing.T) {
	for _, k := range []int{0, 1, 5, 1059, 30402, 38383, 38421} {
		e := nostr.Event{Kind: k, Tags: nostr.Tags{{"price", "x"}}}
		if err := nips.Validate(&e); err != nil {
			t.Errorf("kind %d: %v", k, err)
		}
		if nips.IsMarketKind(k) {
			t.Errorf("kind %d is not ours", k)
		}
	}
	if nips.Validate(nil) != nil {
		t.Error("nil")
	}
	e := nostr.Event{Kind: nips.KindOffer, Tags: nostr.Tags{{}}}
	if err := nips.Validate(&e); err == nil {
		t.Error("empty tag accepted")
	}
}

func TestKindRanges(t *testing.T) {
	if !nostr.IsAddressableKind(nips.KindOffer) || !nostr.IsReplaceableKind(nips.KindPresence) || !nostr.IsEphemeralKind(nips.KindTopUp) {
		t.Fatal("offer must be addressable, presence replaceable, top-up ephemeral")
	}
	for _, k := range []int{nips.KindBid, nips.KindMatch, nips.KindProposal, nips.KindRefusal, nips.KindReceipt, nips.KindAttestation} {
		if !nostr.IsRegularKind(k) {
			t.Errorf("kind %d must be regular", k)
		}
	}
	// Kinds in use elsewhere (see README.md).
	taken := []int{1021, 1022, 10021, 38421, 38000, 38172, 38173, 37195, 38383, 30382, 30383, 30384, 30385, 30402, 7000, 7374, 7375, 7376, 9321, 10019, 13194, 23194, 23195, 23197,
		20000, 21000, 22242, 23196, 24133, 24242, 25050, 27235, 28934, 28935, 28936}
	if !nostr.IsAddressableKind(nips.KindSafeBox) || !nostr.IsAddressableKind(nips.KindSpendingAuthorization) {
		t.Error("a SafeBox entry and a spending authorization must be addressable")
	}
	for _, k := range []int{nips.KindKeyShare, nips.KindKeyGrant, nips.KindChangeNote} {
		if !nostr.IsRegularKind(k) {
			t.Errorf("kind %d must be regular", k)
		}
	}
	ours := append(nips.MarketKinds(), nips.AgentKinds()...)
	for i, k := range ours {
		for _, o := range ours[:i] {
			if k == o {
				t.Errorf("kind %d is defined twice", k)
			}
		}
		for _, x := range taken {
			if k == x {
				t.Errorf("kind %d collides", k)
			}
		}
		if k >= 5000 && k <= 7000 {
			t.Errorf("kind %d is in NIP-90's range", k)
		}
	}
}
