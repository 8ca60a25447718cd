package relay

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// keyFileName is the relay's secret key inside the data directory.
const keyFileName = "relay.key"

// ErrKeyFilePermissions is returned when the relay key file can be read by
// other users of the machine.
var ErrKeyFilePermissions = errors.New("relay key file is readable by other users")

// LoadOrCreateKey returns the relay's secret key kept in dir, generating and
// saving it (mode 0600) on first start. New calls it; so may a caller that
// needs the same key before (the relay's wallet). The key is never logged.
func LoadOrCreateKey(dir string) (secret string, err error) {
	path := filepath.Join(dir, keyFileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		info, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("stat relay key: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%w: %s has mode %v; run chmod 600 on it", ErrKeyFilePermissions, path, info.Mode().Perm())
		}
		secret = strings.TrimSpace(string(b))
		if raw, err := hex.DecodeString(secret); err != nil || len(raw) != 32 {
			return "", fmt.Errorf("relay key %s: want 64 hex characters", path)
		}
		return secret, nil
	case errors.Is(err, fs.ErrNotExist):
		secret = nostr.GeneratePrivateKey()
		tmp := path + ".tmp"
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return "", fmt.Errorf("create relay key: %w", err)
		}
		_, werr := f.WriteString(secret + "\n")
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("write relay key: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return "", fmt.Errorf("save relay key: %w", err)
		}
		return secret, nil
	default:
		return "", fmt.Errorf("read relay key: %w", err)
	}
}
