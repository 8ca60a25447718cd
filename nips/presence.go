package nips

import (
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// Presence beacon timing.
const (
	// MaxPresenceTTL bounds a beacon's expiration: at most one hour after
	// created_at. A node that stops beaconing drops out of views within it.
	MaxPresenceTTL = 3600
	// PresenceTargetRate is the aggregate beacon rate, per second, that
	// PresenceInterval aims for across all nodes on a relay.
	PresenceTargetRate = 1.0
	// MinPresenceInterval and MaxPresenceInterval clamp the interval.
	MinPresenceInterval = 30 * time.Second
	MaxPresenceInterval = 20 * time.Minute
)

// PresenceInterval returns how often a node publishes its beacon when nodes
// are present (counted from the unexpired beacons it sees): nodes /
// PresenceTargetRate seconds, clamped to [MinPresenceInterval,
// MaxPresenceInterval]. With few nodes each beacons often (fresh load
// figures); with many, the total stays about PresenceTargetRate beacons per
// second. The beacon's expiration should be PresenceTTL(interval).
func PresenceInterval(nodes int) time.Duration {
	d := time.Duration(float64(max(nodes, 0)) / PresenceTargetRate * float64(time.Second))
	return min(max(d, MinPresenceInterval), MaxPresenceInterval)
}

// PresenceTTL is the expiration distance for a beacon sent every interval:
// three intervals (one lost beacon does not drop the node), at most
// MaxPresenceTTL.
func PresenceTTL(interval time.Duration) time.Duration {
	return min(3*interval, MaxPresenceTTL*time.Second)
}

// Presence is a node's presence beacon (kind 18460, replaceable). See presence.md.
type Presence struct {
	Capabilities []Resource // t tags: resources the node serves
	Load         uint64     // current load, percent 0-100
	Uptime       uint64     // seconds since the node started
	Tier         Tier
	Geohash      string // most precise g tag; "" = not given
	Endpoints    []string
	Expiration   nostr.Timestamp // NIP-40, required, at most MaxPresenceTTL ahead

	// Set by ParsePresence from the event.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the beacon as an unsigned event.
func (b Presence) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := make(nostr.Tags, 0, 8+len(b.Capabilities)+len(b.Endpoints))
	for _, r := range b.Capabilities {
		tags = append(tags, nostr.Tag{"t", string(r)})
	}
	tags = append(tags,
		nostr.Tag{"load", utoa(b.Load)},
		nostr.Tag{"uptime", utoa(b.Uptime)},
		nostr.Tag{"tier", string(b.Tier)},
	)
	for _, g := range GeohashPrefixes(b.Geohash) {
		tags = append(tags, nostr.Tag{"g", g})
	}
	for _, e := range b.Endpoints {
		tags = append(tags, nostr.Tag{"endpoint", e})
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(b.Expiration))},
		nostr.Tag{"alt", "sovmesh node presence beacon"},
	)
	return nostr.Event{Kind: KindPresence, CreatedAt: createdAt, Tags: tags}
}

// ParsePresence reads and checks a presence beacon.
func ParsePresence(evt *nostr.Event) (Presence, error) {
	p := newParser("presence")
	if err := p.kind(evt, KindPresence); err != nil {
		return Presence{}, err
	}
	b := Presence{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var (
		gs  []string
		err error
	)
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "t":
			if len(tag) >= 2 && Resource(tag[1]).Valid() {
				if slices.Contains(b.Capabilities, Resource(tag[1])) {
					err = perr(p.typ, "t", ErrDuplicateTag, "%q", tag[1])
				}
				b.Capabilities = append(b.Capabilities, Resource(tag[1]))
			}
		case "load":
			if err = p.once("load"); err == nil {
				if err = p.want(tag, 2, `["load", percent]`); err == nil {
					b.Load, err = p.uint(tag, 1, 0, 100)
				}
			}
		case "uptime":
			if err = p.once("uptime"); err == nil {
				if err = p.want(tag, 2, `["uptime", seconds]`); err == nil {
					b.Uptime, err = p.uint(tag, 1, 0, MaxDuration)
				}
			}
		case "tier":
			if err = p.once("tier"); err == nil {
				if err = p.want(tag, 2, `["tier", root|branch|leaf]`); err == nil {
					b.Tier = Tier(tag[1])
					if !b.Tier.Valid() {
						err = perr(p.typ, "tier", ErrBadValue, "%q, want root, branch or leaf", tag[1])
					}
				}
			}
		case "g":
			if err = p.want(tag, 2, `["g", geohash]`); err == nil {
				if len(gs) >= MaxGeohashLen {
					err = perr(p.typ, "g", ErrOutOfRange, "more than %d g tags", MaxGeohashLen)
				}
				gs = append(gs, tag[1])
			}
		case "endpoint":
			b.Endpoints, err = p.endpoint(tag, b.Endpoints)
		case "expiration":
			b.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxPresenceTTL)
		}
		if err != nil {
			return Presence{}, err
		}
	}
	if len(b.Capabilities) == 0 {
		return Presence{}, perr(p.typ, "t", ErrMissingTag, "at least one t tag naming a resource the node serves")
	}
	if err := p.require("load", "uptime", "tier", "expiration"); err != nil {
		return Presence{}, err
	}
	if len(gs) > 0 {
		if b.Geohash, err = p.geohashes(gs); err != nil {
			return Presence{}, err
		}
	}
	return b, nil
}
