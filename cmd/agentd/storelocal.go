package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// getOutput runs get with the writer "store get" writes to: stdout, or
// with -o a temporary file beside the target renamed into place once get
// succeeded, so a failed get leaves no half file.
func getOutput(e *env, get func(w io.Writer) error) error {
	if e.cfg.output == "" || e.cfg.output == "-" {
		return get(e.stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(e.cfg.output), ".agentd-get-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := get(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), e.cfg.output)
}

// storeGetLocal reads "store get ROOT" from this machine's chunk store
// when it holds enough of the file (chunks the owner imported from a
// bundle): no relay, provider or wallet is needed. It reports false, and
// reads nothing, when the file is not held here in full.
func storeGetLocal(ctx context.Context, e *env, n *agentd.Node) (bool, error) {
	if len(e.args) != 2 {
		return false, nil
	}
	dir := filepath.Join(e.cfg.node.DataDir, "chunks")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	root := strings.TrimSpace(e.args[1])
	cid, err := chunk.ParseCID(root)
	if err != nil {
		return false, nil
	}
	st, err := store.Open(dir, 0)
	if err != nil {
		return false, err
	}
	if ok, err := st.Has(cid); err != nil || !ok {
		return false, err
	}
	ent, err := n.Box().Find(ctx, root)
	if err != nil {
		return false, nil // the network path says why
	}
	kb, err := hex.DecodeString(ent.Key)
	if err != nil || len(kb) != 32 {
		return false, nil
	}
	ref := transport.Ref{Root: cid, Key: chunk.Key(kb)}
	for _, pub := range ent.Providers {
		pid, err := transport.PeerIDFromNostrPubkey(pub)
		if err != nil {
			return false, nil
		}
		ref.Providers = append(ref.Providers, pid)
	}
	man, err := transport.LocalManifest(st, ref)
	if err != nil {
		return false, nil
	}
	if ok, err := transport.LocalComplete(st, man); err != nil || !ok {
		return false, err
	}
	if err := n.StartHost(ctx); err != nil {
		return true, err
	}
	bar := newBar(e.stderr)
	err = getOutput(e, func(w io.Writer) error {
		pw := &progress{w: w, total: int64(man.FileSize), fn: bar.update}
		return n.Host.Get(ctx, ref, pw, transport.GetOptions{Local: st})
	})
	bar.done()
	if err == nil {
		fmt.Fprintf(e.stderr, "agentd: read %s from the chunks in %s\n", root, dir)
	}
	return true, err
}

// progress counts the bytes written through it.
type progress struct {
	w     io.Writer
	done  int64
	total int64
	fn    func(done, total int64)
}

// Write writes and reports progress.
func (p *progress) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}
