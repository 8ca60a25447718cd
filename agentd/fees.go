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
)

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

// payAndPublish pays a relay's publication fee for ev (a token in a
// "cashu" tag, re-signed) and publishes it to that relay.
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
	n.SendMu.Lock()
	sent, err := n.Wallet.Send(ctx, fee, cashu.SendOptions{Counterparty: relayURL, Memo: "relay fee", IncludeFees: true,
		OnJournal: n.DB.Recorder(state.Entry{Session: "relay-fee", Kind: state.Spend, Counterparty: relayURL, Resource: RelayFeeResource})})
	n.SendMu.Unlock()
	if err != nil {
		return ev, fmt.Errorf("agentd: relay fee of %d sats: %w", fee, err)
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
	pub, err := newSingle(ctx, relayURL)
	if err != nil {
		return ev, err
	}
	defer pub.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pub.Publish(pctx, ev); err != nil {
		// Not stored: take the fee back unless the relay redeemed it.
		// (If this fails too, ReclaimStale takes it back later.)
		if _, rerr := n.Wallet.ReclaimWith(context.WithoutCancel(ctx), sent.OpID, n.DB.Reclaimer(sent.OpID, relayURL, sentAt)); rerr != nil {
			n.Log.Warn("relay fee not reclaimed yet", "relay", relayURL, "sats", fee, "err", rerr)
		}
		return ev, fmt.Errorf("agentd: publish with fee to %s: %w", relayURL, err)
	}
	if err := n.Wallet.MarkDelivered(ctx, sent.OpID); err != nil {
		n.Log.Warn("relay fee delivery not recorded", "relay", relayURL, "err", err)
	}
	n.Log.Info("relay fee paid", "relay", relayURL, "kind", ev.Kind, "sats", fee)
	return ev, nil
}

func newSingle(ctx context.Context, url string) (*nostr.Relay, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return nostr.RelayConnect(cctx, url)
}
