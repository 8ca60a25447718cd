package safebox

// Kinds of agentd's key events. They belong in nips (the one place for
// kind numbers); they are defined here until nips names them, and the
// proposed nips addition is in /tmp/sovmesh/agentd-nips.patch.
const (
	// KindSafeBox is one stored file's content key, NIP-44 encrypted to
	// its owner's own key (addressable; d = a keyed hash of the file's
	// root CID, so the relay cannot link entries to stored chunks).
	KindSafeBox = 38464
	// KindKeyShare is the rumor kind of a social-recovery share, always
	// NIP-59 gift-wrapped to one contact (or back to a recovery key).
	KindKeyShare = 8464
	// KindKeyGrant is the rumor kind of a grant: one file's key re-wrapped
	// to another pubkey, NIP-59 gift-wrapped to it.
	KindKeyGrant = 8465
)
