package nips

import (
	"encoding/json"

	"github.com/nbd-wtf/go-nostr"
)

// RoutstrVersion is the version tag of our Routstr announcements: the
// Routstr API we serve (OpenAI-compatible /v1, paid per request with
// X-Cashu), as implemented by sovmesh.
const RoutstrVersion = "sovmesh-routstr/1"

// Routstr encodes the offer as a Routstr provider announcement (kind 38421,
// same d tag): a u tag per endpoint URL, a mint tag per Cashu payment, the
// version, an "a" tag naming the offer and the offer's expiration, so the
// announcement ends with it. The content is the metadata JSON Routstr
// reads (name, about). The offer must have been published (Pubkey set).
func (o Offer) Routstr(createdAt nostr.Timestamp, urls []string) nostr.Event {
	tags := nostr.Tags{{"d", o.ID}}
	for _, u := range urls {
		tags = append(tags, nostr.Tag{"u", u})
	}
	for _, p := range o.Payments {
		if p.Method == PayCashu {
			tags = append(tags, nostr.Tag{"mint", p.Mint})
		}
	}
	tags = append(tags,
		nostr.Tag{"version", RoutstrVersion},
		nostr.Tag{"a", o.Address()},
		nostr.Tag{"expiration", utoa(uint64(o.Expiration))},
		nostr.Tag{"alt", "Routstr provider (sovmesh inference offer " + o.Address() + ")"})
	meta, _ := json.Marshal(map[string]string{"name": "sovmesh inference", "about": o.describe()})
	return nostr.Event{Kind: KindRoutstr, CreatedAt: createdAt, Tags: tags, Content: string(meta)}
}
