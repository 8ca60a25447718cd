package transport

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// SignDelete returns the BIP-340 signature with which the owner whose Nostr
// secret is secretHex authorizes provider to delete chunk c until expiry.
func SignDelete(secretHex string, provider peer.ID, c chunk.CID, expiry time.Time) ([]byte, error) {
	priv, err := IdentityFromNostrSecret(secretHex)
	if err != nil {
		return nil, err
	}
	return signDelete(priv.(interface{ Raw() ([]byte, error) }), provider, c, expiry.Unix())
}
