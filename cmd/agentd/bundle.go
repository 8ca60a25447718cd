package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/chunkbundle"
	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

const bundleUsage = "bundle: export ROOT DIR | import DIR [SIGNER] | moved ROOT FROM TO"

// cmdBundle carries a stored file's chunks between nodes by hand
// (agentd/chunkbundle): "bundle export ROOT DIR" writes this node's
// chunks of ROOT into the new folder DIR, signed with its key; "bundle
// import DIR [SIGNER]" checks DIR (signed by this node's key or SIGNER)
// and stores its chunks here; "bundle moved ROOT FROM TO", run by the
// file's owner, names provider TO in FROM's place once TO serves them.
// Export and import need no relay or mint, and take the data directory's
// lock: the node must be stopped.
func cmdBundle(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		return usageError(bundleUsage)
	}
	switch e.args[0] {
	case "export":
		if len(e.args) != 3 {
			return usageError("bundle export ROOT DIR")
		}
		return bundleExport(e, strings.TrimSpace(e.args[1]), e.args[2])
	case "import":
		if len(e.args) != 2 && len(e.args) != 3 {
			return usageError("bundle import DIR [SIGNER]")
		}
		signer := ""
		if len(e.args) == 3 {
			var err error
			if signer, err = parsePubkey(e.args[2]); err != nil {
				return usageError("bundle import: SIGNER: " + err.Error())
			}
		}
		return bundleImport(e, e.args[1], signer)
	case "moved":
		if len(e.args) != 4 {
			return usageError("bundle moved ROOT FROM TO")
		}
		return bundleMoved(ctx, e, strings.TrimSpace(e.args[1]), e.args[2], e.args[3])
	}
	return usageError(bundleUsage)
}

// parsePubkey takes a pubkey as 64 hex digits or an npub.
func parsePubkey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "npub1") {
		_, v, err := nip19.Decode(s)
		if err != nil {
			return "", fmt.Errorf("%.80q is not an npub: %w", s, err)
		}
		return v.(string), nil
	}
	if !nostr.IsValid32ByteHex(s) {
		return "", fmt.Errorf("%.80q is not a pubkey (64 hex digits or npub)", s)
	}
	return strings.ToLower(s), nil
}

// openKey opens (creating on first use) the node's key, asking for its
// passphrase on a terminal as openNode does.
func openKey(e *env) (keystore.Key, error) {
	keys := filepath.Join(e.cfg.node.DataDir, "keys")
	opts := keystore.Options{Passphrase: e.cfg.node.Passphrase, LogN: e.cfg.node.KeyLogN}
	if opts.Passphrase == "" && exists(filepath.Join(keys, keystore.KeyFile)) && !exists(filepath.Join(keys, keystore.PassphraseFile)) {
		opts.Prompt = func() (string, error) { return prompt(e, "passphrase for "+filepath.Join(keys, keystore.KeyFile)+": ") }
	}
	key, created, err := keystore.Open(keys, opts)
	if err != nil {
		return key, err
	}
	if created {
		fmt.Fprintf(e.stderr, "agentd: created a new key %s in %s\n", key.Pubkey, keys)
	}
	return key, nil
}

// lockedStore takes the data directory's lock and opens its chunk store.
func lockedStore(e *env, create bool) (*store.Store, *datadir.Lock, error) {
	data := e.cfg.node.DataDir
	dir := filepath.Join(data, "chunks")
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s holds no chunks (not a provider's data directory)", data)
		}
	}
	if err := datadir.Private(data); err != nil {
		return nil, nil, err
	}
	lock, err := datadir.Acquire(data, "agentd bundle "+e.args[0])
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(dir, 0)
	if err != nil {
		_ = lock.Release()
		return nil, nil, err
	}
	return st, lock, nil
}

func bundleExport(e *env, rootHex, out string) error {
	root, err := chunk.ParseCID(rootHex)
	if err != nil {
		return usageError(fmt.Sprintf("bundle export: ROOT %.80q is not a root CID (64 hex digits)", rootHex))
	}
	key, err := openKey(e)
	if err != nil {
		return err
	}
	st, lock, err := lockedStore(e, false)
	if err != nil {
		return fmt.Errorf("bundle export: %w", err)
	}
	defer lock.Release()
	sum, err := chunkbundle.Export(st, root, out, func(evt *nostr.Event) error { return evt.Sign(key.Secret) })
	if err != nil {
		return fmt.Errorf("bundle export: %w", err)
	}
	fmt.Fprintf(e.stderr, "agentd: exported %d chunks (%d bytes) of owner %s to %s, signed by %s\n", sum.Chunks, sum.Bytes, sum.Info.Owner, out, key.Pubkey)
	return nil
}

func bundleImport(e *env, dir, signer string) error {
	key, err := openKey(e)
	if err != nil {
		return err
	}
	trusted := func(pk string) bool { return pk == key.Pubkey || (signer != "" && pk == signer) }
	st, lock, err := lockedStore(e, true)
	if err != nil {
		return fmt.Errorf("bundle import: %w", err)
	}
	defer lock.Release()
	sum, err := chunkbundle.Import(st, dir, trusted)
	if err != nil {
		return bundleRefused(dir, signer, err)
	}
	fmt.Fprintf(e.stderr, "agentd: imported %s signed by %s: %d chunks (%d bytes) of root %s, owner %s: %d stored, %d already here\n",
		dir, sum.Signer, sum.Chunks, sum.Bytes, sum.Info.Root, sum.Info.Owner, sum.Stored, sum.Present)
	return nil
}

func bundleRefused(dir, signer string, err error) error {
	if errors.Is(err, chunkbundle.ErrUntrusted) && signer == "" {
		return fmt.Errorf("bundle import: %s: %w (name the exporting node's pubkey: bundle import DIR SIGNER)", dir, err)
	}
	return fmt.Errorf("bundle import: %s: %w", dir, err)
}

func bundleMoved(ctx context.Context, e *env, root, fromArg, toArg string) error {
	from, err := parsePubkey(fromArg)
	if err != nil {
		return usageError("bundle moved: FROM: " + err.Error())
	}
	to, err := parsePubkey(toArg)
	if err != nil {
		return usageError("bundle moved: TO: " + err.Error())
	}
	n, err := openNode(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	b, err := buyer.New(ctx, n, e.cfg.buyerConfig())
	if err != nil {
		return err
	}
	held, err := b.Moved(ctx, root, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "agentd: %s holds the %d chunks %s held of %s; its SafeBox entry names %s now\n", to, held, from, root, to)
	return nil
}
