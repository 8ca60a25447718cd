package nips

import "github.com/nbd-wtf/go-nostr"

// Market event kinds. The numbers were checked against the NIPs registry and
// the kinds in use in the field; see README.md for the table and the check.
const (
	// KindBid is a buyer's order (regular).
	KindBid = 8460
	// KindMatch is an agreement between a buyer and a provider (regular).
	KindMatch = 8461
	// KindProposal is a relay matching engine's proposed fill of an open
	// bid, which the provider confirms with its Match or refuses (regular).
	KindProposal = 8468
	// KindRefusal is a provider's refusal of a proposal (regular).
	KindRefusal = 8469
	// KindProposalsEnd is a relay matching engine's end-of-proposals
	// marker for an open bid: nothing more to propose for now (regular).
	KindProposalsEnd = 8470
	// KindReceipt is a provider's record of one session, countersigned by
	// the buyer (regular).
	KindReceipt = 8462
	// KindAttestation is a signed rating of a counterparty that points at a
	// receipt (regular).
	KindAttestation = 8463
	// KindPresence is a node's presence beacon (replaceable).
	KindPresence = 18460
	// KindOffer is a provider's offer of one resource (addressable, d = offer id).
	KindOffer = 38460
	// KindTopUp credits a prepaid fee balance at the relay with a Cashu
	// token (ephemeral: the relay answers it and neither stores nor
	// broadcasts it).
	KindTopUp = 28460

	// KindSafeBox is one stored file's content key, NIP-44 encrypted to its
	// owner's own key (addressable; d = a keyed hash of the file's root CID,
	// so the relay cannot link entries to stored chunks). See safebox.md.
	KindSafeBox = 38464
	// KindKeyShare is the rumor kind of a social-recovery share, always
	// NIP-59 gift-wrapped to one contact (or back to a recovery key).
	KindKeyShare = 8464
	// KindKeyGrant is the rumor kind of a grant: one file's content key
	// re-wrapped to another pubkey, NIP-59 gift-wrapped to it.
	KindKeyGrant = 8465
	// KindChangeNote is the rumor kind of inference change a provider could
	// not deliver in band (the stream was gone), NIP-59 gift-wrapped to the
	// buyer. See change.md.
	KindChangeNote = 8466
	// KindManifest is a signed list of files with their sizes and SHA-256
	// hashes: a folder carried by hand (a relay's event bundle, a stored
	// file's chunks, any release) verifies against it (regular). See
	// manifest.md.
	KindManifest = 8467
	// KindClassified is NIP-99's classified listing (addressable): each
	// offer is also published as one, with the offer's d tag, so Nostr
	// clients that show listings show the market. See offer.md.
	KindClassified = 30402
	// KindRoutstr is Routstr's provider announcement (addressable, NIP-91
	// draft): an inference offer served over Routstr's HTTP API is also
	// announced as one, with the offer's d tag. See offer.md.
	KindRoutstr = 38421
	// KindUserAssertion is NIP-85's trusted assertion about a pubkey
	// (addressable, d = the pubkey): the relay publishes each key's market
	// trust rank (0-100) in a "rank" tag. See trust.md.
	KindUserAssertion = 30382
	// KindSpendingAuthorization is the default kind of an owner's signed
	// spending authorization for an agent key (addressable, d = the agent's
	// pubkey: the owner's newest authorization for that agent replaces the
	// previous one, and a NIP-09 deletion with an "a" tag revokes it). See
	// budget.md.
	KindSpendingAuthorization = 38465
	// KindLegacySpendingAuthorization is the kind spending authorizations
	// had before they got their own: NIP-78 application data with no d tag.
	// Agents still read (and apply "e" revocations of) them; nothing signs
	// new ones.
	KindLegacySpendingAuthorization = 30078

	// KindCashuWallet, KindCashuToken and KindCashuHistory are NIP-60's
	// wallet (replaceable), unspent-proofs and spending-history events, all
	// NIP-44 encrypted to the author's own key: agentd mirrors its wallet
	// to them (--nip60). See nip60.go.
	KindCashuWallet  = 17375
	KindCashuToken   = 7375
	KindCashuHistory = 7376

	// KindDeletion is NIP-09's deletion request, which cancels orders.
	KindDeletion = nostr.KindDeletion
	// KindGiftWrap is NIP-59's gift wrap, which carries private bids.
	KindGiftWrap = nostr.KindGiftWrap
)

// agentKinds lists the kinds of the agent's keys and money (SafeBox, key
// shares and grants, change notes, spending authorizations); they are not
// market kinds.
var agentKinds = [...]int{KindSafeBox, KindKeyShare, KindKeyGrant, KindChangeNote, KindSpendingAuthorization}

// marketKinds lists every market kind this package defines.
var marketKinds = [...]int{KindOffer, KindPresence, KindBid, KindMatch, KindProposal, KindRefusal, KindProposalsEnd, KindReceipt, KindAttestation, KindTopUp}

// MarketKinds returns the market kinds, for building REQ filters.
func MarketKinds() []int { return marketKinds[:] }
