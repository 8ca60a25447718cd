package agentd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// MinTopUpLock is the shortest a top-up token stays locked to the relay's
// key: twice the margin a relay's wallet wants before a lock on a token it
// redeems expires (cashu.Config.LockMargin, 30 s). A token is locked for
// Config.ReclaimGrace, no less than this, so one the relay never redeemed
// (the node died before it was delivered) comes back when ReclaimStale asks.
const MinTopUpLock = time.Minute

// FeeTag is the tag that carries a relay's publication fee (a Cashu token).
const FeeTag = "cashu"

// RelayFeeResource names relay fees in the ledger.
const RelayFeeResource = "relay-fee"

// relayInfo is what agentd reads of a relay's NIP-11 document.
type relayInfo struct {
	Fees struct {
		Publication []struct {
			Kinds  []int  `json:"kinds"`
			Amount uint64 `json:"amount"`
			Unit   string `json:"unit"`
		} `json:"publication"`
	} `json:"fees"`
	Mints []string `json:"mints"`
	// PubKey is the relay's key; its wallet redeems tokens locked to it.
	PubKey string `json:"pubkey"`
	// TopUpKind, when set, is the kind that credits a prepaid fee
	// balance at this relay (nips/topup.md).
	TopUpKind int `json:"topup_kind"`
	// Matching: the relay runs the market's matching engine (it proposes
	// fills for open bids and ends them with kind 8470).
	Matching bool `json:"matching"`
}

// RelayInfo fetches the NIP-11 document of a relay.
func RelayInfo(ctx context.Context, relayURL string) (relayInfo, error) {
	var info relayInfo
	u := "http" + strings.TrimPrefix(relayURL, "ws")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return info, err
	}
	req.Header.Set("Accept", "application/nostr+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return info, fmt.Errorf("agentd: NIP-11 of %s: %w", relayURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("agentd: NIP-11 of %s: %s", relayURL, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return info, fmt.Errorf("agentd: NIP-11 of %s: %w", relayURL, err)
	}
	return info, nil
}

// relayMints returns the mints every relay lists in its NIP-11 document,
// each once (normalised), in the order of the relays and of their lists.
// The documents are fetched at once; a relay that does not answer (within
// RelayInfo's deadline) adds none and is logged.
func relayMints(ctx context.Context, relays []string, log *slog.Logger) (mints, unreachable []string) {
	infos := make([]relayInfo, len(relays))
	failed := make([]bool, len(relays))
	var wg sync.WaitGroup
	for i, u := range relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := RelayInfo(ctx, u)
			if err != nil {
				log.Warn("relay's NIP-11 unreadable; its mints are not used", "relay", u, "err", err)
				failed[i] = true
				return
			}
			infos[i] = info
		}()
	}
	wg.Wait()
	for i, f := range failed {
		if f {
			unreachable = append(unreachable, relays[i])
		}
	}
	for _, info := range infos {
		for _, m := range info.Mints {
			if nm, err := cashu.NormalizeMintURL(m); err == nil && !slices.Contains(mints, nm) {
				mints = append(mints, nm)
			}
		}
	}
	return mints, unreachable
}

// publicationFee returns the sats the relay charges to publish kind.
func (i relayInfo) publicationFee(kind int) uint64 {
	for _, p := range i.Fees.Publication {
		if slices.Contains(p.Kinds, kind) {
			if p.Unit == "sats" || p.Unit == "sat" {
				return p.Amount
			}
			return (p.Amount + 999) / 1000
		}
	}
	return 0
}

// payAndPublish pays a relay's publication fee for ev and publishes it to
// that relay. A relay that takes top-ups (NIP-11 topup_kind) gets a prepaid
// balance of Config.RelayTopUp sats (at least the fee), and ev, unchanged,
// is charged from it there: one payment covers many events. Otherwise, or
// if the top-up fails, the fee goes in a "cashu" tag of ev (re-signed).
func (n *Node) payAndPublish(ctx context.Context, relayURL string, ev nostr.Event) (nostr.Event, error) {
	if n.Wallet == nil {
		return ev, ErrNoWallet
	}
	info, err := RelayInfo(ctx, relayURL)
	if err != nil {
		return ev, err
	}
	fee := info.publicationFee(ev.Kind)
	if fee == 0 {
		return ev, fmt.Errorf("agentd: %s asks for payment but lists no fee for kind %d", relayURL, ev.Kind)
	}
	if info.TopUpKind == nips.KindTopUp && n.Config.RelayTopUp > 0 {
		err := n.topUp(ctx, relayURL, info, max(fee, n.Config.RelayTopUp))
		if err == nil {
			if err = n.publishTo(ctx, relayURL, ev); err == nil {
				return ev, nil
			}
		}
		n.Log.Warn("relay top-up did not pay the fee; paying this event's fee in it", "relay", relayURL, "kind", ev.Kind, "err", err)
	}
	sent, err := n.sendRelayFee(ctx, relayURL, fee, cashu.SendOptions{Memo: "relay fee"})
	if err != nil {
		return ev, err
	}
	sentAt := time.Now()
	tags := make(nostr.Tags, 0, len(ev.Tags)+1)
	for _, t := range ev.Tags {
		if len(t) == 0 || t[0] != FeeTag {
			tags = append(tags, t)
		}
	}
	ev.Tags = append(tags, nostr.Tag{FeeTag, sent.Token})
	ev.ID, ev.Sig = "", ""
	if err := n.Sign(&ev); err != nil {
		return ev, err
	}
	if err := n.publishTo(ctx, relayURL, ev); err != nil {
		// Not stored: take the fee back unless the relay redeemed it.
		// (If this fails too, ReclaimStale takes it back later.)
		n.reclaimRelayFee(ctx, relayURL, sent, sentAt)
		return ev, fmt.Errorf("agentd: publish with fee to %s: %w", relayURL, err)
	}
	if err := n.Wallet.MarkDelivered(ctx, sent.OpID); err != nil {
		n.Log.Warn("relay fee delivery not recorded", "relay", relayURL, "err", err)
	}
	n.Log.Info("relay fee paid", "relay", relayURL, "kind", ev.Kind, "sats", fee)
	return ev, nil
}

// topUp credits sats to this node's prepaid fee balance at relayURL with a
// top-up event (nips/topup.md). The token is locked to the relay's NIP-11
// key when it gives one (refundable to us after ReclaimGrace, at least
// MinTopUpLock), so the ephemeral event is worth nothing to anyone else. The
// relay answers the same event with the same outcome, so an unsettled answer
// is asked again; a refusal takes the token back.
func (n *Node) topUp(ctx context.Context, relayURL string, info relayInfo, sats uint64) error {
	opts := cashu.SendOptions{Memo: "relay fee top-up"}
	if nostr.IsValidPublicKey(info.PubKey) {
		opts.Lock = &cashu.Lock{Pubkey: info.PubKey, Locktime: time.Now().Add(max(n.Config.ReclaimGrace, MinTopUpLock)).Unix()}
	}
	sent, err := n.sendRelayFee(ctx, relayURL, sats, opts)
	if err != nil {
		return err
	}
	sentAt := time.Now()
	ev := nips.TopUp{Token: sent.Token}.ToEvent(nostr.Now())
	if err := n.Sign(&ev); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err = n.publishTo(ctx, relayURL, ev)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "payment not settled") {
			break
		}
	}
	switch {
	case err == nil:
		if merr := n.Wallet.MarkDelivered(ctx, sent.OpID); merr != nil {
			n.Log.Warn("relay top-up delivery not recorded", "relay", relayURL, "err", merr)
		}
		n.Log.Info("relay fee balance topped up", "relay", relayURL, "sats", sats)
		return nil
	case strings.Contains(err.Error(), "blocked:") || strings.Contains(err.Error(), "invalid:"):
		// Refused: the relay did not take the token.
		n.reclaimRelayFee(ctx, relayURL, sent, sentAt)
	}
	// Otherwise the relay may have taken it: ReclaimStale settles it later
	// (the relay's answer to this event stays the same if asked again).
	return fmt.Errorf("agentd: top up the fee balance at %s: %w", relayURL, err)
}

// sendRelayFee makes a token of sats for relayURL, journaled in the ledger
// as a relay fee in the same transaction as the wallet's send.
func (n *Node) sendRelayFee(ctx context.Context, relayURL string, sats uint64, opts cashu.SendOptions) (cashu.Sent, error) {
	opts.Counterparty, opts.IncludeFees = relayURL, true
	opts.OnJournal = n.DB.Recorder(state.Entry{Session: "relay-fee", Kind: state.Spend, Counterparty: relayURL, Resource: RelayFeeResource})
	sent, err := n.Wallet.Send(ctx, sats, opts)
	if err != nil {
		return sent, fmt.Errorf("agentd: relay fee of %d sats: %w", sats, err)
	}
	return sent, nil
}

// reclaimRelayFee takes back a relay fee token the relay did not redeem
// (a locked one only after its locktime: ReclaimStale then).
func (n *Node) reclaimRelayFee(ctx context.Context, relayURL string, sent cashu.Sent, sentAt time.Time) {
	if _, err := n.Wallet.ReclaimWith(context.WithoutCancel(ctx), sent.OpID, n.DB.Reclaimer(sent.OpID, relayURL, sentAt)); err != nil {
		n.Log.Warn("relay fee not reclaimed yet", "relay", relayURL, "sats", sent.Amount, "err", err)
	}
}

// publishTo publishes ev to relayURL alone, on a connection of its own.
func (n *Node) publishTo(ctx context.Context, relayURL string, ev nostr.Event) error {
	pub, err := newSingle(ctx, relayURL)
	if err != nil {
		return err
	}
	defer pub.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pub.Publish(pctx, ev)
}

func newSingle(ctx context.Context, url string) (*nostr.Relay, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return nostr.RelayConnect(cctx, url)
}
