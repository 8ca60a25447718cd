package safebox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/shamir"
	"github.com/sovmesh/sovmesh/nips"
)

// Defaults of social recovery.
const (
	DefaultShares    = 5
	DefaultThreshold = 3
	// maxCombinations bounds the subsets Recover tries when some shares
	// are wrong.
	maxCombinations = 2000
)

// Errors of social recovery.
var (
	ErrNotEnoughShares = errors.New("safebox: not enough valid shares")
	ErrBadShare        = errors.New("safebox: malformed share")
)

// Share is one social-recovery share of an owner's key. Y is secret.
type Share struct {
	V         int    `json:"v"`
	Set       string `json:"set"`   // random id of one split
	Owner     string `json:"owner"` // pubkey the key belongs to
	Threshold int    `json:"k"`
	Total     int    `json:"n"`
	Data      string `json:"share"` // hex: x byte then y bytes
	// From is the rumor's author (set by the reader).
	From string `json:"-"`
}

func (s Share) check() error {
	b, err := hex.DecodeString(s.Data)
	if s.V != 1 || err != nil || len(b) != 33 || b[0] == 0 || len(s.Owner) != 64 ||
		s.Threshold < 2 || s.Total < s.Threshold || s.Total > shamir.MaxShares || len(s.Set) == 0 || len(s.Set) > 64 {
		return ErrBadShare
	}
	return nil
}

// SplitKey splits our secret key k-of-len(contacts) and gift-wraps one
// share to each contact. It returns the set id.
func (b *Box) SplitKey(ctx context.Context, contacts []string, k int) (string, error) {
	if len(contacts) < k || k < 2 {
		return "", fmt.Errorf("safebox: need at least k=%d contacts, got %d (k >= 2)", k, len(contacts))
	}
	seen := map[string]bool{}
	for _, c := range contacts {
		if seen[c] || c == b.pk {
			return "", fmt.Errorf("safebox: contact %s repeated or our own key", c)
		}
		seen[c] = true
	}
	sk, err := hex.DecodeString(b.sk)
	if err != nil {
		return "", err
	}
	defer clear(sk)
	parts, err := shamir.Split(sk, len(contacts), k)
	if err != nil {
		return "", err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	set := hex.EncodeToString(id[:])
	for i, c := range contacts {
		s := Share{V: 1, Set: set, Owner: b.pk, Threshold: k, Total: len(contacts), Data: hex.EncodeToString(parts[i])}
		if err := b.wrapTo(ctx, nips.KindKeyShare, s, c); err != nil {
			return "", fmt.Errorf("safebox: share to %s: %w", c, err)
		}
		clear(parts[i])
	}
	return set, nil
}

// Shares returns the shares addressed to us (as a contact holding them,
// or as a recovery key collecting them), optionally only owner's.
func (b *Box) Shares(ctx context.Context, owner string) ([]Share, error) {
	rs, err := b.rumors(ctx, nips.KindKeyShare)
	if err != nil {
		return nil, err
	}
	var out []Share
	for _, r := range rs {
		var s Share
		if json.Unmarshal([]byte(r.Content), &s) != nil || s.check() != nil {
			continue
		}
		if owner != "" && s.Owner != owner {
			continue
		}
		s.From = r.PubKey
		out = append(out, s)
	}
	return out, nil
}

// ReturnShare sends the share we hold for owner to recoveryKey (the
// temporary key the owner's new machine listens on).
func (b *Box) ReturnShare(ctx context.Context, owner, recoveryKey string) error {
	ss, err := b.Shares(ctx, owner)
	if err != nil {
		return err
	}
	var mine []Share
	for _, s := range ss {
		if s.From == owner { // held for owner, not returned to us
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("%w: we hold no share of %s", ErrNotFound, owner)
	}
	for _, s := range mine {
		if err := b.wrapTo(ctx, nips.KindKeyShare, s, recoveryKey); err != nil {
			return err
		}
	}
	return nil
}

// Recover combines shares of owner's key (collected by the recovery key)
// and returns the secret key (hex) once a combination's public key is
// owner's. Wrong or foreign shares are skipped.
func Recover(shares []Share, owner string) (string, error) {
	bySet := map[string][]Share{}
	for _, s := range shares {
		if s.check() == nil && s.Owner == owner {
			bySet[s.Set] = append(bySet[s.Set], s)
		}
	}
	tries := 0
	for _, ss := range bySet {
		// One share per x coordinate (duplicates from several holders).
		byX := map[string]Share{}
		for _, s := range ss {
			byX[s.Data[:2]+s.Data] = s
		}
		var uniq [][]byte
		k := ss[0].Threshold
		for _, s := range byX {
			b, _ := hex.DecodeString(s.Data)
			uniq = append(uniq, b)
		}
		if len(uniq) < k {
			continue
		}
		var found string
		combos(len(uniq), k, func(idx []int) bool {
			tries++
			if tries > maxCombinations {
				return false
			}
			pick := make([][]byte, k)
			xs := map[byte]bool{}
			for i, j := range idx {
				pick[i] = uniq[j]
				if xs[uniq[j][0]] {
					return true
				}
				xs[uniq[j][0]] = true
			}
			sec, err := shamir.Combine(pick)
			if err != nil {
				return true
			}
			skHex := hex.EncodeToString(sec)
			clear(sec)
			if pk, err := nostr.GetPublicKey(skHex); err == nil && pk == owner {
				found = skHex
				return false
			}
			return true
		})
		if found != "" {
			return found, nil
		}
	}
	return "", ErrNotEnoughShares
}

// combos calls fn with every k-subset of 0..n-1 until fn returns false.
func combos(n, k int, fn func([]int) bool) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if !fn(idx) {
			return
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}
