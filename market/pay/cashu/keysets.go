package cashu

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut01"
	"github.com/elnosh/gonuts/crypto"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// keyset is a mint keyset as the wallet keeps it (cached in the journal so
// DLEQ proofs can be checked while the mint is down).
type keyset struct {
	ID      string
	Mint    string
	Unit    string
	Active  bool
	FeePpk  uint
	Keys    map[uint64]*secp256k1.PublicKey
	Fetched time.Time
}

func (w *Wallet) loadKeysets(ctx context.Context) error {
	rows, err := w.db.QueryContext(ctx, `SELECT id, mint, unit, active, input_fee_ppk, keys, fetched_at FROM keysets`)
	if err != nil {
		return fmt.Errorf("cashu: load keysets: %w", err)
	}
	defer rows.Close()
	w.ksMu.Lock()
	defer w.ksMu.Unlock()
	for rows.Next() {
		var ks keyset
		var keys string
		var fetched int64
		var fee int64
		if err := rows.Scan(&ks.ID, &ks.Mint, &ks.Unit, &ks.Active, &fee, &keys, &fetched); err != nil {
			return fmt.Errorf("cashu: load keysets: %w", err)
		}
		var km nut01.KeysMap
		if err := json.Unmarshal([]byte(keys), &km); err != nil {
			return fmt.Errorf("cashu: keyset %s: %w", ks.ID, err)
		}
		if ks.Keys, err = crypto.MapPubKeys(km); err != nil {
			return fmt.Errorf("cashu: keyset %s: %w", ks.ID, err)
		}
		ks.FeePpk, ks.Fetched = uint(fee), time.Unix(fetched, 0)
		w.keysets[ks.ID] = &ks
	}
	return rows.Err()
}

// refreshKeysets fetches the mint's keysets and active keys and caches them.
func (w *Wallet) refreshKeysets(ctx context.Context, mint string) error {
	list, err := w.client.keysets(ctx, mint)
	if err != nil {
		return err
	}
	for _, k := range list.Keysets {
		if k.Unit != "sat" {
			continue
		}
		w.ksMu.Lock()
		have := w.keysets[k.Id]
		w.ksMu.Unlock()
		var keys nut01.KeysMap
		if have != nil && have.Mint == mint {
			keys = make(nut01.KeysMap, len(have.Keys))
			for a, pk := range have.Keys {
				keys[a] = fmt.Sprintf("%x", pk.SerializeCompressed())
			}
		} else {
			res, err := w.client.keysetByID(ctx, mint, k.Id)
			if err != nil {
				return err
			}
			if len(res.Keysets) != 1 {
				return fmt.Errorf("%w: keyset %s: %d answers", ErrMintUnreachable, k.Id, len(res.Keysets))
			}
			keys = res.Keysets[0].Keys
		}
		pks, err := crypto.MapPubKeys(keys)
		if err != nil {
			return fmt.Errorf("cashu: mint keyset %s: %w", k.Id, err)
		}
		if crypto.DeriveKeysetId(pks) != k.Id {
			// Older keyset id versions exist; only refuse an id that is
			// clearly not derived from the keys when it is a v1 (00) id.
			if len(k.Id) == 16 && k.Id[:2] == "00" {
				return fmt.Errorf("cashu: mint keyset %s: id does not match its keys", k.Id)
			}
		}
		data, _ := json.Marshal(keys)
		now := time.Now()
		if _, err := w.db.ExecContext(ctx, `INSERT INTO keysets (id, mint, unit, active, input_fee_ppk, keys, fetched_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET active = excluded.active,
			input_fee_ppk = excluded.input_fee_ppk, fetched_at = excluded.fetched_at`,
			k.Id, mint, k.Unit, k.Active, int64(k.InputFeePpk), string(data), now.Unix()); err != nil {
			return fmt.Errorf("cashu: store keyset: %w", err)
		}
		w.ksMu.Lock()
		w.keysets[k.Id] = &keyset{ID: k.Id, Mint: mint, Unit: k.Unit, Active: k.Active, FeePpk: k.InputFeePpk, Keys: pks, Fetched: now}
		w.ksMu.Unlock()
	}
	return nil
}

// activeKeyset returns the mint's active sat keyset, refreshing stale keys.
func (w *Wallet) activeKeyset(ctx context.Context, mint string) (*keyset, error) {
	best := w.cachedActive(mint)
	if best == nil || time.Since(best.Fetched) > w.cfg.KeysetMaxAge {
		if err := w.refreshKeysets(ctx, mint); err != nil {
			if best != nil && errors.Is(err, ErrMintUnreachable) {
				return best, nil
			}
			return nil, err
		}
		best = w.cachedActive(mint)
	}
	if best == nil {
		return nil, fmt.Errorf("cashu: mint has no active sat keyset")
	}
	return best, nil
}

func (w *Wallet) cachedActive(mint string) *keyset {
	w.ksMu.Lock()
	defer w.ksMu.Unlock()
	var best *keyset
	for _, ks := range w.keysets {
		if ks.Mint == mint && ks.Active && ks.Unit == "sat" && (best == nil || ks.FeePpk < best.FeePpk) {
			best = ks
		}
	}
	return best
}

// keysetByID returns a cached keyset of mint, fetching the mint's list if
// the id is unknown (and the mint reachable).
func (w *Wallet) keysetByID(ctx context.Context, mint, id string, online bool) (*keyset, error) {
	w.ksMu.Lock()
	ks := w.keysets[id]
	w.ksMu.Unlock()
	if ks != nil {
		if ks.Mint != mint {
			return nil, fmt.Errorf("%w: keyset %s belongs to another mint", ErrMalformedToken, id)
		}
		return ks, nil
	}
	if !online {
		return nil, fmt.Errorf("%w: keyset %s not known offline", ErrMintUnreachable, id)
	}
	if err := w.refreshKeysets(ctx, mint); err != nil {
		return nil, err
	}
	w.ksMu.Lock()
	ks = w.keysets[id]
	w.ksMu.Unlock()
	if ks == nil || ks.Mint != mint {
		return nil, fmt.Errorf("%w: unknown keyset %s", ErrMalformedToken, id)
	}
	return ks, nil
}

// inputFee returns the mint's fee for spending proofs (NUT-02: sum of the
// keysets' input_fee_ppk, rounded up to whole sats).
func (w *Wallet) inputFee(proofs gcashu.Proofs) uint64 {
	var ppk uint64
	w.ksMu.Lock()
	defer w.ksMu.Unlock()
	for _, p := range proofs {
		if ks := w.keysets[p.Id]; ks != nil {
			ppk += uint64(ks.FeePpk)
		}
	}
	return (ppk + 999) / 1000
}

// feeFor estimates the fee for n inputs of keyset ks.
func feeFor(ks *keyset, n int) uint64 { return (uint64(ks.FeePpk)*uint64(n) + 999) / 1000 }

var _ = sql.ErrNoRows

// KnownMints returns the mints the wallet in j has used (fetched keysets
// of, or held proofs of), normalised, first used first. An agent whose
// mints come from its relays (NIP-11) keeps using them while no relay can
// be reached.
func KnownMints(ctx context.Context, j *journal.Journal) ([]string, error) {
	rows, err := j.DB().QueryContext(ctx, `SELECT mint FROM (SELECT mint, fetched_at AS t FROM keysets UNION ALL SELECT mint, created_at FROM proofs) AS m GROUP BY mint ORDER BY MIN(t), mint`)
	if err != nil {
		return nil, fmt.Errorf("cashu: known mints: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("cashu: known mints: %w", err)
		}
		if n, err := NormalizeMintURL(m); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}
