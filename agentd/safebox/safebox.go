// Package safebox keeps an agent's secrets on its relays, so a new machine
// with the same Nostr key gets everything back: the content keys of stored
// files (one NIP-44 encrypted addressable event per file, readable only by
// the owner), grants that share one file's key with another pubkey
// (NIP-59 gift wraps), and social-recovery shares of the Nostr key itself
// (Shamir k-of-n, each share gift-wrapped to one contact).
package safebox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/keyer"
	"github.com/nbd-wtf/go-nostr/nip44"
	"github.com/nbd-wtf/go-nostr/nip59"

	"github.com/sovmesh/sovmesh/nips"
)

// Errors.
var (
	ErrNotFound = errors.New("safebox: no entry for that file")
	ErrBadEntry = errors.New("safebox: malformed entry")
)

// Publisher is the relay side safebox needs (agentd/relays.Pool).
type Publisher interface {
	Publish(ctx context.Context, ev nostr.Event) error
	Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
}

// Entry is what an owner needs to read a stored file again. Key is the
// file's content key (hex): a secret.
type Entry struct {
	Root      string   `json:"root"`      // root CID, hex
	Key       string   `json:"key"`       // content key, hex (secret)
	Providers []string `json:"providers"` // provider Nostr pubkeys, hex
	Name      string   `json:"name,omitempty"`
	Size      int64    `json:"size"`
	Created   int64    `json:"created"`
	// Set by List and Grants: who wrote the entry (the owner, or the
	// granter for a grant).
	From string `json:"-"`
}

func (e Entry) check() error {
	if len(e.Root) != 64 || len(e.Key) != 64 {
		return fmt.Errorf("%w: root and key must be 32-byte hex", ErrBadEntry)
	}
	if _, err := hex.DecodeString(e.Root + e.Key); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	if len(e.Providers) == 0 || len(e.Providers) > 64 {
		return fmt.Errorf("%w: %d providers", ErrBadEntry, len(e.Providers))
	}
	return nil
}

// Box is one owner's safe box.
type Box struct {
	sk, pk string
	ck     [32]byte // NIP-44 conversation key with ourselves
	signer nostr.Keyer
	relays Publisher
	local  Local // nil: relays only
}

// New returns the box of the key sk (hex) on relays.
func New(sk string, relays Publisher) (*Box, error) {
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		return nil, fmt.Errorf("safebox: %w", err)
	}
	ck, err := nip44.GenerateConversationKey(pk, sk)
	if err != nil {
		return nil, fmt.Errorf("safebox: %w", err)
	}
	s, err := keyer.NewPlainKeySigner(sk)
	if err != nil {
		return nil, fmt.Errorf("safebox: %w", err)
	}
	return &Box{sk: sk, pk: pk, ck: ck, signer: s, relays: relays}, nil
}

// Pubkey returns the owner's pubkey.
func (b *Box) Pubkey() string { return b.pk }

// dTag hides the root CID: HMAC-SHA256 keyed by the conversation key.
func (b *Box) dTag(root string) string {
	m := hmac.New(sha256.New, b.ck[:])
	m.Write([]byte("sovmesh/safebox/" + root))
	return hex.EncodeToString(m.Sum(nil))
}

// Put stores e's key on the relays.
func (b *Box) Put(ctx context.Context, e Entry) error {
	if err := e.check(); err != nil {
		return err
	}
	plain, _ := json.Marshal(e)
	ct, err := nip44.Encrypt(string(plain), b.ck)
	if err != nil {
		return fmt.Errorf("safebox: encrypt: %w", err)
	}
	d := b.dTag(e.Root)
	ev := nostr.Event{
		Kind:      nips.KindSafeBox,
		CreatedAt: b.nextCreatedAt(ctx, d),
		Tags:      nostr.Tags{{"d", d}, {"alt", "sovmesh safebox entry (encrypted)"}},
		Content:   ct,
	}
	if err := ev.Sign(b.sk); err != nil {
		return fmt.Errorf("safebox: sign: %w", err)
	}
	// Kept locally first: the key is never only in memory, and the entry
	// is listed and readable while no relay answers.
	if b.local != nil {
		if err := b.local.KeepEvent(ctx, &ev); err != nil {
			return fmt.Errorf("safebox: %w", err)
		}
	}
	if err := b.relays.Publish(ctx, ev); err != nil {
		return fmt.Errorf("safebox: publish: %w", err)
	}
	return nil
}

// Get fetches the entry of root: the newest of the relays' and the local
// cache's (see SetLocal). A relay error is returned only when the cache
// has no entry either.
func (b *Box) Get(ctx context.Context, root string) (Entry, error) {
	f := nostr.Filter{Kinds: []int{nips.KindSafeBox}, Authors: []string{b.pk}, Tags: nostr.TagMap{"d": {b.dTag(root)}}}
	evs, relayErr := b.relays.Query(ctx, f)
	var best *Entry
	var bestEv *nostr.Event
	consider := func(evs []*nostr.Event) {
		for _, ev := range evs {
			e, err := b.open(ev)
			if err != nil || e.Root != root {
				continue
			}
			if best == nil || ev.CreatedAt > bestEv.CreatedAt {
				best, bestEv = &e, ev
			}
		}
	}
	consider(evs)
	if relayErr == nil && bestEv != nil {
		b.keep(ctx, bestEv)
	}
	consider(b.cached(ctx, f))
	if best == nil {
		if relayErr != nil {
			return Entry{}, fmt.Errorf("safebox: %w", relayErr)
		}
		return Entry{}, ErrNotFound
	}
	return *best, nil
}

func (b *Box) open(ev *nostr.Event) (Entry, error) {
	if ev.PubKey != b.pk || ev.Kind != nips.KindSafeBox {
		return Entry{}, ErrBadEntry
	}
	if ok, err := ev.CheckSignature(); err != nil || !ok {
		return Entry{}, fmt.Errorf("%w: bad signature", ErrBadEntry)
	}
	plain, err := nip44.Decrypt(ev.Content, b.ck)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	var e Entry
	if err := json.Unmarshal([]byte(plain), &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	if d := ev.Tags.GetD(); d != b.dTag(e.Root) {
		return Entry{}, fmt.Errorf("%w: d tag does not match the root", ErrBadEntry)
	}
	e.From = b.pk
	return e, nil
}

// Delete asks the relays to delete root's entry (NIP-09, by address).
func (b *Box) Delete(ctx context.Context, root string) error {
	ev := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(),
		Tags: nostr.Tags{{"a", fmt.Sprintf("%d:%s:%s", nips.KindSafeBox, b.pk, b.dTag(root))}, {"k", fmt.Sprint(nips.KindSafeBox)}}}
	if err := ev.Sign(b.sk); err != nil {
		return fmt.Errorf("safebox: sign: %w", err)
	}
	if b.local != nil {
		if err := b.local.ForgetEvent(ctx, nips.KindSafeBox, b.pk, b.dTag(root)); err != nil {
			return fmt.Errorf("safebox: %w", err)
		}
	}
	if err := b.relays.Publish(ctx, ev); err != nil {
		return fmt.Errorf("safebox: delete: %w", err)
	}
	return nil
}

// Grant shares one file's key with recipient: the entry is re-wrapped
// (NIP-59) to recipient's key, revealing nothing about other files.
func (b *Box) Grant(ctx context.Context, root, recipient string) error {
	e, err := b.Get(ctx, root)
	if err != nil {
		return err
	}
	return b.wrapTo(ctx, nips.KindKeyGrant, e, recipient)
}

func (b *Box) wrapTo(ctx context.Context, kind int, v any, recipient string) error {
	if _, err := nostr.GetPublicKey(b.sk); err != nil {
		return err
	}
	if len(recipient) != 64 {
		return fmt.Errorf("safebox: recipient %q is not a hex pubkey", recipient)
	}
	if _, err := hex.DecodeString(recipient); err != nil {
		return fmt.Errorf("safebox: recipient %q is not a hex pubkey", recipient)
	}
	body, _ := json.Marshal(v)
	rumor := nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: nostr.Tags{}, Content: string(body), PubKey: b.pk}
	rumor.ID = rumor.GetID()
	gw, err := nip59.GiftWrap(rumor, recipient,
		func(pt string) (string, error) { return b.signer.Encrypt(ctx, pt, recipient) },
		func(seal *nostr.Event) error { return b.signer.SignEvent(ctx, seal) },
		nil)
	if err != nil {
		return fmt.Errorf("safebox: gift wrap: %w", err)
	}
	if err := b.relays.Publish(ctx, gw); err != nil {
		return fmt.Errorf("safebox: publish: %w", err)
	}
	return nil
}

// rumors returns the unwrapped rumors of kind addressed to us.
func (b *Box) rumors(ctx context.Context, kind int) ([]nostr.Event, error) {
	evs, err := b.relays.Query(ctx, nostr.Filter{Kinds: []int{nostr.KindGiftWrap}, Tags: nostr.TagMap{"p": {b.pk}}})
	if err != nil {
		return nil, fmt.Errorf("safebox: %w", err)
	}
	var out []nostr.Event
	for _, gw := range evs {
		if ok, err := gw.CheckSignature(); err != nil || !ok {
			continue
		}
		r, err := nip59.GiftUnwrap(*gw, func(other, ct string) (string, error) { return b.signer.Decrypt(ctx, ct, other) })
		if err != nil || r.Kind != kind {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Grants returns the file keys others granted us.
func (b *Box) Grants(ctx context.Context) ([]Entry, error) {
	rs, err := b.rumors(ctx, nips.KindKeyGrant)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range rs {
		var e Entry
		if json.Unmarshal([]byte(r.Content), &e) != nil || e.check() != nil {
			continue
		}
		e.From = r.PubKey
		out = append(out, e)
	}
	return out, nil
}

// Find returns the entry for root: our own, else a grant.
func (b *Box) Find(ctx context.Context, root string) (Entry, error) {
	e, err := b.Get(ctx, root)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return e, err
	}
	gs, gerr := b.Grants(ctx)
	if gerr != nil {
		return Entry{}, gerr
	}
	for _, g := range gs {
		if g.Root == root {
			return g, nil
		}
	}
	return Entry{}, ErrNotFound
}
