// Package creqnostr is the nostr transport of NUT-18 payment requests: the
// payer sends the payment payload as a NIP-17 private direct message (a
// kind 14 rumor, sealed and gift-wrapped per NIP-59) to the payee the
// transport's nprofile names, on the relays it lists; the payee's Receiver
// unwraps the messages sent to it and hands each payload on (to
// cashu.Wallet.ReceiveRequest).
//
// The payload holds ecash: it only ever travels encrypted to the payee, and
// is never logged.
package creqnostr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"
	"github.com/nbd-wtf/go-nostr/nip44"
	"github.com/nbd-wtf/go-nostr/nip59"

	"github.com/sovmesh/sovmesh/market/pay/creq"
)

// Errors.
var (
	ErrNoNostr   = errors.New("creqnostr: request has no nostr transport with NIP-17")
	ErrBadTarget = errors.New("creqnostr: transport target is not an nprofile with relays")
	ErrNotSent   = errors.New("creqnostr: no relay took the message")
)

// Transport returns the nostr transport for a payee: its nprofile with
// relays, and the NIP-17 tag.
func Transport(pubkey string, relays []string) (creq.Transport, error) {
	np, err := nip19.EncodeProfile(pubkey, relays)
	if err != nil {
		return creq.Transport{}, fmt.Errorf("creqnostr: %w", err)
	}
	return creq.Transport{Type: creq.TransportNostr, Target: np, Tags: [][]string{{"n", "17"}}}, nil
}

// target reads the payee's pubkey and relays from a transport target.
func target(t creq.Transport) (string, []string, error) {
	prefix, v, err := nip19.Decode(t.Target)
	if err != nil || prefix != "nprofile" {
		return "", nil, ErrBadTarget
	}
	pp, ok := v.(nostr.ProfilePointer)
	if !ok || len(pp.Relays) == 0 {
		return "", nil, ErrBadTarget
	}
	var relays []string
	for _, r := range pp.Relays {
		if strings.HasPrefix(r, "ws://") || strings.HasPrefix(r, "wss://") {
			relays = append(relays, r)
		}
	}
	if len(relays) == 0 {
		return "", nil, ErrBadTarget
	}
	return pp.PublicKey, relays, nil
}

// nip17 reports whether a nostr transport asks for NIP-17 (or names no
// NIP, which this package reads as NIP-17).
func nip17(t creq.Transport) bool {
	if t.Type != creq.TransportNostr {
		return false
	}
	named := false
	for _, g := range t.Tags {
		if len(g) >= 2 && g[0] == "n" {
			named = true
			if g[1] == "17" {
				return true
			}
		}
	}
	return !named
}

// Deliver sends p, signed by secretKey (hex), to the payee of the first
// NIP-17 nostr transport of req. It succeeds when at least one of the
// payee's relays took the message.
func Deliver(ctx context.Context, secretKey string, req creq.Request, p creq.Payload) error {
	for _, t := range req.Transports {
		if nip17(t) {
			return Send(ctx, secretKey, t, p)
		}
	}
	return ErrNoNostr
}

// Send sends p by one nostr transport.
func Send(ctx context.Context, secretKey string, t creq.Transport, p creq.Payload) error {
	to, relays, err := target(t)
	if err != nil {
		return err
	}
	from, err := nostr.GetPublicKey(secretKey)
	if err != nil {
		return errors.New("creqnostr: invalid secret key")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("creqnostr: encode payload: %w", err)
	}
	ck, err := nip44.GenerateConversationKey(to, secretKey)
	if err != nil {
		return fmt.Errorf("creqnostr: payee key: %w", err)
	}
	rumor := nostr.Event{Kind: nostr.KindDirectMessage, Content: string(body), CreatedAt: nostr.Now(),
		Tags: nostr.Tags{{"p", to}}, PubKey: from}
	rumor.ID = rumor.GetID()
	wrap, err := nip59.GiftWrap(rumor, to,
		func(s string) (string, error) { return nip44.Encrypt(s, ck) },
		func(e *nostr.Event) error { return e.Sign(secretKey) }, nil)
	if err != nil {
		return fmt.Errorf("creqnostr: wrap: %w", err)
	}
	var errs []error
	sent := false
	for _, url := range relays {
		if err := publish(ctx, url, wrap); err != nil {
			errs = append(errs, err)
			continue
		}
		sent = true
	}
	if !sent {
		return fmt.Errorf("%w: %w", ErrNotSent, errors.Join(errs...))
	}
	return nil
}

func publish(ctx context.Context, url string, ev nostr.Event) error {
	r, err := nostr.RelayConnect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	defer r.Close()
	if err := r.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish to %s: %w", url, err)
	}
	return nil
}

// Receiver takes the payloads sent to its key on its relays.
type Receiver struct {
	// SecretKey (hex) of the payee: the key of its nprofile.
	SecretKey string
	// Relays to listen on (those of the payee's nprofile).
	Relays []string
	// Handle gets each payload with the sender's pubkey; an error is
	// logged (without the payload).
	Handle func(ctx context.Context, from string, p creq.Payload) error
	// Logger; default discard.
	Logger *slog.Logger
}

// Run listens until ctx ends. ready, if not nil, is closed once every
// relay has the subscription. Gift wraps are back-dated by up to two days
// (NIP-59), so each start looks that far back; payloads seen again are
// refused by the wallet as replays.
func (r *Receiver) Run(ctx context.Context, ready chan<- struct{}) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pub, err := nostr.GetPublicKey(r.SecretKey)
	if err != nil {
		return errors.New("creqnostr: invalid secret key")
	}
	if len(r.Relays) == 0 || r.Handle == nil {
		return errors.New("creqnostr: receiver needs relays and a handler")
	}
	since := nostr.Timestamp(time.Now().Add(-49 * time.Hour).Unix())
	events := make(chan *nostr.Event)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, url := range r.Relays {
		relay, err := nostr.RelayConnect(ctx, url)
		if err != nil {
			return fmt.Errorf("creqnostr: connect %s: %w", url, err)
		}
		defer relay.Close()
		sub, err := relay.Subscribe(ctx, nostr.Filters{{Kinds: []int{nostr.KindGiftWrap}, Tags: nostr.TagMap{"p": []string{pub}}, Since: &since}})
		if err != nil {
			return fmt.Errorf("creqnostr: subscribe %s: %w", url, err)
		}
		select {
		case <-sub.EndOfStoredEvents:
		case <-ctx.Done():
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-sub.Events:
					if !ok {
						return
					}
					select {
					case events <- ev:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	if ready != nil {
		close(ready)
	}
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if seen[ev.ID] {
				continue // the same wrap from another relay
			}
			if len(seen) > 10000 {
				clear(seen)
			}
			seen[ev.ID] = true
			from, p, err := r.open(ev)
			if err != nil {
				log.Debug("gift wrap ignored", "wrap", ev.ID, "err", err)
				continue
			}
			if err := r.Handle(ctx, from, p); err != nil {
				log.Info("payment payload refused", "from", from, "request", p.ID, "err", err)
			}
		}
	}
}

// open unwraps a gift wrap into a payment payload and its sender.
func (r *Receiver) open(ev *nostr.Event) (string, creq.Payload, error) {
	if len(ev.Content) > 4*creq.MaxPayloadLen {
		return "", creq.Payload{}, errors.New("gift wrap too large")
	}
	rumor, err := nip59.GiftUnwrap(*ev, func(other, ciphertext string) (string, error) {
		ck, err := nip44.GenerateConversationKey(other, r.SecretKey)
		if err != nil {
			return "", err
		}
		return nip44.Decrypt(ciphertext, ck)
	})
	if err != nil {
		return "", creq.Payload{}, fmt.Errorf("unwrap: %w", err)
	}
	if rumor.Kind != nostr.KindDirectMessage {
		return "", creq.Payload{}, fmt.Errorf("rumor of kind %d", rumor.Kind)
	}
	p, err := creq.DecodePayload([]byte(rumor.Content))
	if err != nil {
		return "", creq.Payload{}, err
	}
	return rumor.PubKey, p, nil
}
