package cashu

import (
	"encoding/hex"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

type btcecPub = btcec.PublicKey

// compressedKey turns an x-only (Nostr) or compressed public key into the
// 33-byte compressed hex NUT-11 uses ("02" + x for an x-only key).
func compressedKey(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", errors.New("not hex")
	}
	switch len(b) {
	case 32:
		if _, err := schnorr.ParsePubKey(b); err != nil {
			return "", errors.New("not a valid key")
		}
		return "02" + s, nil
	case 33:
		if _, err := btcec.ParsePubKey(b); err != nil {
			return "", errors.New("not a valid key")
		}
		return s, nil
	}
	return "", errors.New("must be 32 or 33 bytes")
}

// xOnly returns the x coordinate (hex) of a compressed or x-only key.
func xOnly(s string) string {
	if len(s) == 66 {
		return s[2:]
	}
	return s
}
