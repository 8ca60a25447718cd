package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// openTmpfile creates an unnamed regular file in dir (O_TMPFILE): it has
// no directory entry until linkTmpfile gives it one, so a crash before
// that leaves nothing behind, and creating it touches no directory entry
// (the shared temporary directory's lock was where concurrent writers
// queued). name is what f.Name() reports; no file of that name exists.
func openTmpfile(dir, name string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, name)), nil
}

// linkTmpfile gives the unnamed file f from openTmpfile the name path,
// through /proc/self/fd (a link with AT_EMPTY_PATH needs a capability).
// It fails with fs.ErrExist if path exists.
func linkTmpfile(f *os.File, path string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	cerr := rc.Control(func(fd uintptr) {
		proc := "/proc/self/fd/" + strconv.Itoa(int(fd))
		for {
			lerr = unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
			if lerr != unix.EINTR {
				break
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	if lerr != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: path, Err: lerr}
	}
	return nil
}

// tmpfileSupported reports whether chunk files can be created unnamed in
// dir and linked into place: a probe file is created, linked, and removed.
func tmpfileSupported(dir string) bool {
	f, err := openTmpfile(dir, "tmpfile-probe")
	if err != nil {
		return false
	}
	defer f.Close()
	probe := filepath.Join(dir, fmt.Sprintf("tmpfile-probe-%d", os.Getpid()))
	_ = os.Remove(probe)
	if err := linkTmpfile(f, probe); err != nil {
		return false
	}
	return os.Remove(probe) == nil
}

// errTmpfileRefused reports whether err is the filesystem refusing
// O_TMPFILE (the store then names its temporary files as before).
func errTmpfileRefused(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)
}
