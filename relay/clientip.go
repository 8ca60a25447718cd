package relay

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client that made req: the direct
// peer, unless the peer is one of the trusted proxies. Then X-Forwarded-For
// is read from the right: each proxy appends the address it received the
// request from, so the rightmost entry that is not itself a trusted proxy is
// the client as our proxies saw it. Entries to its left were written by the
// client or by proxies we do not know, and prove nothing. When that entry
// does not parse, the proxy that appended it stands for the client; when
// every entry is a trusted proxy, the leftmost does.
//
// No other header (X-Real-IP, Forwarded) is read. This is the only place
// the relay decides who a client is; every per-IP limit goes through it.
func clientIP(req *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseIP(req.RemoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			return req.RemoteAddr
		}
		return host
	}
	if !inPrefixes(peer, trusted) {
		return peer.String()
	}
	client := peer
	values := req.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if strings.TrimSpace(entries[j]) == "" {
				continue
			}
			ip, ok := parseIP(entries[j])
			if !ok {
				return client.String()
			}
			client = ip
			if !inPrefixes(ip, trusted) {
				return ip.String()
			}
		}
	}
	return client.String()
}

// parseIP reads an address as X-Forwarded-For entries and RemoteAddr carry
// it: a bare IP, or IP:port, IPv6 optionally in brackets. The zone is
// dropped and an IPv4-mapped IPv6 address becomes IPv4.
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

func inPrefixes(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// limitKey is the key per-IP limits count a client under: its IPv4
// address, or the /64 network of an IPv6 address (one subscriber usually
// holds a whole /64, and could otherwise take a fresh address for every
// connection). A client that is not an IP address counts under its string.
func limitKey(client string) string {
	ip, err := netip.ParseAddr(client)
	if err != nil || !ip.Is6() {
		return client
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
