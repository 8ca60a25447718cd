package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/keystore"
)

// openNode opens the node, asking for the passphrase on a terminal when
// the key exists, no passphrase file is beside it and SOVMESH_PASSPHRASE
// is not set.
func openNode(ctx context.Context, e *env) (*agentd.Node, error) {
	return open(ctx, e, false)
}

// openReader opens the node for a command that only reads (it leaves
// open payment operations to a running daemon).
func openReader(ctx context.Context, e *env) (*agentd.Node, error) {
	return open(ctx, e, true)
}

func open(ctx context.Context, e *env, readOnly bool) (*agentd.Node, error) {
	cfg := e.cfg.node
	cfg.ReadOnly = readOnly
	cfg.Command = "agentd " + e.command
	keys := filepath.Join(cfg.DataDir, "keys")
	if cfg.Passphrase == "" && exists(filepath.Join(keys, keystore.KeyFile)) && !exists(filepath.Join(keys, keystore.PassphraseFile)) {
		cfg.Prompt = func() (string, error) { return prompt(e, "passphrase for "+filepath.Join(keys, keystore.KeyFile)+": ") }
	}
	n, err := agentd.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if n.Created {
		fmt.Fprintf(e.stderr, "agentd: created a new key %s in %s\n", n.Key.Pubkey, keys)
		if exists(filepath.Join(keys, keystore.PassphraseFile)) {
			fmt.Fprintf(e.stderr, "agentd: its passphrase is in %s (mode 0600); set SOVMESH_PASSPHRASE and run `agentd keys passphrase` to keep it only in your head\n", filepath.Join(keys, keystore.PassphraseFile))
		}
	}
	return n, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// prompt reads a secret from the terminal (not echoed).
func prompt(e *env, msg string) (string, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the passphrase: set SOVMESH_PASSPHRASE")
	}
	fmt.Fprint(e.stderr, msg)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	return string(b), err
}
