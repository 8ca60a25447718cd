package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/state"
)

// storePut runs "store put FILE", "store put --resume [FILE]" and
// "store put --abort [FILE]".
func storePut(ctx context.Context, e *env, b *buyer.Buyer, bar *bar) error {
	if len(e.args) > 2 || (len(e.args) == 1 && !e.cfg.resume && !e.cfg.abort) || (e.cfg.resume && e.cfg.abort) {
		return usageError("store put FILE | put --resume [FILE] | put --abort [FILE]")
	}
	var path string
	if len(e.args) == 2 {
		var err error
		if path, err = filepath.Abs(e.args[1]); err != nil {
			return err
		}
	}
	if e.cfg.abort {
		return abortPuts(ctx, e, b, path)
	}
	if path != "" {
		return putFile(ctx, e, b, bar, path)
	}
	// --resume: every unfinished put of a file.
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	resumed := 0
	for _, p := range ps {
		if p.Path == "" {
			continue
		}
		resumed++
		if err := putFile(ctx, e, b, bar, p.Path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Path, err))
		}
	}
	if resumed == 0 {
		fmt.Fprintln(e.stderr, "agentd: no unfinished put of a file to resume")
	}
	return errors.Join(errs...)
}

// putFile stores (or resumes storing) the file at path.
func putFile(ctx context.Context, e *env, b *buyer.Buyer, bar *bar, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if q, err := b.Quote(ctx, st.Size()); err == nil {
		fmt.Fprintf(e.stderr, "agentd: storing %s (%d bytes) on %d providers for %s costs %d sats (at most %d paid ahead; see store quote)\n",
			filepath.Base(path), st.Size(), len(q.Providers), q.Duration, q.Sats, q.Cap)
	}
	up := buyer.Upload{Path: path, Name: filepath.Base(path), Size: st.Size(), ModTime: st.ModTime()}
	ent, err := b.PutFile(ctx, f, up, e.cfg.resume, bar.update)
	bar.done()
	if err != nil {
		if _, uerr := b.UnfinishedPut(context.WithoutCancel(ctx), path, nil); uerr == nil {
			fmt.Fprintf(e.stderr, "agentd: the put of %s is unfinished: run store put again to resume it, or store put --abort to delete what it stored\n", filepath.Base(path))
		}
		return err
	}
	fmt.Fprintf(e.stderr, "agentd: stored %s on %d providers; its key is in your SafeBox\n", ent.Name, len(ent.Providers))
	fmt.Fprintln(e.stdout, ent.Root)
	return nil
}

// abortPuts aborts the unfinished puts of path (all if "").
func abortPuts(ctx context.Context, e *env, b *buyer.Buyer, path string) error {
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	found := false
	for _, p := range ps {
		if path != "" && p.Path != path {
			continue
		}
		found = true
		n, err := b.AbortPut(ctx, p.ID)
		fmt.Fprintf(e.stderr, "agentd: aborted the put of %s: %d chunks deleted\n", p.Name, n)
		errs = append(errs, err)
	}
	if !found && path != "" {
		return fmt.Errorf("%w: %s", buyer.ErrNoUnfinishedPut, path)
	}
	return errors.Join(errs...)
}

// listUnfinished adds the unfinished puts to store ls's table: ROOT is
// "incomplete", NAME the file's path, STORED when the put began, SOURCE
// the stripes every provider acknowledged.
func listUnfinished(ctx context.Context, w io.Writer, db *state.DB) error {
	ps, err := db.Puts(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		name := p.Name
		if p.Path != "" {
			name = p.Path
		}
		fmt.Fprintf(w, "incomplete\t%s\t%d\t%d\t%s\tunfinished put: %d of %d stripes stored\n", name, p.Size, len(p.Providers),
			p.CreatedAt.UTC().Format(time.DateTime), p.Stored, stripes(p))
	}
	return nil
}

// stripes is how many stripes put p has in all.
func stripes(p state.Put) int64 {
	per := int64(p.ChunkSize) * int64(p.DataShards)
	if per <= 0 {
		return 0
	}
	return max((p.Size+per-1)/per, 1)
}
