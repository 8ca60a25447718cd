package cashu

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/elnosh/gonuts/cashu/nuts/nut13"
	"github.com/elnosh/gonuts/crypto"
)

// NUT-13 deterministic secrets. Every output the wallet keeps or sends
// unlocked gets its secret and blinding factor from a BIP-32 tree rooted in
// the wallet's private key, so the wallet's ecash can be found again at the
// mint (NUT-09 restore) from the key alone:
//
//	seed    = HKDF-SHA256(ikm = 32-byte private key, salt = seedSalt, info = seedInfo), 64 bytes
//	master  = BIP-32 master key of seed
//	secret  = hex(privkey(m/129372'/0'/keyset_int'/counter'/0))
//	r       = privkey(m/129372'/0'/keyset_int'/counter'/1)
//
// where keyset_int is the keyset id as an integer mod 2^31-1 (NUT-13). The
// seed takes the place of NUT-13's BIP-39 mnemonic: the Nostr key is what
// the owner backs up (and what Shamir recovery brings back). Outputs locked
// to someone else (NUT-11) keep random secrets: they are not ours to restore.
const (
	seedSalt = "sovmesh cashu"
	seedInfo = "nut13 wallet seed v1"
)

// maxCounter bounds a keyset's counter: it is a hardened BIP-32 index.
const maxCounter = math.MaxInt32

// walletSeed is the NUT-13 seed of a wallet key. Secret: never logged.
func walletSeed(key []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, key, []byte(seedSalt), seedInfo, 64)
}

// hdMaster returns the BIP-32 master key of the wallet's seed.
func hdMaster(key []byte) (*hdkeychain.ExtendedKey, error) {
	seed, err := walletSeed(key)
	if err != nil {
		return nil, err
	}
	return hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
}

// hdNode is a BIP-32 private node: key and chain code.
type hdNode struct {
	key, chain [32]byte
}

// child derives the private child index of n (BIP-32 CKDpriv; index >=
// 2^31 is hardened). It is the hot path of restore, so it uses the
// constant-size scalar types of secp256k1 instead of hdkeychain's big ints.
func (n *hdNode) child(index uint32) (hdNode, error) {
	mac := hmac.New(sha512.New, n.chain[:])
	if index >= hdkeychain.HardenedKeyStart {
		mac.Write([]byte{0})
		mac.Write(n.key[:])
	} else {
		mac.Write(secp256k1.PrivKeyFromBytes(n.key[:]).PubKey().SerializeCompressed())
	}
	var ib [4]byte
	binary.BigEndian.PutUint32(ib[:], index)
	mac.Write(ib[:])
	I := mac.Sum(nil)
	var il, k secp256k1.ModNScalar
	if il.SetByteSlice(I[:32]) {
		return hdNode{}, errors.New("cashu: derivation: invalid child key") // p < 2^-127 (BIP-32)
	}
	k.SetBytes(&n.key)
	il.Add(&k)
	if il.IsZero() {
		return hdNode{}, errors.New("cashu: derivation: invalid child key")
	}
	var c hdNode
	c.key = il.Bytes()
	copy(c.chain[:], I[32:])
	return c, nil
}

// keysetPath returns (cached) the derivation node m/129372'/0'/keyset_int'.
func (w *Wallet) keysetPath(id string) (*hdNode, error) {
	w.hdMu.Lock()
	defer w.hdMu.Unlock()
	if p, ok := w.hdPaths[id]; ok {
		return p, nil
	}
	x, err := nut13.DeriveKeysetPath(w.hd, id)
	if err != nil {
		return nil, fmt.Errorf("cashu: derive keyset %s path: %w", id, err)
	}
	k, err := x.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("cashu: derive keyset %s path: %w", id, err)
	}
	p := &hdNode{key: k.Key.Bytes()}
	copy(p.chain[:], x.ChainCode())
	w.hdPaths[id] = p
	return p, nil
}

// deriveOutput fills o (amount and keyset set) with the secret, blinding
// factor and blinded message of counter: the secret is the hex of the key
// at .../counter'/0, the blinding factor the key at .../counter'/1.
func (w *Wallet) deriveOutput(o *output, counter uint32) error {
	p, err := w.keysetPath(o.Keyset)
	if err != nil {
		return err
	}
	c, err := p.child(hdkeychain.HardenedKeyStart + counter)
	if err != nil {
		return err
	}
	sn, err := c.child(0)
	if err != nil {
		return err
	}
	rn, err := c.child(1)
	if err != nil {
		return err
	}
	secret := hex.EncodeToString(sn.key[:])
	B, r, err := crypto.BlindMessage(secret, secp256k1.PrivKeyFromBytes(rn.key[:]))
	if err != nil {
		return fmt.Errorf("cashu: blind: %w", err)
	}
	o.Secret, o.R, o.B = secret, hex.EncodeToString(r.Serialize()), hex.EncodeToString(B.SerializeCompressed())
	return nil
}

// deriveOutputs gives every output of outs that has no secret yet its
// deterministic one, taking the next counters of its keyset inside tx, the
// transaction that journals the outputs: a counter is used once, for one
// journaled output, whether or not the process survives.
func (w *Wallet) deriveOutputs(ctx context.Context, tx *sql.Tx, outs []output) error {
	need := map[string]uint32{}
	var order []string
	for _, o := range outs {
		if o.Secret == "" {
			if need[o.Keyset] == 0 {
				order = append(order, o.Keyset)
			}
			need[o.Keyset]++
		}
	}
	next := map[string]uint32{}
	for _, id := range order {
		first, err := takeCounters(ctx, tx, id, need[id])
		if err != nil {
			return err
		}
		next[id] = first
	}
	for i := range outs {
		if outs[i].Secret != "" {
			continue
		}
		c := next[outs[i].Keyset]
		next[outs[i].Keyset]++
		if err := w.deriveOutput(&outs[i], c); err != nil {
			return err
		}
	}
	return nil
}

// errCounterExhausted: a keyset's counters are used up (2^31 outputs).
var errCounterExhausted = errors.New("cashu: keyset derivation counter exhausted")

// takeCounters reserves n counters of keyset id and returns the first.
func takeCounters(ctx context.Context, tx *sql.Tx, id string, n uint32) (uint32, error) {
	var next int64
	err := tx.QueryRowContext(ctx, `INSERT INTO nut13_counters (keyset_id, next) VALUES (?, ?)
		ON CONFLICT(keyset_id) DO UPDATE SET next = nut13_counters.next + excluded.next RETURNING next`, id, int64(n)).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("cashu: take counter: %w", err)
	}
	if next > maxCounter {
		return 0, errCounterExhausted
	}
	return uint32(next - int64(n)), nil
}

// raiseCounter moves keyset id's counter to at least next.
func raiseCounter(ctx context.Context, tx *sql.Tx, id string, next uint32) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO nut13_counters (keyset_id, next) VALUES (?, ?)
		ON CONFLICT(keyset_id) DO UPDATE SET next = CASE WHEN excluded.next > nut13_counters.next THEN excluded.next ELSE nut13_counters.next END`, id, int64(next)); err != nil {
		return fmt.Errorf("cashu: set counter: %w", err)
	}
	return nil
}
