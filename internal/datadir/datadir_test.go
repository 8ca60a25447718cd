package datadir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/internal/datadir"
)

// TestAcquire: a second lock on a directory is refused naming the holder;
// once released, the directory can be locked again. The directory is made
// 0700 though it was 0755.
func TestAcquire(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := datadir.Acquire(dir, "meshrelay")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v, want 0700", info.Mode().Perm(), err)
	}
	_, err = datadir.Acquire(dir, "agentd provide")
	want := "pid " + strconv.Itoa(os.Getpid()) + " meshrelay"
	if !errors.Is(err, datadir.ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want ErrLocked naming %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := datadir.Acquire(dir, "agentd provide")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

// TestPrivateFiles: existing files become 0600; missing ones are skipped.
func TestPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pay.db")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := datadir.PrivateFiles(p, filepath.Join(dir, "missing")); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(p); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
}
