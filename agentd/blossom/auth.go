package blossom

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// KindAuth is the Blossom authorization event (BUD-01).
const KindAuth = 24242

// The authorization verbs (the t tag).
const (
	VerbGet    = "get"
	VerbUpload = "upload"
	VerbList   = "list"
	VerbDelete = "delete"
)

// Bounds on an authorization header.
const (
	// MaxAuthLen is the longest Authorization header value read.
	MaxAuthLen = 8 << 10
	// maxSkew is how far in the future a created_at may be (clocks drift).
	maxSkew = time.Minute
)

// ErrAuth is any refused authorization (HTTP 401).
var ErrAuth = errors.New("blossom: authorization refused")

// Auth is a checked kind 24242 authorization.
type Auth struct {
	Pubkey     string
	Verb       string
	X          []string // sha256 tags, lower-case hex
	Expiration time.Time
}

// Allows reports whether the authorization names sha256 in an x tag.
func (a Auth) Allows(sha string) bool { return slices.Contains(a.X, sha) }

// ParseAuth reads an Authorization header ("Nostr <base64 event>") and
// checks it as BUD-01 says, for verb at now: kind 24242, a valid id and
// signature, created_at in the past, an expiration tag in the future, a t
// tag with the verb. It never panics on any input.
func ParseAuth(header, verb string, now time.Time) (Auth, error) {
	var a Auth
	if len(header) > MaxAuthLen {
		return a, fmt.Errorf("%w: header over %d bytes", ErrAuth, MaxAuthLen)
	}
	scheme, b64, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Nostr") {
		return a, fmt.Errorf("%w: want the Nostr scheme", ErrAuth)
	}
	b64 = strings.TrimSpace(b64)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// Some clients send URL-safe or unpadded base64.
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "=")); err != nil {
			return a, fmt.Errorf("%w: not base64", ErrAuth)
		}
	}
	var ev nostr.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return a, fmt.Errorf("%w: not a nostr event", ErrAuth)
	}
	if ev.Kind != KindAuth {
		return a, fmt.Errorf("%w: kind %d, want %d", ErrAuth, ev.Kind, KindAuth)
	}
	if len(ev.PubKey) != 64 || len(ev.ID) != 64 || len(ev.Sig) != 128 {
		return a, fmt.Errorf("%w: malformed id, pubkey or sig", ErrAuth)
	}
	if !ev.CheckID() {
		return a, fmt.Errorf("%w: id is not the event's hash", ErrAuth)
	}
	if ok, err := ev.CheckSignature(); err != nil || !ok {
		return a, fmt.Errorf("%w: bad signature", ErrAuth)
	}
	if ev.CreatedAt.Time().After(now.Add(maxSkew)) {
		return a, fmt.Errorf("%w: created_at in the future", ErrAuth)
	}
	a.Pubkey = ev.PubKey
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "t":
			if t[1] == verb {
				a.Verb = verb
			}
		case "x":
			if isSHA256(t[1]) {
				a.X = append(a.X, t[1])
			}
		case "expiration":
			sec, err := strconv.ParseInt(t[1], 10, 64)
			if err != nil || sec <= 0 || sec > 1<<40 {
				return Auth{}, fmt.Errorf("%w: bad expiration", ErrAuth)
			}
			a.Expiration = time.Unix(sec, 0)
		}
	}
	switch {
	case a.Expiration.IsZero():
		return Auth{}, fmt.Errorf("%w: no expiration tag", ErrAuth)
	case !a.Expiration.After(now):
		return Auth{}, fmt.Errorf("%w: expired", ErrAuth)
	case a.Verb == "":
		return Auth{}, fmt.Errorf("%w: no t tag %q", ErrAuth, verb)
	}
	return a, nil
}

// isSHA256 reports a lower-case hex SHA-256.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
