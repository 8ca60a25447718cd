package transport

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNotNostrKey reports a peer ID or key that does not map to a Nostr
// (BIP-340 x-only, even-y secp256k1) public key.
var ErrNotNostrKey = errors.New("transport: not a nostr secp256k1 key")

// ErrBadSecret reports a Nostr secret key that is not 32 bytes of hex in the
// valid scalar range. The error never includes the secret.
var ErrBadSecret = errors.New("transport: invalid nostr secret key")

// IdentityFromNostrSecret turns a Nostr secret key (64 hex characters, as
// go-nostr stores it) into a libp2p private key. BIP-340 uses the key whose
// public point has even y; when the secret's point has odd y the secret is
// negated, so that the peer ID always equals PeerIDFromNostrPubkey of the
// Nostr public key.
func IdentityFromNostrSecret(secretHex string) (crypto.PrivKey, error) {
	raw, err := hex.DecodeString(secretHex)
	if err != nil || len(raw) != 32 {
		return nil, ErrBadSecret
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(raw); overflow || s.IsZero() {
		return nil, ErrBadSecret
	}
	priv := secp256k1.NewPrivateKey(&s)
	if priv.PubKey().SerializeCompressed()[0] == secp256k1.PubKeyFormatCompressedOdd {
		s.Negate()
		priv = secp256k1.NewPrivateKey(&s)
	}
	b := priv.Serialize()
	k, err := crypto.UnmarshalSecp256k1PrivateKey(b)
	clear(b)
	if err != nil {
		return nil, ErrBadSecret
	}
	return k, nil
}

// GenerateNostrSecret returns a fresh random Nostr secret key in hex.
func GenerateNostrSecret() (string, error) {
	for range 16 {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("transport: generate key: %w", err)
		}
		var s secp256k1.ModNScalar
		if overflow := s.SetBytes(&b); overflow == 0 && !s.IsZero() {
			return hex.EncodeToString(b[:]), nil
		}
	}
	return "", errors.New("transport: generate key: no valid scalar")
}

// PeerIDFromNostrPubkey returns the libp2p peer ID of a Nostr public key
// (64 hex characters, x-only). The libp2p key is the compressed point 02||x.
func PeerIDFromNostrPubkey(pubHex string) (peer.ID, error) {
	x, err := hex.DecodeString(pubHex)
	if err != nil || len(x) != 32 {
		return "", fmt.Errorf("%w: want 64 hex characters", ErrNotNostrKey)
	}
	comp := make([]byte, 33)
	comp[0] = secp256k1.PubKeyFormatCompressedEven
	copy(comp[1:], x)
	pub, err := crypto.UnmarshalSecp256k1PublicKey(comp)
	if err != nil {
		return "", fmt.Errorf("%w: not a point on the curve", ErrNotNostrKey)
	}
	return peer.IDFromPublicKey(pub)
}

// NostrPubkeyFromPeerID returns the Nostr public key (x-only hex) that a
// peer ID encodes. It fails with ErrNotNostrKey for peers whose key is not
// secp256k1 or whose point has odd y (such keys are not produced by
// IdentityFromNostrSecret).
func NostrPubkeyFromPeerID(id peer.ID) (string, error) {
	x, err := nostrKeyBytes(id)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(x[:]), nil
}

// nostrKeyBytes is NostrPubkeyFromPeerID returning raw bytes.
func nostrKeyBytes(id peer.ID) ([32]byte, error) {
	var out [32]byte
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return out, fmt.Errorf("%w: %v", ErrNotNostrKey, err)
	}
	if pub.Type() != crypto.Secp256k1 {
		return out, fmt.Errorf("%w: key type %s", ErrNotNostrKey, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != 33 {
		return out, ErrNotNostrKey
	}
	if raw[0] != secp256k1.PubKeyFormatCompressedEven {
		return out, fmt.Errorf("%w: odd y", ErrNotNostrKey)
	}
	copy(out[:], raw[1:])
	return out, nil
}
