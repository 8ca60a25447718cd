package selfurl

import (
	"errors"
	"net"
	"slices"
	"testing"
)

func TestCanonical(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "ws://relay.example.com", "ws://relay.example.com"},
		{"trailing slash", "wss://relay.example.com/", "wss://relay.example.com"},
		{"host case", "wss://Relay.Example.COM", "wss://relay.example.com"},
		{"scheme case", "WSS://relay.example.com", "wss://relay.example.com"},
		{"default wss port", "wss://relay.example.com:443/", "wss://relay.example.com"},
		{"default ws port", "ws://relay.example.com:80", "ws://relay.example.com"},
		{"https is wss", "https://relay.example.com", "wss://relay.example.com"},
		{"http is ws", "http://127.0.0.1:7447", "ws://127.0.0.1:7447"},
		{"other port kept", "wss://relay.example.com:8443", "wss://relay.example.com:8443"},
		{"port with zeros", "ws://127.0.0.1:07447", "ws://127.0.0.1:7447"},
		{"trailing dot", "wss://relay.example.com./", "wss://relay.example.com"},
		{"ipv6", "ws://[0:0::1]:7447", "ws://[::1]:7447"},
		{"ipv6 default port", "wss://[2001:DB8::1]:443", "wss://[2001:db8::1]"},
		{"mapped ipv4", "ws://[::ffff:127.0.0.1]:7447", "ws://127.0.0.1:7447"},
		{"path", "wss://example.com/relay/", "wss://example.com/relay"},
		{"query kept, fragment dropped", "wss://example.com/?a=1#x", "wss://example.com?a=1"},
		{"spaces", "  wss://example.com  ", "wss://example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "relay.example.com", "ftp://x", "wss://", "wss://user@x", "wss://x:0", "wss://x:99999", "ws://x:port", "mailto:a@b"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if got, err := Canonical(bad); !errors.Is(err, ErrBadURL) {
				t.Fatalf("Canonical(%q) = %q, %v; want ErrBadURL", bad, got, err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	accepted := []string{"ws://127.0.0.1:7447", "ws://localhost:7447"}
	cases := []struct {
		tag  string
		want bool
	}{
		{"ws://127.0.0.1:7447", true},
		{"ws://127.0.0.1:7447/", true},
		{"ws://LOCALHOST:7447", true},
		{"http://localhost:7447", true},
		{"wss://127.0.0.1:7447", false}, // another scheme: TLS on that port is another service
		{"ws://127.0.0.1:7448", false},
		{"ws://127.0.0.1", false},
		{"wss://relay.damus.io", false},
		{"ws://127.0.0.1:7447/other", false},
		{"not a url", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := Match(accepted, tc.tag); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.tag, got, tc.want)
		}
	}
}

func TestListenHosts(t *testing.T) {
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("192.168.1.20").To4(), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("::1"), Mask: net.CIDRMask(128, 128)},
			&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)},
			&net.IPNet{IP: net.ParseIP("2001:db8::20"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct {
		name, configured string
		bound            net.Addr
		want             []string
	}{
		{"loopback", "127.0.0.1:7447", tcp("127.0.0.1:7447"), []string{"127.0.0.1:7447", "localhost:7447"}},
		{"port 0", "127.0.0.1:0", tcp("127.0.0.1:40001"), []string{"127.0.0.1:40001", "localhost:40001"}},
		{"localhost name", "localhost:7447", tcp("127.0.0.1:7447"), []string{"localhost:7447", "127.0.0.1:7447"}},
		{"lan address", "192.168.1.20:7447", tcp("192.168.1.20:7447"), []string{"192.168.1.20:7447"}},
		{"lan name", "Relay.lan:7447", tcp("192.168.1.20:7447"), []string{"relay.lan:7447", "192.168.1.20:7447"}},
		{"all ipv4", "0.0.0.0:7447", tcp("0.0.0.0:7447"), []string{"127.0.0.1:7447", "192.168.1.20:7447", "localhost:7447"}},
		{"all", ":7447", tcp("[::]:7447"), []string{"127.0.0.1:7447", "192.168.1.20:7447", "[::1]:7447", "[2001:db8::20]:7447", "localhost:7447"}},
		{"ipv6 loopback", "[::1]:7447", tcp("[::1]:7447"), []string{"[::1]:7447", "localhost:7447"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ListenHosts(tc.configured, tc.bound, ifaces)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzCanonical: no input panics, and the canonical form is a fixed point.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"wss://Relay.Example.com:443/", "ws://[::ffff:127.0.0.1]:7447", "http://x/?a#b", "ws://[fe80::1%25eth0]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := Canonical(raw)
		if err != nil {
			return
		}
		c2, err := Canonical(c)
		if err != nil || c2 != c {
			t.Fatalf("Canonical(%q) = %q, but Canonical of that = %q, %v", raw, c, c2, err)
		}
		if !Match([]string{raw}, c) {
			t.Fatalf("%q does not match its own canonical form %q", raw, c)
		}
	})
}
