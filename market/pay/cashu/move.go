package cashu

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/elnosh/gonuts/crypto"
)

// ErrKeysetMismatch means a mint's new URL does not serve the keysets the
// wallet's proofs of the old URL were signed with: it is another mint.
var ErrKeysetMismatch = errors.New("the mint at the new URL does not have the keysets of the proofs")

// MoveMint moves the wallet's ecash from a mint's old URL to its new one,
// once it has checked that the mint at newURL serves every keyset the
// proofs of oldURL use, with the same keys: a mint is known by its keys,
// its URL is only where it answers. newURL must be in the allow-list.
// Proofs still reserved by an open operation stop the move (Resume first).
// It returns the sats of unspent proofs moved.
func (w *Wallet) MoveMint(ctx context.Context, oldURL, newURL string) (uint64, error) {
	from, err := NormalizeMintURL(oldURL)
	if err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	to, err := NormalizeMintURL(newURL)
	if err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	if from == to {
		return 0, fmt.Errorf("cashu: move mint: %s is both the old and the new URL", from)
	}
	if !w.Allowed(to) {
		return 0, fmt.Errorf("cashu: move mint: %w: %s", ErrUnknownMint, to)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var reserved int
	if err := w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM proofs WHERE mint = ? AND state = 'reserved'`, from).Scan(&reserved); err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	if reserved > 0 {
		return 0, fmt.Errorf("cashu: move mint: %d proofs of %s are held by open operations; let the wallet resume them first", reserved, from)
	}
	rows, err := w.db.QueryContext(ctx, `SELECT DISTINCT keyset_id FROM proofs WHERE mint = ? AND state = 'unspent' ORDER BY keyset_id`, from)
	if err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("cashu: move mint: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("cashu: move mint: the wallet holds no ecash of %s", from)
	}
	list, err := w.client.keysets(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("cashu: move mint: keysets of %s: %w", to, err)
	}
	served := map[string]bool{}
	for _, k := range list.Keysets {
		served[k.Id] = true
	}
	var bad []string
	for _, id := range ids {
		if !served[id] {
			bad = append(bad, id+" (not listed)")
			continue
		}
		w.ksMu.Lock()
		have := w.keysets[id]
		w.ksMu.Unlock()
		res, err := w.client.keysetByID(ctx, to, id)
		if err != nil {
			return 0, fmt.Errorf("cashu: move mint: keyset %s of %s: %w", id, to, err)
		}
		if len(res.Keysets) != 1 {
			bad = append(bad, id+" (no keys)")
			continue
		}
		keys, err := crypto.MapPubKeys(res.Keysets[0].Keys)
		if err != nil || have == nil || !sameKeys(have, keys) {
			bad = append(bad, id+" (other keys)")
		}
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("cashu: move mint: %w: the proofs of %s use keysets %s; at %s: %s",
			ErrKeysetMismatch, from, strings.Join(ids, ", "), to, strings.Join(bad, ", "))
	}
	var moved sql.NullInt64
	err = w.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT SUM(amount) FROM proofs WHERE mint = ? AND state = 'unspent'`, from).Scan(&moved); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE proofs SET mint = ? WHERE mint = ? AND state = 'unspent'`, to, from); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE keysets SET mint = ? WHERE mint = ?`, to, from)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cashu: move mint: %w", err)
	}
	w.ksMu.Lock()
	for _, ks := range w.keysets {
		if ks.Mint == from {
			ks.Mint = to
		}
	}
	w.ksMu.Unlock()
	w.log.Info("ecash moved to the mint's new URL", "from", from, "to", to, "sats", moved.Int64, "keysets", len(ids))
	return uint64(moved.Int64), nil
}

// sameKeys reports whether ks has exactly the keys keys.
func sameKeys(ks *keyset, keys map[uint64]*secp256k1.PublicKey) bool {
	if len(ks.Keys) != len(keys) {
		return false
	}
	for a, k := range keys {
		h, ok := ks.Keys[a]
		if !ok || !h.IsEqual(k) {
			return false
		}
	}
	return true
}
