// Package transport moves the bytes the sovmesh market sells, peer to peer
// over libp2p: blind chunk storage, metered bandwidth (TCP connections
// carried by a provider) and streamed inference.
//
// A node's libp2p identity is its Nostr secp256k1 key, so a peer ID maps to
// an npub and back (PeerIDFromNostrPubkey, NostrPubkeyFromPeerID) and peers
// whose key is not a Nostr key are refused at the security handshake.
//
// Every protocol uses length-prefixed frames with a hard maximum, puts a
// deadline on every stream operation, and meters bytes and units per
// session. Providers call a PaymentGate at pause points; buyers answer with
// a Payer. Owners encrypt before anything leaves their process: providers
// store and carry ciphertext only.
package transport
