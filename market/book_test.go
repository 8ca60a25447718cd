package market

import (
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// TestMatchingRules has one case per matching rule: one offer in the book,
// one open bid arriving.
func TestMatchingRules(t *testing.T) {
	otherMint := nips.Payment{Method: nips.PayCashu, Mint: "https://other.example.com", Unit: "sat"}
	cashuMsat := nips.Payment{Method: nips.PayCashu, Mint: mint, Unit: "msat"}
	storage := func(o *nips.Offer) {
		o.Resource, o.Prices, o.Retention, o.MaxObjectSize = nips.Storage, nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}}, 30*86400, 1<<30
	}
	storageBid := func(days uint64) func(*nips.Bid) {
		return func(b *nips.Bid) {
			b.Resource, b.MaxPrices, b.Quantity, b.Duration = nips.Storage, nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2500}}, 10, days*86400
		}
	}
	inference := func(o *nips.Offer) {
		o.Resource, o.Models, o.ContextLength = nips.Inference, []string{"llama", "qwen"}, 8192
		o.Prices = nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 100_000}, {Unit: nips.UnitMOutputTokens, Msat: 400_000}}
		o.MaxQuantity, o.Capacity = 1_000_000, 10_000_000
	}
	infBid := func(in, out uint64, model string) func(*nips.Bid) {
		return func(b *nips.Bid) {
			b.Resource, b.Model, b.Quantity = nips.Inference, model, 50_000
			b.MaxPrices = nips.Prices{{Unit: nips.UnitMInputTokens, Msat: in}, {Unit: nips.UnitMOutputTokens, Msat: out}}
		}
	}
	trust := func(r int) TrustFunc { return func(string) int { return r } }

	tests := []struct {
		name    string
		offer   []func(*nips.Offer)
		bid     []func(*nips.Bid)
		trust   TrustFunc
		wantQty uint64 // 0 = no fill
		wantAmt uint64
		wantPay nips.Payment
	}{
		{name: "fills at the offer's price", wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "price at the ceiling", offer: mods(func(o *nips.Offer) { o.Prices[0].Msat = 80 }), wantQty: 100, wantAmt: 8000, wantPay: cashuSat},
		{name: "price above the ceiling", offer: mods(func(o *nips.Offer) { o.Prices[0].Msat = 81 })},
		{name: "offer in the bid's region", bid: bmods(func(b *nips.Bid) { b.Regions = []string{"dr5"} }), wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "offer in one of the bid's regions", bid: bmods(func(b *nips.Bid) { b.Regions = []string{"u0", "dr5ru"} }), wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "offer outside the region", bid: bmods(func(b *nips.Bid) { b.Regions = []string{"dr7"} })},
		{name: "offer without region, bid with one", offer: mods(func(o *nips.Offer) { o.Geohash = "" }), bid: bmods(func(b *nips.Bid) { b.Regions = []string{"d"} })},
		{name: "bid region more precise than the offer's", offer: mods(func(o *nips.Offer) { o.Geohash = "dr" }), bid: bmods(func(b *nips.Bid) { b.Regions = []string{"dr5"} })},
		{name: "no common payment method", bid: bmods(func(b *nips.Bid) { b.Payments = []nips.Payment{lightning} })},
		{name: "other mint", bid: bmods(func(b *nips.Bid) { b.Payments = []nips.Payment{otherMint} })},
		{name: "same mint, other unit", bid: bmods(func(b *nips.Bid) { b.Payments = []nips.Payment{cashuMsat} })},
		{name: "buyer's first common method is used",
			offer:   mods(func(o *nips.Offer) { o.Payments = []nips.Payment{cashuSat, lightning} }),
			bid:     bmods(func(b *nips.Bid) { b.Payments = []nips.Payment{otherMint, lightning, cashuSat} }),
			wantQty: 100, wantAmt: 5000, wantPay: lightning},
		{name: "trust above the floor", bid: bmods(func(b *nips.Bid) { b.MinTrust = 20 }), trust: trust(30), wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "trust at the floor", bid: bmods(func(b *nips.Bid) { b.MinTrust = 30 }), trust: trust(30), wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "trust below the floor", bid: bmods(func(b *nips.Bid) { b.MinTrust = 31 }), trust: trust(30)},
		{name: "floor with no trust function", bid: bmods(func(b *nips.Bid) { b.MinTrust = 1 })},
		{name: "self-trade", bid: bmods(func(b *nips.Bid) { b.Pubkey = hexID("provider o") })},
		{name: "partial fill up to the offer's max quantity", offer: mods(func(o *nips.Offer) { o.MaxQuantity = 40 }), wantQty: 40, wantAmt: 2000, wantPay: cashuSat},
		{name: "partial fill up to the capacity", offer: mods(func(o *nips.Offer) { o.Capacity = 30 }), wantQty: 30, wantAmt: 1500, wantPay: cashuSat},
		{name: "bid below the offer's minimum", offer: mods(func(o *nips.Offer) { o.MinQuantity = 101 })},
		{name: "fill below the bid's min_fill", offer: mods(func(o *nips.Offer) { o.MaxQuantity = 50 }), bid: bmods(func(b *nips.Bid) { b.MinFill = 51 })},
		{name: "all or nothing satisfied", bid: bmods(func(b *nips.Bid) { b.MinFill = 100 }), wantQty: 100, wantAmt: 5000, wantPay: cashuSat},
		{name: "storage within retention", offer: mods(storage), bid: bmods(storageBid(30)), wantQty: 10, wantAmt: 2000 * 10 * 30, wantPay: cashuSat},
		{name: "storage beyond retention", offer: mods(storage), bid: bmods(storageBid(31))},
		{name: "inference, model offered", offer: mods(inference), bid: bmods(infBid(100_000, 400_000, "qwen")), wantQty: 50_000, wantAmt: 400_000 * 50_000 / 1_000_000, wantPay: cashuSat},
		{name: "inference, any model", offer: mods(inference), bid: bmods(infBid(200_000, 500_000, "")), wantQty: 50_000, wantAmt: 20_000, wantPay: cashuSat},
		{name: "inference, model not offered", offer: mods(inference), bid: bmods(infBid(100_000, 400_000, "mistral"))},
		{name: "inference, input price above its ceiling", offer: mods(inference), bid: bmods(infBid(99_999, 10_000_000, ""))},
		{name: "inference, output price above its ceiling", offer: mods(inference), bid: bmods(infBid(10_000_000, 399_999, ""))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mkOffer("o", tc.offer...)
			b := mkBid("b", tc.bid...)
			book := newBook(t, o.Resource, tc.trust)
			if f := must(t)(book.AddOffer(o, t0)); len(f) != 0 {
				t.Fatalf("offer alone filled %v", f)
			}
			fills := must(t)(book.AddBid(b, t0.Add(time.Second)))
			if tc.wantQty == 0 {
				if len(fills) != 0 {
					t.Fatalf("want no fill, got %s", fillsString(fills))
				}
				if _, bids := book.Len(); bids != 1 {
					t.Fatalf("unfilled bid does not rest in the book")
				}
				return
			}
			if len(fills) != 1 {
				t.Fatalf("want one fill, got %s", fillsString(fills))
			}
			f := fills[0]
			if f.Quantity != tc.wantQty || f.Amount != tc.wantAmt || f.Payment != tc.wantPay {
				t.Fatalf("fill %d units, %d msat, %v; want %d, %d, %v", f.Quantity, f.Amount, f.Payment, tc.wantQty, tc.wantAmt, tc.wantPay)
			}
			if f.Buyer != b.Pubkey || f.Provider != o.Pubkey || f.BidID != b.EventID || f.Offer != o.Address() || f.OfferID != o.EventID {
				t.Fatalf("fill names the wrong parties: %+v", f)
			}
			if !f.Expires.Equal(t0.Add(time.Second + DefaultConfig().ProposalTTL)) {
				t.Fatalf("expires %v", f.Expires)
			}
			// The fill is a valid proposal event.
			evt := f.Proposal().ToEvent(nostr.Timestamp(t0.Unix() + 1))
			evt.PubKey = hexID("relay")
			if _, err := nips.ParseProposal(&evt); err != nil {
				t.Fatalf("fill does not make a valid proposal: %v", err)
			}
		})
	}
}

func mods(m ...func(*nips.Offer)) []func(*nips.Offer) { return m }
func bmods(m ...func(*nips.Bid)) []func(*nips.Bid)    { return m }

func TestPriceTimePriority(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	add := func(name string, price uint64, created int64) {
		o := mkOffer(name, func(o *nips.Offer) {
			o.Prices[0].Msat, o.MaxQuantity, o.Capacity, o.CreatedAt = price, 100, 100, nostr.Timestamp(t0.Unix()+created)
		})
		must(t)(book.AddOffer(o, t0.Add(10*time.Second)))
	}
	add("dear", 60, 0)
	add("late", 50, 5)
	add("early", 50, 2)
	add("cheap", 40, 9)
	fills := must(t)(book.AddBid(mkBid("b", func(b *nips.Bid) {
		b.Quantity, b.CreatedAt = 350, nostr.Timestamp(t0.Unix()+10)
	}), t0.Add(10*time.Second)))
	want := []struct {
		offer string
		qty   uint64
	}{{"cheap", 100}, {"early", 100}, {"late", 100}, {"dear", 50}}
	if len(fills) != len(want) {
		t.Fatalf("fills %s", fillsString(fills))
	}
	sessions := map[string]bool{}
	for i, w := range want {
		if fills[i].Offer != mkOffer(w.offer).Address() || fills[i].Quantity != w.qty {
			t.Fatalf("fill %d: got %s, want %s %d", i, fillsString(fills[i:i+1]), w.offer, w.qty)
		}
		sessions[fills[i].Session] = true
	}
	if len(sessions) != 4 {
		t.Fatal("sessions of one bid's fills must differ")
	}
	if o, b := book.Len(); o != 1 || b != 0 {
		t.Fatalf("book holds %d offers, %d bids; want the dear offer only", o, b)
	}
	v := book.View(ViewQuery{Now: t0.Add(10 * time.Second)})
	if len(v.Offers) != 1 || v.Offers[0].Capacity != 50 {
		t.Fatalf("view %+v", v.Offers)
	}
}

func TestRestingBidsFilledByNewOffer(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	now := t0.Add(2 * time.Second)
	// Two resting bids: the more generous one is filled first, whatever its time.
	must(t)(book.AddBid(mkBid("early-low", func(b *nips.Bid) { b.MaxPrices[0].Msat = 60; b.CreatedAt-- }), now))
	must(t)(book.AddBid(mkBid("late-high", func(b *nips.Bid) { b.MaxPrices[0].Msat = 90 }), now))
	must(t)(book.AddBid(mkBid("too-low", func(b *nips.Bid) { b.MaxPrices[0].Msat = 10 }), now))
	fills := must(t)(book.AddOffer(mkOffer("o", func(o *nips.Offer) { o.Capacity = 150 }), now))
	if len(fills) != 2 || fills[0].BidID != hexID("bid event late-high") || fills[0].Quantity != 100 ||
		fills[1].BidID != hexID("bid event early-low") || fills[1].Quantity != 50 {
		t.Fatalf("fills %+v", fills)
	}
	if o, b := book.Len(); o != 0 || b != 2 {
		t.Fatalf("book: %d offers, %d bids; want the exhausted offer gone and two bids resting", o, b)
	}
	// The partly filled bid keeps its remainder and gets it from the next offer,
	// under a new session id.
	fills2 := must(t)(book.AddOffer(mkOffer("p"), now))
	if len(fills2) != 1 || fills2[0].BidID != hexID("bid event early-low") || fills2[0].Quantity != 50 || fills2[0].Session == fills[1].Session {
		t.Fatalf("second fills %+v", fills2)
	}
}

func TestExpiry(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	o := mkOffer("o", func(o *nips.Offer) { o.Expiration = nostr.Timestamp(t0.Unix() + 100) })
	if _, err := book.AddOffer(o, t0.Add(100*time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired offer: %v", err)
	}
	must(t)(book.AddOffer(o, t0))
	// A bid arriving after the offer expired, before Expire ran, is not filled from it.
	late := mkBid("late", func(b *nips.Bid) { b.Expiration = nostr.Timestamp(t0.Unix() + 1000) })
	if f := must(t)(book.AddBid(late, t0.Add(100*time.Second))); len(f) != 0 {
		t.Fatalf("filled from an expired offer: %v", f)
	}
	if n := book.Expire(t0.Add(100 * time.Second)); n != 1 {
		t.Fatalf("Expire removed %d, want the offer", n)
	}
	if n := book.Expire(t0.Add(1000 * time.Second)); n != 1 {
		t.Fatalf("Expire removed %d, want the bid", n)
	}
	if o, b := book.Len(); o != 0 || b != 0 {
		t.Fatalf("book not empty: %d %d", o, b)
	}
	if _, err := book.AddBid(mkBid("x", func(b *nips.Bid) { b.Expiration = nostr.Timestamp(t0.Unix()) }), t0); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired bid: %v", err)
	}
}

func TestCancelByDeletion(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	now := t0.Add(5 * time.Second)
	b := mkBid("b", func(b *nips.Bid) { b.MaxPrices[0].Msat = 10 }) // rests: too low for the offer
	must(t)(book.AddBid(b, now))
	o := mkOffer("o")
	must(t)(book.AddOffer(o, now))

	// Someone else's deletion does nothing.
	if n := book.Cancel(nips.Deletion{Pubkey: hexID("mallory"), IDs: []string{b.EventID}, Addresses: []string{o.Address()}, CreatedAt: o.CreatedAt + 10}); n != 0 {
		t.Fatalf("foreign deletion removed %d", n)
	}
	if n := book.Cancel(nips.Deletion{Pubkey: b.Pubkey, IDs: []string{b.EventID}, CreatedAt: b.CreatedAt + 1}); n != 1 {
		t.Fatalf("bid deletion removed %d", n)
	}
	if _, err := book.AddBid(b, now); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("cancelled bid re-added: %v", err)
	}
	if n := book.Cancel(nips.Deletion{Pubkey: o.Pubkey, Addresses: []string{o.Address()}, CreatedAt: o.CreatedAt + 10}); n != 1 {
		t.Fatalf("address deletion removed %d", n)
	}
	// Versions up to the deletion stay deleted; a newer one is a new offer.
	older := o
	older.CreatedAt += 5
	if _, err := book.AddOffer(older, now); !errors.Is(err, ErrStale) {
		t.Fatalf("version older than its deletion: %v", err)
	}
	newer := o
	newer.CreatedAt += 11
	newer.EventID = hexID("newer")
	must(t)(book.AddOffer(newer, now))
	// Deleting an offer by its event id.
	if n := book.Cancel(nips.Deletion{Pubkey: o.Pubkey, IDs: []string{newer.EventID}}); n != 1 {
		t.Fatalf("offer deletion by id removed %d", n)
	}
}

func TestOfferReplacement(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	v1 := mkOffer("o")
	v2 := mkOffer("o", func(o *nips.Offer) { o.CreatedAt++; o.EventID = hexID("v2"); o.Prices[0].Msat = 70 })
	must(t)(book.AddOffer(v1, t0))
	must(t)(book.AddOffer(v2, t0))
	if _, err := book.AddOffer(v1, t0); !errors.Is(err, ErrStale) {
		t.Fatalf("old version re-added: %v", err)
	}
	v := book.View(ViewQuery{Now: t0})
	if len(v.Offers) != 1 || v.Offers[0].Prices[0].Msat != 70 {
		t.Fatalf("view %+v", v.Offers)
	}
	// Same created_at: the lower id wins (NIP-01).
	tie := v2
	tie.EventID = "0000" + v2.EventID[4:]
	must(t)(book.AddOffer(tie, t0))
	if _, err := book.AddOffer(v2, t0); !errors.Is(err, ErrStale) {
		t.Fatalf("higher id at same created_at: %v", err)
	}
}

func TestBookRefusals(t *testing.T) {
	book := newBook(t, nips.Bandwidth, nil)
	if _, err := book.AddOffer(mkOffer("s", func(o *nips.Offer) { o.Resource = nips.Storage }), t0); !errors.Is(err, ErrWrongResource) {
		t.Fatalf("wrong resource: %v", err)
	}
	if _, err := book.AddBid(mkBid("t", func(b *nips.Bid) { b.Offer = mkOffer("o").Address() }), t0); !errors.Is(err, ErrTargetedBid) {
		t.Fatalf("targeted: %v", err)
	}
	b := mkBid("b", func(b *nips.Bid) { b.MaxPrices[0].Msat = 1 })
	must(t)(book.AddBid(b, t0))
	if _, err := book.AddBid(b, t0); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := NewBook("cpu", DefaultConfig()); err == nil {
		t.Fatal("unknown resource accepted")
	}
	if _, err := NewBook(nips.Storage, Config{}); err == nil {
		t.Fatal("zero ProposalTTL accepted")
	}
}

func TestViewFilters(t *testing.T) {
	trust := func(pk string) int {
		if pk == hexID("provider trusted") {
			return 80
		}
		return 5
	}
	book := newBook(t, nips.Bandwidth, trust)
	must(t)(book.AddOffer(mkOffer("trusted", func(o *nips.Offer) { o.Prices[0].Msat = 90 }), t0))
	must(t)(book.AddOffer(mkOffer("cheap", func(o *nips.Offer) { o.Prices[0].Msat = 10; o.Geohash = "u0yj" }), t0))
	must(t)(book.AddOffer(mkOffer("mid", func(o *nips.Offer) { o.Prices[0].Msat = 40 }), t0))
	names := func(v BookView) (s []string) {
		for _, o := range v.Offers {
			s = append(s, o.Address[len(o.Address)-3:])
		}
		return s
	}
	tests := []struct {
		q    ViewQuery
		want string
	}{
		{ViewQuery{Now: t0}, "[eap mid ted]"},
		{ViewQuery{Now: t0, Ceiling: 40}, "[eap mid]"},
		{ViewQuery{Now: t0, Region: "dr5"}, "[mid ted]"},
		{ViewQuery{Now: t0, MinTrust: 50}, "[ted]"},
		{ViewQuery{Now: t0, Limit: 1}, "[eap]"},
		{ViewQuery{Now: t0.Add(2 * time.Hour)}, "[]"},
	}
	for _, tc := range tests {
		if got := names(book.View(tc.q)); fmtSlice(got) != tc.want {
			t.Errorf("%+v: got %v, want %s", tc.q, got, tc.want)
		}
	}
}

func fmtSlice(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// Len returns the number of offers and resting bids.
func (b *Book) Len() (offers, bids int) { return len(b.offers), len(b.bids) }
