// Package datadir keeps a daemon's data directory private and its own: the
// directory mode 0700 and its databases, wallets and keys 0600 (tightened
// at every open, whatever modes they had before), and an exclusive lock so
// that a second daemon on the same directory fails instead of sharing the
// wallet.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the lock file inside a data directory.
const LockFile = "lock"

// ErrLocked means another process holds the data directory's lock.
var ErrLocked = errors.New("data directory in use by another process")

// Private creates dir (and its parents) if needed and sets its mode to 0700.
func Private(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}

// PrivateFiles sets the mode of each existing file in paths to 0600; a
// missing file is skipped.
func PrivateFiles(paths ...string) error {
	for _, p := range paths {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("private file %s: %w", p, err)
		}
	}
	return nil
}

// Lock is an exclusive lock on a data directory, held until Release or the
// end of the process.
type Lock struct {
	f *os.File
}

// Acquire takes the exclusive lock of dir (made private first) for
// command, writing this process's pid and command into the lock file. If
// another process holds it, the error wraps ErrLocked and names the holder.
func Acquire(dir, command string) (*Lock, error) {
	if err := Private(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by %s", ErrLocked, dir, describe(holder))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	line := "pid " + strconv.Itoa(os.Getpid()) + " " + command + "\n"
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(line), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. The lock file stays; its content is stale.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// describe renders the lock file's content (written by Acquire) for an
// error message, bounded and on one line.
func describe(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		return "another process"
	}
	return s
}
