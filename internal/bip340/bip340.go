// Package bip340 checks Nostr event signatures (BIP-340 Schnorr over
// secp256k1) as fast as the build allows.
//
// When cgo is available (a C compiler is installed and CGO_ENABLED is not 0)
// and the purego build tag is not set, signatures are checked by the
// libsecp256k1 C library vendored in libsecp256k1/ (the copy go-nostr
// v0.52.3 vendors), about four times as fast as the pure-Go btcec code that
// go-nostr uses by default. Otherwise the btcec code checks them. Both give
// the same answer for every input; the package's tests and fuzz target
// compare them.
package bip340

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/nbd-wtf/go-nostr"
)

// ErrMalformed reports a public key or signature that is not hex of the
// right length.
var ErrMalformed = errors.New("bip340: malformed key or signature")

// Implementation names the verifier this build uses: "libsecp256k1" or
// "btcec".
const Implementation = implementation

// CheckEvent reports whether evt's signature is valid for the hash of its
// NIP-01 serialization and its pubkey, like go-nostr's Event.CheckSignature.
// It returns an error wrapping ErrMalformed when the pubkey or signature is
// not hex of the right length; a pubkey that is not on the curve is a false
// result without an error.
func CheckEvent(evt *nostr.Event) (bool, error) {
	pk, sig, err := decode(evt.PubKey, evt.Sig)
	if err != nil {
		return false, err
	}
	msg := sha256.Sum256(evt.Serialize())
	return verify(&pk, &msg, &sig), nil
}

func decode(pubkey, signature string) (pk [32]byte, sig [64]byte, err error) {
	if len(pubkey) != 64 {
		return pk, sig, fmt.Errorf("%w: pubkey is %d characters, want 64", ErrMalformed, len(pubkey))
	}
	if _, err := hex.Decode(pk[:], []byte(pubkey)); err != nil {
		return pk, sig, fmt.Errorf("%w: pubkey: %w", ErrMalformed, err)
	}
	if len(signature) != 128 {
		return pk, sig, fmt.Errorf("%w: signature is %d characters, want 128", ErrMalformed, len(signature))
	}
	if _, err := hex.Decode(sig[:], []byte(signature)); err != nil {
		return pk, sig, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	return pk, sig, nil
}

// verifyBtcec is the pure-Go check, compiled into every build so the tests
// can compare it with libsecp256k1.
func verifyBtcec(pk *[32]byte, msg *[32]byte, sig *[64]byte) bool {
	key, err := schnorr.ParsePubKey(pk[:])
	if err != nil {
		return false
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return false
	}
	return s.Verify(msg[:], key)
}

// CheckID reports whether evt.Sig signs evt.ID by evt.PubKey. It does not
// check that evt.ID is the hash of the event's serialization, so it saves
// CheckEvent's serialization and hash: call it only on an event whose id was
// checked (go-nostr's Event.CheckID), as khatru does before its signature
// check. Errors are as for CheckEvent; a malformed id is also one.
func CheckID(evt *nostr.Event) (bool, error) {
	pk, sig, err := decode(evt.PubKey, evt.Sig)
	if err != nil {
		return false, err
	}
	var msg [32]byte
	if len(evt.ID) != 64 {
		return false, fmt.Errorf("%w: id is %d characters, want 64", ErrMalformed, len(evt.ID))
	}
	if _, err := hex.Decode(msg[:], []byte(evt.ID)); err != nil {
		return false, fmt.Errorf("%w: id: %w", ErrMalformed, err)
	}
	return verify(&pk, &msg, &sig), nil
}
