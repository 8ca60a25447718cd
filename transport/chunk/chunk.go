// Package chunk holds the owner-side cryptography of blind storage: files
// are cut into fixed-size chunks, each sealed with AES-256-GCM under a fresh
// per-file key, and addressed by the SHA-256 of its ciphertext (its CID).
//
// Nonces are derived from the chunk's kind and index (unique per key, since
// every file has its own key), and the kind and index are also bound as
// associated data, so a provider cannot reorder or swap chunks undetected.
// Nothing in this package does I/O.
package chunk

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Overhead is the number of bytes sealing adds to a chunk (the GCM tag).
const Overhead = 16

// Size limits for plaintext chunks.
const (
	MinSize     = 4 << 10
	MaxSize     = 8 << 20
	DefaultSize = 1 << 20
)

// ErrAuth reports ciphertext that fails GCM authentication: tampered,
// truncated, or sealed under another key, kind or index.
var ErrAuth = errors.New("chunk: authentication failed")

// ErrBadCID reports a CID that is not 64 hex characters.
var ErrBadCID = errors.New("chunk: malformed CID")

// CID addresses a chunk: the SHA-256 of its ciphertext.
type CID [32]byte

// Sum returns the CID of ciphertext.
func Sum(ciphertext []byte) CID { return sha256.Sum256(ciphertext) }

// String returns the CID in lowercase hex.
func (c CID) String() string { return hex.EncodeToString(c[:]) }

// IsZero reports whether c is the zero CID, which marks an absent shard.
func (c CID) IsZero() bool { return c == CID{} }

// ParseCID parses a CID from hex.
func ParseCID(s string) (CID, error) {
	var c CID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, ErrBadCID
	}
	copy(c[:], b)
	return c, nil
}

// Key is a per-file AES-256 key. It never leaves the owner.
type Key [32]byte

// NewKey returns a fresh random key.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("chunk: new key: %w", err)
	}
	return k, nil
}

// Kind separates the nonce spaces of data chunks and manifests.
type Kind byte

// Chunk kinds.
const (
	KindData     Kind = 1
	KindManifest Kind = 2
)

const aadLabel = "sovmesh/chunk/v1"

// Cipher seals and opens the chunks of one file. It is safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher returns the Cipher for key.
func NewCipher(key Key) (*Cipher, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

func nonceAAD(kind Kind, index uint64) (nonce [12]byte, aad [len(aadLabel) + 9]byte) {
	nonce[0] = byte(kind)
	binary.BigEndian.PutUint64(nonce[4:], index)
	copy(aad[:], aadLabel)
	aad[len(aadLabel)] = byte(kind)
	binary.BigEndian.PutUint64(aad[len(aadLabel)+1:], index)
	return nonce, aad
}

// Seal appends the ciphertext of plaintext, chunk kind and index to dst.
func (c *Cipher) Seal(dst, plaintext []byte, kind Kind, index uint64) []byte {
	nonce, aad := nonceAAD(kind, index)
	return c.aead.Seal(dst, nonce[:], plaintext, aad[:])
}

// Open appends the plaintext of ciphertext to dst, or fails with ErrAuth.
// dst may be ciphertext[:0] to decrypt in place.
func (c *Cipher) Open(dst, ciphertext []byte, kind Kind, index uint64) ([]byte, error) {
	nonce, aad := nonceAAD(kind, index)
	out, err := c.aead.Open(dst, nonce[:], ciphertext, aad[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %s chunk %d", ErrAuth, kindName(kind), index)
	}
	return out, nil
}

func kindName(k Kind) string {
	switch k {
	case KindData:
		return "data"
	case KindManifest:
		return "manifest"
	}
	return "unknown"
}
