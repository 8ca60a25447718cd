package nips

import "github.com/nbd-wtf/go-nostr"

// Validate checks a market event with the parser of its kind. It returns nil
// for events of other kinds, and a *ParseError naming the problem for a
// malformed market event; a relay answers "invalid: " + err.Error().
func Validate(evt *nostr.Event) error {
	if evt == nil {
		return nil
	}
	var err error
	switch evt.Kind {
	case KindOffer:
		_, err = ParseOffer(evt)
	case KindPresence:
		_, err = ParsePresence(evt)
	case KindBid:
		_, err = ParseBid(evt)
	case KindMatch:
		_, err = ParseMatch(evt)
	case KindProposal:
		_, err = ParseProposal(evt)
	case KindRefusal:
		_, err = ParseRefusal(evt)
	case KindProposalsEnd:
		_, err = ParseProposalsEnd(evt)
	case KindReceipt:
		_, err = ParseReceipt(evt)
	case KindAttestation:
		_, err = ParseAttestation(evt)
	case KindTopUp:
		_, err = ParseTopUp(evt)
	}
	return err
}
