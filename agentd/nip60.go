package agentd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip44"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// mirrorProofsPerEvent bounds the proofs of one NIP-60 token event, so it
// stays far below relays' event size limits (about 30 KB at 100).
const mirrorProofsPerEvent = 100

// MirrorInterval is how often the long-running commands mirror the wallet
// to NIP-60 events (Config.NIP60); every command also does at Close.
const MirrorInterval = 10 * time.Second

// MirrorWallet brings the NIP-60 mirror of the wallet up to date
// (Config.NIP60): the wallet database stays the authority, and the relays
// get, NIP-44 encrypted to this node's own key, a kind-17375 wallet event
// naming its mints, kind-7375 token events holding exactly its unspent
// proofs, NIP-09 deletions (with a "k" 7375 tag) of token events some of
// whose proofs were spent (their unspent proofs roll over into a new token
// event whose "del" names them), and a kind-7376 history event per change.
// A NIP-60 wallet app with the same key then sees the same ecash. The pass
// is recorded before anything is published and published from an outbox,
// so a crash or an unreachable relay only delays it.
func (n *Node) MirrorWallet(ctx context.Context) error {
	if !n.Config.NIP60 || n.Wallet == nil || n.Config.ReadOnly {
		return nil
	}
	n.mirrorMu.Lock()
	defer n.mirrorMu.Unlock()
	if err := n.flushMirror(ctx); err != nil {
		return err
	}
	proofs, err := n.Wallet.UnspentProofs(ctx)
	if err != nil {
		return err
	}
	tokens, err := n.DB.MirroredTokens(ctx)
	if err != nil {
		return err
	}
	unspent := make(map[string]bool, len(proofs))
	for _, p := range proofs {
		unspent[p.Secret] = true
	}
	covered := map[string]bool{}
	var destroyed []state.MirroredToken
	for _, t := range tokens {
		whole := true
		for _, s := range t.Secrets {
			whole = whole && unspent[s]
		}
		if !whole {
			destroyed = append(destroyed, t)
			continue
		}
		for _, s := range t.Secrets {
			covered[s] = true
		}
	}
	fresh := map[string][]cashu.Proof{}
	for _, p := range proofs {
		if !covered[p.Secret] {
			fresh[p.Mint] = append(fresh[p.Mint], p)
		}
	}
	ck, err := nip44.GenerateConversationKey(n.Key.Pubkey, n.Key.Secret)
	if err != nil {
		return fmt.Errorf("agentd: nip60: %w", err)
	}
	var pass state.MirrorPass
	seal := func(kind int, plain []byte, tags nostr.Tags) (nostr.Event, error) {
		ev := nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: tags}
		if plain != nil {
			var err error
			if ev.Content, err = nip44.Encrypt(string(plain), ck); err != nil {
				return ev, fmt.Errorf("agentd: nip60: %w", err)
			}
		}
		if ev.Tags == nil {
			ev.Tags = nostr.Tags{}
		}
		return ev, n.Sign(&ev)
	}
	mints := n.Wallet.Mints()
	if prev, err := n.DB.MirroredMints(ctx); err != nil {
		return err
	} else if !slices.Equal(prev, mints) && len(mints) > 0 {
		ev, err := seal(nips.KindCashuWallet, nips.CashuWalletContent(mints), nil)
		if err != nil {
			return err
		}
		pass.Mints, pass.Publish = mints, append(pass.Publish, ev)
	}
	// New token events, by mint: the proofs no kept token event holds
	// (new ones and those rolled over from destroyed events).
	var created, gone []string
	var in, out uint64
	mintsTouched := map[string]bool{}
	for m := range fresh {
		mintsTouched[m] = true
	}
	for _, t := range destroyed {
		mintsTouched[t.Mint] = true
		gone = append(gone, t.EventID)
		out += t.Amount
	}
	for _, m := range slices.Sorted(maps.Keys(mintsTouched)) {
		var del []string
		for _, t := range destroyed {
			if t.Mint == m {
				del = append(del, t.EventID)
			}
		}
		for part := range slices.Chunk(fresh[m], mirrorProofsPerEvent) {
			tok := nips.CashuToken{Mint: m, Unit: "sat", Del: del}
			mt := state.MirroredToken{Mint: m}
			for _, p := range part {
				tok.Proofs = append(tok.Proofs, nips.CashuProof{ID: p.KeysetID, Amount: p.Amount, Secret: p.Secret, C: p.C})
				mt.Secrets = append(mt.Secrets, p.Secret)
				mt.Amount += p.Amount
			}
			plain, err := tok.Marshal()
			if err != nil {
				return err
			}
			ev, err := seal(nips.KindCashuToken, plain, nil)
			if err != nil {
				return err
			}
			mt.EventID = ev.ID
			pass.Created = append(pass.Created, mt)
			pass.Publish = append(pass.Publish, ev)
			created = append(created, ev.ID)
			in += mt.Amount
			del = nil // named once
		}
	}
	if len(gone) > 0 {
		tags := nostr.Tags{{"k", fmt.Sprint(nips.KindCashuToken)}}
		for _, id := range gone {
			tags = append(tags, nostr.Tag{"e", id})
		}
		ev, err := seal(nips.KindDeletion, nil, tags)
		if err != nil {
			return err
		}
		pass.Destroyed, pass.Publish = gone, append(pass.Publish, ev)
	}
	if in != out {
		dir, amount := "in", in-out
		if out > in {
			dir, amount = "out", out-in
		}
		ev, err := seal(nips.KindCashuHistory, nips.CashuHistoryContent(dir, amount, created, gone), nil)
		if err != nil {
			return err
		}
		pass.Publish = append(pass.Publish, ev)
	}
	if len(pass.Publish) == 0 {
		return nil
	}
	if err := n.DB.RecordMirrorPass(ctx, pass); err != nil {
		return err
	}
	n.Log.Debug("wallet mirrored to NIP-60 events", "created", len(created), "destroyed", len(gone), "in", in, "out", out)
	return n.flushMirror(ctx)
}

// flushMirror publishes the mirror's outbox in order, stopping at the
// first event no relay takes (the next pass tries again).
func (n *Node) flushMirror(ctx context.Context) error {
	evs, err := n.DB.MirrorOutbox(ctx)
	if err != nil {
		return err
	}
	for _, o := range evs {
		if err := n.Relays.Publish(ctx, o.Event); err != nil {
			return fmt.Errorf("agentd: nip60 mirror: %w", err)
		}
		if err := n.DB.MirrorPublished(ctx, o.ID); err != nil {
			return err
		}
	}
	return nil
}

// MirrorLoop mirrors the wallet every MirrorInterval until ctx ends
// (nothing when Config.NIP60 is off).
func (n *Node) MirrorLoop(ctx context.Context) {
	if !n.Config.NIP60 {
		return
	}
	t := time.NewTicker(MirrorInterval)
	defer t.Stop()
	for {
		if err := n.MirrorWallet(ctx); err != nil && ctx.Err() == nil {
			n.Log.Warn("wallet not mirrored to NIP-60 events yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
