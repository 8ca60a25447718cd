package nips

import "github.com/nbd-wtf/go-nostr"

// AgentKinds returns the agent's key and money kinds.
func AgentKinds() []int { return agentKinds[:] }

// IsMarketKind reports whether kind is one of the market kinds this package
// defines (NIP-09 deletions and NIP-59 gift wraps are not market kinds).
func IsMarketKind(kind int) bool {
	for _, k := range marketKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Parse parses a market event into its typed value (Offer, Presence, Bid,
// Match, Proposal, Refusal, Receipt, Attestation or TopUp). For other kinds it returns (nil, nil).
func Parse(evt *nostr.Event) (any, error) {
	if evt == nil {
		return nil, nil
	}
	switch evt.Kind {
	case KindOffer:
		return ParseOffer(evt)
	case KindPresence:
		return ParsePresence(evt)
	case KindBid:
		return ParseBid(evt)
	case KindMatch:
		return ParseMatch(evt)
	case KindProposal:
		return ParseProposal(evt)
	case KindRefusal:
		return ParseRefusal(evt)
	case KindReceipt:
		return ParseReceipt(evt)
	case KindAttestation:
		return ParseAttestation(evt)
	case KindTopUp:
		return ParseTopUp(evt)
	}
	return nil, nil
}
