package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/agentd/safebox"
)

func cmdKeys(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		return usageError("keys: show | split --contacts A,B,C,D,E [-k 3] | return-share --owner PUB --to PUB | recover --owner PUB | passphrase")
	}
	if e.args[0] == "recover" {
		return cmdRecover(ctx, e)
	}
	n, err := openNode(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	switch e.args[0] {
	case "show":
		npub, _ := nip19.EncodePublicKey(n.Key.Pubkey)
		fmt.Fprintf(e.stdout, "pubkey %s\nnpub   %s\nkey    %s (NIP-49 ncryptsec)\n", n.Key.Pubkey, npub, filepath.Join(e.cfg.node.DataDir, "keys", keystore.KeyFile))
		return nil
	case "split":
		contacts := splitList(e.cfg.contacts)
		set, err := n.Box().SplitKey(ctx, contacts, e.cfg.threshold)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sent %d shares (any %d recover the key), set %s\n", len(contacts), e.cfg.threshold, set)
		return nil
	case "return-share":
		if e.cfg.owner == "" || e.cfg.to == "" {
			return usageError("keys return-share --owner PUB --to RECOVERY_PUB")
		}
		if err := n.Box().ReturnShare(ctx, e.cfg.owner, e.cfg.to); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "share of %s sent to %s\n", e.cfg.owner, e.cfg.to)
		return nil
	case "passphrase":
		if e.cfg.node.Passphrase == "" {
			return usageError("keys passphrase: set the new passphrase in SOVMESH_PASSPHRASE")
		}
		if err := keystore.Rekey(filepath.Join(e.cfg.node.DataDir, "keys"), n.Key, e.cfg.node.Passphrase, e.cfg.node.KeyLogN); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "key re-encrypted; the passphrase file is removed")
		return nil
	}
	return usageError("keys: unknown subcommand " + e.args[0])
}

// cmdRecover restores a key from k shares: it makes a temporary recovery
// key, shows its pubkey (contacts run `keys return-share --to` with it),
// collects shares from the relays and writes the recovered key.
func cmdRecover(ctx context.Context, e *env) error {
	if e.cfg.owner == "" {
		return usageError("keys recover --owner PUBKEY")
	}
	keys := filepath.Join(e.cfg.node.DataDir, "keys")
	if exists(filepath.Join(keys, keystore.KeyFile)) {
		return fmt.Errorf("keys recover: %s already holds a key: %w", keys, keystore.ErrExists)
	}
	pool, err := relays.New(e.cfg.node.Relays, e.cfg.node.Logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	tmp := nostr.GeneratePrivateKey()
	box, err := safebox.New(tmp, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "recovery pubkey %s\n", box.Pubkey())
	fmt.Fprintf(e.stderr, "agentd: ask your contacts to run: agentd keys return-share --owner %s --to %s\n", e.cfg.owner, box.Pubkey())
	sk, err := waitShares(ctx, box, e.cfg.owner, e.cfg.wait)
	if err != nil {
		return err
	}
	k, err := keystore.Import(keys, sk, keystore.Options{Passphrase: e.cfg.node.Passphrase, LogN: e.cfg.node.KeyLogN})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "recovered the key of %s into %s\n", k.Pubkey, keys)
	// The ecash comes back with the key: its secrets derive from it.
	n, err := open(ctx, e, false)
	if err != nil {
		return fmt.Errorf("keys recover: restore the wallet: %w", err)
	}
	defer n.Close()
	if n.Wallet == nil {
		fmt.Fprintln(e.stderr, "agentd: no mint configured: run `agentd wallet restore --mint URL` to bring back the ecash")
		return nil
	}
	fmt.Fprintln(e.stdout, "restoring the wallet")
	if err := restoreWallet(ctx, e, n.Wallet); err != nil {
		return fmt.Errorf("keys recover: the key is back, the wallet only in part (run `agentd wallet restore` again): %w", err)
	}
	return nil
}

func waitShares(ctx context.Context, box *safebox.Box, owner string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		shares, err := box.Shares(ctx, owner)
		if err == nil {
			if sk, err := safebox.Recover(shares, owner); err == nil {
				return sk, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("keys recover: %w after %v (%d valid shares arrived)", safebox.ErrNotEnoughShares, wait, len(shares))
		}
		select {
		case <-ctx.Done():
			return "", errors.Join(ctx.Err(), safebox.ErrNotEnoughShares)
		case <-time.After(time.Second):
		}
	}
}
