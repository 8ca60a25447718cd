package nips_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// seed adds every example and malformed event of kind to the corpus.
func seed(f *testing.F, kind int) {
	for _, e := range nipstest.ExampleEvents() {
		if e.Kind == kind {
			b, _ := json.Marshal(e)
			f.Add(b)
		}
	}
	for _, c := range nipstest.Malformed() {
		if c.Event.Kind == kind {
			b, _ := json.Marshal(c.Event)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kind":` + itoa(kind) + `,"tags":[[]]}`))
	f.Add([]byte(`{"kind":` + itoa(kind) + `,"tags":[["t","storage"],["price","1","msat"]]}`))
}

func itoa(k int) string { b, _ := json.Marshal(k); return string(b) }

func decode(t *testing.T, data []byte, kind int) (nostr.Event, bool) {
	var e nostr.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, false
	}
	e.Kind = kind
	return e, true
}

// reparse encodes v again and parses it: a parsed value must survive.
func reparse[T any](t *testing.T, got T, enc func(T) nostr.Event, parse func(*nostr.Event) (T, error), pubkey string) T {
	t.Helper()
	e := enc(got)
	e.PubKey = pubkey
	again, err := parse(&e)
	if err != nil {
		t.Fatalf("parsed value does not parse again: %v\nvalue %+v\nevent %v", err, got, e)
	}
	return again
}

func FuzzParseOffer(f *testing.F) {
	seed(f, nips.KindOffer)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindOffer)
		if !ok {
			return
		}
		o, err := nips.ParseOffer(&e)
		if err != nil {
			return
		}
		if o.MinQuantity == 0 || o.MinQuantity > o.MaxQuantity || o.MaxQuantity > nips.MaxQuantity || o.Prices.Max() > nips.MaxMsat {
			t.Fatalf("bounds not enforced: %+v", o)
		}
		_, _ = nips.Cost(o.Resource, o.Prices, o.MaxQuantity, o.Retention)
		again := reparse(t, o, func(o nips.Offer) nostr.Event { return o.ToEvent(e.CreatedAt) }, nips.ParseOffer, e.PubKey)
		again.EventID, again.Title, again.Summary = o.EventID, o.Title, o.Summary
		if !reflect.DeepEqual(o, again) {
			t.Fatalf("round trip changed the offer\n%+v\n%+v", o, again)
		}
	})
}

func FuzzParsePresence(f *testing.F) {
	seed(f, nips.KindPresence)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindPresence)
		if !ok {
			return
		}
		b, err := nips.ParsePresence(&e)
		if err != nil {
			return
		}
		if b.Load > 100 {
			t.Fatalf("load %d", b.Load)
		}
		reparse(t, b, func(b nips.Presence) nostr.Event { return b.ToEvent(e.CreatedAt) }, nips.ParsePresence, e.PubKey)
	})
}

func FuzzParseBid(f *testing.F) {
	seed(f, nips.KindBid)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindBid)
		if !ok {
			return
		}
		b, err := nips.ParseBid(&e)
		if err != nil {
			return
		}
		if _, err := b.MaxTotal(); err != nil {
			t.Fatalf("parsed bid's total fails: %v", err)
		}
		if b.MinFill == 0 || b.MinFill > b.Quantity {
			t.Fatalf("min fill %d of %d", b.MinFill, b.Quantity)
		}
		if c := b.FillCap(); c < b.MinFill || c > b.Quantity || (b.MaxFill != 0 && b.Offer != "") {
			t.Fatalf("fill cap %d (max_fill %d) of %d-%d, offer %q", c, b.MaxFill, b.MinFill, b.Quantity, b.Offer)
		}
		reparse(t, b, func(b nips.Bid) nostr.Event { return b.ToEvent(e.CreatedAt) }, nips.ParseBid, e.PubKey)
	})
}

func FuzzParseMatch(f *testing.F) {
	seed(f, nips.KindMatch)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindMatch)
		if !ok {
			return
		}
		m, err := nips.ParseMatch(&e)
		if err != nil {
			return
		}
		if c, err := nips.Cost(m.Resource, m.Prices, m.Quantity, m.Duration); err != nil || c != m.Amount {
			t.Fatalf("amount %d, cost %d (%v)", m.Amount, c, err)
		}
		reparse(t, m, func(m nips.Match) nostr.Event { return m.ToEvent(e.CreatedAt) }, nips.ParseMatch, e.PubKey)
	})
}

func FuzzParseProposal(f *testing.F) {
	seed(f, nips.KindProposal)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindProposal)
		if !ok {
			return
		}
		p, err := nips.ParseProposal(&e)
		if err != nil {
			return
		}
		if p.PaymentRequest != "" || p.Pubkey == p.Provider {
			t.Fatalf("proposal with a payment request or by its provider: %+v", p)
		}
		reparse(t, p, func(p nips.Proposal) nostr.Event { return p.ToEvent(e.CreatedAt) }, nips.ParseProposal, e.PubKey)
	})
}

func FuzzParseRefusal(f *testing.F) {
	seed(f, nips.KindRefusal)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindRefusal)
		if !ok {
			return
		}
		r, err := nips.ParseRefusal(&e)
		if err != nil {
			return
		}
		reparse(t, r, func(r nips.Refusal) nostr.Event { return r.ToEvent(e.CreatedAt) }, nips.ParseRefusal, e.PubKey)
	})
}

func FuzzParseReceipt(f *testing.F) {
	seed(f, nips.KindReceipt)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindReceipt)
		if !ok {
			return
		}
		r, err := nips.ParseReceipt(&e)
		if err != nil {
			return
		}
		if r.Paid > nips.MaxMsat {
			t.Fatalf("paid %d", r.Paid)
		}
		r.Countersig = "" // the signature covers the original tag order
		reparse(t, r, func(r nips.Receipt) nostr.Event { return r.ToEvent(e.CreatedAt) }, nips.ParseReceipt, e.PubKey)
	})
}

func FuzzParseAttestation(f *testing.F) {
	seed(f, nips.KindAttestation)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindAttestation)
		if !ok {
			return
		}
		a, err := nips.ParseAttestation(&e)
		if err != nil {
			return
		}
		if a.Rating > 100 {
			t.Fatalf("rating %d", a.Rating)
		}
		reparse(t, a, func(a nips.Attestation) nostr.Event { return a.ToEvent(e.CreatedAt) }, nips.ParseAttestation, e.PubKey)
	})
}

func FuzzParseTopUp(f *testing.F) {
	seed(f, nips.KindTopUp)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindTopUp)
		if !ok {
			return
		}
		tu, err := nips.ParseTopUp(&e)
		if err != nil {
			if tok := e.Tags.GetFirst([]string{"cashu"}); tok != nil && len(*tok) > 1 && len((*tok)[1]) > 80 && strings.Contains(err.Error(), (*tok)[1]) {
				t.Fatalf("error quotes the token: %v", err)
			}
			return
		}
		if len(tu.Token) > nips.MaxTokenLen {
			t.Fatalf("token of %d bytes", len(tu.Token))
		}
		reparse(t, tu, func(tu nips.TopUp) nostr.Event { return tu.ToEvent(e.CreatedAt) }, nips.ParseTopUp, e.PubKey)
	})
}

func FuzzParseDeletion(f *testing.F) {
	f.Add([]byte(`{"kind":5,"pubkey":"` + nipstest.Buyer.Public + `","tags":[["e","00"],["a","38460:x:y"],[]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindDeletion)
		if !ok {
			return
		}
		_, _ = nips.ParseDeletion(&e)
	})
}

func FuzzParseManifest(f *testing.F) {
	seed(f, nips.KindManifest)
	f.Add([]byte(`{"kind":8467,"tags":[["label","x"],["file","a/b.jsonl","` + strings.Repeat("ab", 32) + `","12"]]}`))
	f.Add([]byte(`{"kind":8467,"tags":[["label","x"],["file","../etc/passwd","` + strings.Repeat("ab", 32) + `","1"]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindManifest)
		if !ok {
			return
		}
		m, err := nips.ParseManifest(&e)
		if err != nil {
			return
		}
		for _, file := range m.Files {
			if !nips.SafeManifestPath(file.Path) || strings.HasPrefix(file.Path, "/") || strings.Contains(file.Path, "..") && strings.Contains("/"+file.Path+"/", "/../") {
				t.Fatalf("unsafe path accepted: %q", file.Path)
			}
		}
		again := reparse(t, m, func(m nips.Manifest) nostr.Event { return m.ToEvent(e.CreatedAt) }, nips.ParseManifest, e.PubKey)
		if !reflect.DeepEqual(again.Files, m.Files) || again.Label != m.Label {
			t.Fatalf("manifest changed when encoded again: %+v -> %+v", m, again)
		}
	})
}

func FuzzParseRoutstr(f *testing.F) {
	o := nips.Offer{ID: "agentd-inference", Resource: nips.Inference, Pubkey: strings.Repeat("ab", 32), Expiration: 1_800_000_000,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: "http://127.0.0.1:3338", Unit: "sat"}}}
	ev := o.Routstr(1_700_000_000, []string{"http://127.0.0.1:8000"})
	b, _ := json.Marshal(ev)
	f.Add(b)
	f.Add([]byte(`{"kind":38421,"tags":[["d","x"],["u","https://a.example/"],["mint","https://m.example"],["version","1"]],"content":"{\"name\":\"n\"}"}`))
	f.Add([]byte(`{"kind":38421,"tags":[["d"],["u","javascript:x"]],"content":"[1]"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := decode(t, data, nips.KindRoutstr)
		if !ok {
			return
		}
		r, err := nips.ParseRoutstr(&e)
		if err != nil {
			return
		}
		if r.ID == "" || len(r.URLs) == 0 || len(r.URLs) > nips.MaxListLen || len(r.Mints) > nips.MaxListLen || len(r.Name) > nips.MaxTextLen {
			t.Fatalf("bounds not enforced: %+v", r)
		}
		for _, u := range r.URLs {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || strings.HasSuffix(u, "/") {
				t.Fatalf("URL %q", u)
			}
		}
		for _, m := range r.Mints {
			if n, err := nips.NormalizeMintURL(m); err != nil || n != m {
				t.Fatalf("mint %q not normalized: %q %v", m, n, err)
			}
		}
	})
}
