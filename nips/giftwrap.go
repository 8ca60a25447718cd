package nips

import (
	"context"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip59"
)

// WrapBid seals a private bid for one provider: the bid is a NIP-59 rumor
// (unsigned), sealed (kind 13) with the buyer's key and NIP-44 encryption,
// and gift-wrapped (kind 1059) with a one-time key to provider. Only the
// provider can read it; the relay sees a kind 1059 event with a p tag.
// The bid should name the provider's offer (Offer set), since only that
// provider will see it.
func WrapBid(ctx context.Context, bid Bid, createdAt nostr.Timestamp, buyer nostr.Keyer, provider string) (nostr.Event, error) {
	if !isHex64(provider) {
		return nostr.Event{}, fmt.Errorf("wrap bid: %w: provider %q is not a hex pubkey", ErrBadValue, provider)
	}
	pub, err := buyer.GetPublicKey(ctx)
	if err != nil {
		return nostr.Event{}, fmt.Errorf("wrap bid: buyer key: %w", err)
	}
	rumor := bid.ToEvent(createdAt)
	rumor.PubKey = pub
	rumor.ID = rumor.GetID()
	if _, err := ParseBid(&rumor); err != nil {
		return nostr.Event{}, fmt.Errorf("wrap bid: %w", err)
	}
	gw, err := nip59.GiftWrap(rumor, provider,
		func(plaintext string) (string, error) { return buyer.Encrypt(ctx, plaintext, provider) },
		func(seal *nostr.Event) error { return buyer.SignEvent(ctx, seal) },
		nil)
	if err != nil {
		return nostr.Event{}, fmt.Errorf("wrap bid: %w", err)
	}
	return gw, nil
}

// UnwrapBid opens a gift-wrapped bid addressed to provider's key and parses
// it. The bid's Pubkey is the seal's author (the buyer), which NIP-59
// guarantees by the seal's signature.
func UnwrapBid(ctx context.Context, gw *nostr.Event, provider nostr.Keyer) (Bid, error) {
	if gw == nil || gw.Kind != KindGiftWrap {
		return Bid{}, fmt.Errorf("unwrap bid: %w: not a gift wrap", ErrWrongKind)
	}
	rumor, err := nip59.GiftUnwrap(*gw, func(other, ciphertext string) (string, error) {
		return provider.Decrypt(ctx, ciphertext, other)
	})
	if err != nil {
		return Bid{}, fmt.Errorf("unwrap bid: %w", err)
	}
	if rumor.Kind != KindBid {
		return Bid{}, fmt.Errorf("unwrap bid: %w: the rumor is kind %d", ErrWrongKind, rumor.Kind)
	}
	return ParseBid(&rumor)
}
