package relay

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote string
		xff          []string // header lines
		want         string
	}{
		{"no header", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer ignores header", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"loopback is not trusted by default", "127.0.0.1:4000", []string{"198.51.100.1"}, "127.0.0.1"},
		{"trusted peer, one entry", "10.0.0.2:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"rightmost untrusted", "10.0.0.2:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"proxies skipped", "10.0.0.2:4000", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.0.0.2:4000", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.2:4000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"empty header", "10.0.0.2:4000", []string{""}, "10.0.0.2"},
		{"garbage: nearest proxy", "10.0.0.2:4000", []string{"1.1.1.1, bogus, 10.9.9.9"}, "10.9.9.9"},
		{"entry with port", "10.0.0.2:4000", []string{"198.51.100.1:555"}, "198.51.100.1"},
		{"ipv6 entry in brackets", "[::1]:4000", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"mapped ipv4", "10.0.0.2:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"ipv6 peer", "[2001:db8::9]:4000", []string{"198.51.100.1"}, "2001:db8::9"},
		{"odd RemoteAddr", "pipe", nil, "pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(req, proxies); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":     "198.51.100.1",
		"2001:db8:1:2:3::": "2001:db8:1:2::/64",
		"2001:db8:1:2::ff": "2001:db8:1:2::/64",
		"pipe":             "pipe",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzClientIP: no header panics the parser, and from a trusted peer the
// answer is the peer or one of the header's entries (never made up).
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1", "1.1.1.1, 198.51.100.1")
	f.Add("[::1]:1", "[2001:db8::7]:80,,bogus")
	f.Add("x", "")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		got := clientIP(req, proxies)
		peer, ok := parseIP(remote)
		if !ok {
			return
		}
		if got == peer.String() {
			return
		}
		if !inPrefixes(peer, proxies) {
			t.Fatalf("untrusted peer %q reported as %q", remote, got)
		}
		found := false
		for _, e := range strings.Split(xff, ",") {
			if ip, ok := parseIP(e); ok && ip.String() == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("%q is neither the peer nor an entry of %q", got, xff)
		}
	})
}
