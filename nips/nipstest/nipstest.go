// Package nipstest holds fixtures for tests of the market protocol: fixed
// test keys, one valid signed example event per market event type (the same
// events as nips/testdata and the Markdown specs), and malformed events with
// the error each must be rejected with. Relay and client tests use it to
// check rejection end to end. The keys are public test keys: never fund them.
package nipstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/sovmesh/sovmesh/nips"
)

// Time is the created_at of every example: 2026-01-01T00:00:00Z.
const Time nostr.Timestamp = 1767225600

// Key is a test identity.
type Key struct {
	Secret string // hex; public test key, never fund it
	Public string // hex x-only
}

// NewKey derives a test key from a name.
func NewKey(name string) Key {
	h := sha256.Sum256([]byte("sovmesh test key " + name))
	sk := hex.EncodeToString(h[:])
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		panic(fmt.Sprintf("nipstest: key %s: %v", name, err))
	}
	return Key{Secret: sk, Public: pk}
}

// The keys of the examples.
var (
	Provider = NewKey("provider")
	Buyer    = NewKey("buyer")
	Relay    = NewKey("relay")
)

// Sign signs evt with k (setting PubKey, ID and Sig) and returns it.
func Sign(evt nostr.Event, k Key) nostr.Event {
	if err := evt.Sign(k.Secret); err != nil {
		panic(fmt.Sprintf("nipstest: sign: %v", err))
	}
	return evt
}

// Mint is the Cashu mint URL of the examples.
const Mint = "https://mint.example.com"

// Token is the Cashu token of the examples: a V4 token of 20 sat from Mint
// as a wallet encodes it (shape only: no mint signed its proofs).
const Token = "cashuBo2FteBhodHRwczovL21pbnQuZXhhbXBsZS5jb21hdWNzYXRhdIGiYWlIAK0mjE0fWCZhcIKjYWEEYXN4QDRjMjIyYjM1NjRmNjE3YWJjYzhhZDAxOTNkZmU0YTc1MGQ4MjM0MTcwZDBhMGJjNGJiZGZlZDI2YjBkM2JlZTJhY1ghAqW8RNauDchfQWXzgH5iUQ56jFFRbbudS3JFMK5wngtOo2FhEGFzeEA3Mzk3NDY1MzkxZWNlNzU2ZmFhZDFjZDJiZjRmNDViZDk0MzljMjcxZmJmZDIyMDM0ODQ3MWZkZmMxMjg0NzBmYWNYIQPJuUqPI8HglLnFbYTTuoxh_MWlYoZ29DBC-fsSVgqKpw"

// StorageOffer is the example storage offer.
func StorageOffer() nips.Offer {
	return nips.Offer{
		ID:          "store-eu-1",
		Resource:    nips.Storage,
		Prices:      nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}, {Unit: nips.UnitGiBUpload, Msat: 0}, {Unit: nips.UnitGiBRetrieval, Msat: 2000}},
		MinQuantity: 1, MaxQuantity: 512, Capacity: 4096,
		Payments:      []nips.Payment{{Method: nips.PayCashu, Mint: Mint, Unit: "sat"}, {Method: nips.PayLightning}},
		Geohash:       "u0yjj",
		Tier:          nips.TierBranch,
		Endpoints:     []string{"/ip4/203.0.113.7/udp/4001/quic-v1", "/ip4/203.0.113.7/tcp/4001"},
		Expiration:    Time + 86400,
		Title:         "Encrypted blob storage, Zurich",
		Summary:       "storage at 2000 msat per GiB-day",
		MaxObjectSize: 1 << 30, Retention: 90 * 86400,
	}
}

// BandwidthOffer is the example bandwidth offer.
func BandwidthOffer() nips.Offer {
	return nips.Offer{
		ID: "relay-1", Resource: nips.Bandwidth,
		Prices:      nips.Prices{{Unit: nips.UnitMiB, Msat: 50}},
		MinQuantity: 10, MaxQuantity: 100_000, Capacity: 1_000_000,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: Mint, Unit: "sat"}},
		Geohash:  "dr5r", Tier: nips.TierRoot,
		Endpoints:  []string{"/dns4/relay.example.net/udp/4001/quic-v1"},
		Expiration: Time + 3600,
	}
}

// InferenceOffer is the example inference offer.
func InferenceOffer() nips.Offer {
	return nips.Offer{
		ID: "llm-1", Resource: nips.Inference,
		Prices: nips.Prices{
			{Unit: nips.UnitMInputTokens, Msat: 150_000},
			{Unit: nips.UnitMOutputTokens, Msat: 600_000},
		},
		MinQuantity: 1000, MaxQuantity: 2_000_000, Capacity: 50_000_000,
		Payments:   []nips.Payment{{Method: nips.PayCashu, Mint: Mint, Unit: "msat"}, {Method: nips.PayLightning}},
		Tier:       nips.TierLeaf,
		Expiration: Time + 3600,
		Models:     []string{"llama-3.1-8b-instruct", "qwen2.5-7b-instruct"}, ContextLength: 32768,
	}
}

// StorageBid is the example bid on StorageOffer.
func StorageBid() nips.Bid {
	o := StorageOffer()
	o.Pubkey = Provider.Public
	return nips.Bid{
		Resource: nips.Storage, Offer: o.Address(),
		MaxPrices: nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2500}, {Unit: nips.UnitGiBUpload, Msat: 1000}, {Unit: nips.UnitGiBRetrieval, Msat: 2500}},
		Quantity:  10, Duration: 30 * 86400,
		Payments:   []nips.Payment{{Method: nips.PayCashu, Mint: Mint, Unit: "sat"}},
		Expiration: Time + 600,
	}
}

// OpenBid is the example open bid for bandwidth.
func OpenBid() nips.Bid {
	return nips.Bid{
		Resource: nips.Bandwidth, MaxPrices: nips.Prices{{Unit: nips.UnitMiB, Msat: 80}},
		Quantity: 2048, MinFill: 256, MinTrust: 20, Regions: []string{"dr5", "dr7"},
		Payments:   []nips.Payment{{Method: nips.PayCashu, Mint: Mint, Unit: "sat"}, {Method: nips.PayLightning}},
		Expiration: Time + 3600,
	}
}

// Presence is the example presence beacon.
func Presence() nips.Presence {
	return nips.Presence{
		Capabilities: []nips.Resource{nips.Storage, nips.Bandwidth},
		Load:         37, Uptime: 86400 * 3, Tier: nips.TierBranch, Geohash: "u0yjj",
		Endpoints:  []string{"/ip4/203.0.113.7/udp/4001/quic-v1"},
		Expiration: Time + 180,
	}
}

// ExampleEvents returns the signed example events by testdata file name.
func ExampleEvents() map[string]nostr.Event {
	out := map[string]nostr.Event{}
	so := Sign(StorageOffer().ToEvent(Time), Provider)
	out["offer-storage.json"] = so
	out["offer-bandwidth.json"] = Sign(BandwidthOffer().ToEvent(Time), Provider)
	out["offer-inference.json"] = Sign(InferenceOffer().ToEvent(Time), Provider)
	out["presence.json"] = Sign(Presence().ToEvent(Time), Provider)
	bid := Sign(StorageBid().ToEvent(Time+5), Buyer)
	out["bid-offer.json"] = bid
	out["bid-open.json"] = Sign(OpenBid().ToEvent(Time+5), Buyer)

	offer, _ := nips.ParseOffer(&so)
	m := nips.Match{
		Bid: bid.ID, Offer: offer.Address(), Buyer: Buyer.Public, Provider: Provider.Public,
		Resource: nips.Storage, Prices: offer.Prices, Quantity: 10, Duration: 30 * 86400,
		Session: nips.SessionID(bid.ID, offer.Address(), 0),
		Payment: nips.Payment{Method: nips.PayCashu, Mint: Mint, Unit: "sat"},
		// A NUT-18 request as the provider's wallet would encode it (shape only).
		PaymentRequest: "creqApWF0gaNhdGVub3N0cmFheKlucHJvZmlsZTFxeTI4d3VtbjhnaGo3dW45ZDNzaGp0bnl2OWtoMnVld2Q5aGo3dW45ZDNzaGp0bnl2OWtoMnVld2Q5aHN6OXJoeHh1bmdkOWtoMnVld2Q5aGo",
		Expiration:     Time + 610,
	}
	m.Amount, _ = nips.Cost(m.Resource, m.Prices, m.Quantity, m.Duration)
	match := Sign(m.ToEvent(Time+6), Provider)
	out["match.json"] = match

	prop := nips.Proposal{Match: m}
	prop.Expiration = Time + 65
	proposal := Sign(prop.ToEvent(Time+5), Relay)
	out["proposal.json"] = proposal
	out["refusal.json"] = Sign(nips.Refusal{Proposal: proposal.ID, Bid: bid.ID, To: Relay.Public, Session: m.Session,
		Reason: "capacity taken", Expiration: Time + 66}.ToEvent(Time+6), Provider)
	out["decline.json"] = Sign(nips.Refusal{Match: match.ID, Bid: bid.ID, To: Provider.Public, Session: m.Session,
		Reason: "took another provider", Expiration: Time + 610}.ToEvent(Time+7), Buyer)
	out["release.json"] = Sign(nips.Refusal{Release: match.ID, Bid: bid.ID, To: Buyer.Public, Session: m.Session,
		Reason: "payment window passed", Expiration: Time + 3608}.ToEvent(Time+8), Provider)

	rc := nips.Receipt{
		Session: m.Session, Match: match.ID, Buyer: Buyer.Public, Resource: nips.Storage,
		Delivered: 10, Paid: m.Amount, Payment: m.Payment,
		ContentIDs: []string{
			"a3f1c4e0b6d2e8f7a9c1b3d5e7f9a1c3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3c5",
			"5d41402abc4b2a76b9719d911017c592ae0b2c8f4d1f8f5f6e1c2b3a4d5e6f70",
		},
	}
	rev := rc.ToEvent(Time + 86400)
	rev.PubKey = Provider.Public
	sig, err := nips.Countersign(&rev, Buyer.Secret)
	if err != nil {
		panic(err)
	}
	rc.Countersig = sig
	receipt := Sign(rc.ToEvent(Time+86400), Provider)
	out["receipt.json"] = receipt

	at := nips.Attestation{
		Subject: Provider.Public, Receipt: receipt.ID, Role: nips.RoleProvider,
		Outcome: nips.Delivered, Settled: m.Amount, LatencyMs: 180, Rating: 95,
	}
	out["attestation.json"] = Sign(at.ToEvent(Time+86500), Buyer)

	out["topup.json"] = Sign(nips.TopUp{Token: Token}.ToEvent(Time+1), Provider)
	return out
}
