package blossom

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// FuzzParseAuth: any Authorization header is refused with ErrAuth or
// accepted only as a signed, unexpired kind 24242 for the verb.
func FuzzParseAuth(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	sk := nostr.GeneratePrivateKey()
	ev := nostr.Event{Kind: KindAuth, CreatedAt: nostr.Timestamp(now.Unix() - 10), Content: "Upload",
		Tags: nostr.Tags{{"t", "upload"}, {"x", "b1674191a88ec5cdd733e4240a81803105dc412d6c6708d53ab94fc248f4f553"}, {"expiration", strconv.FormatInt(now.Unix()+60, 10)}}}
	_ = ev.Sign(sk)
	raw, _ := json.Marshal(ev)
	f.Add("Nostr "+base64.StdEncoding.EncodeToString(raw), "upload")
	f.Add("Nostr "+base64.RawURLEncoding.EncodeToString(raw), "upload")
	f.Add("Nostr "+base64.StdEncoding.EncodeToString(raw), "delete")
	f.Add("Nostr e30=", "get")
	f.Add("nostr !!", "list")
	f.Add("Bearer x", "upload")
	f.Fuzz(func(t *testing.T, header, verb string) {
		a, err := ParseAuth(header, verb, now)
		if err != nil {
			return
		}
		if a.Verb != verb || verb == "" || len(a.Pubkey) != 64 || !a.Expiration.After(now) {
			t.Fatalf("accepted %+v", a)
		}
		for _, x := range a.X {
			if !isSHA256(x) {
				t.Fatalf("x %q", x)
			}
		}
	})
}

// FuzzRangeLen: the bytes a GET is charged for are within the blob.
func FuzzRangeLen(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=9-2", "bytes=0-1,4-5", "bytes=-0", "items=1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 {
			return
		}
		if n := rangeLen(h, size); n <= 0 || n > size {
			t.Fatalf("rangeLen(%q, %d) = %d", h, size, n)
		}
	})
}

// FuzzBlobPath: only /<sha256>[.ext] names a blob.
func FuzzBlobPath(f *testing.F) {
	for _, s := range []string{"/b1674191a88ec5cdd733e4240a81803105dc412d6c6708d53ab94fc248f4f553.pdf", "/upload", "/../etc", "/B1674191A88EC5CDD733E4240A81803105DC412D6C6708D53AB94FC248F4F553"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if sha, ok := blobPath(p); ok && !isSHA256(sha) {
			t.Fatalf("blobPath(%q) = %q", p, sha)
		}
	})
}
