// Package selfurl decides which URLs name this server: the public URL the
// operator configured or, without one, the addresses it listens on. Signed
// requests name the server they are meant for (the "relay" tag of a NIP-42
// AUTH event, the "u" tag of a NIP-98 HTTP auth event); a server that
// accepted any name, or the name the client itself sent in a Host header,
// would accept a signature made for another server.
//
// URLs are compared in canonical form (Canonical), since clients write the
// same server's URL in several ways.
package selfurl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ErrBadURL is wrapped by Canonical's errors.
var ErrBadURL = errors.New("bad URL")

// Canonical returns raw in the form in which two URLs naming the same
// endpoint are equal: the scheme only picks the default port and whether TLS
// is used, so http and ws are written ws, https and wss are written wss; the
// host in lower case without a trailing dot, an IP address in its standard
// form (an IPv4-mapped IPv6 address as IPv4, no zone); no port when it is the
// scheme's default (80 or 443); no trailing slash; the query kept; no
// fragment. A URL with user information or an unknown scheme is an error.
func Canonical(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadURL, raw, err)
	}
	var scheme, defPort string
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		scheme, defPort = "ws", "80"
	case "wss", "https":
		scheme, defPort = "wss", "443"
	default:
		return "", fmt.Errorf("%w: %q: scheme is not ws, wss, http or https", ErrBadURL, raw)
	}
	if u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%w: %q: not a plain server URL", ErrBadURL, raw)
	}
	host, err := canonicalHost(u.Hostname())
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadURL, raw, err)
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%w: %q: bad port", ErrBadURL, raw)
		}
		port = strconv.FormatUint(n, 10)
	}
	if port == defPort {
		port = ""
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if port != "" {
		b.WriteString(net.JoinHostPort(host, port))
	} else if strings.Contains(host, ":") {
		b.WriteString("[" + host + "]")
	} else {
		b.WriteString(host)
	}
	b.WriteString(strings.TrimRight(u.EscapedPath(), "/"))
	if u.RawQuery != "" {
		b.WriteString("?" + escapeSpace(u.RawQuery))
	}
	return b.String(), nil
}

// escapeSpace percent-encodes the white space a raw query may hold, which
// Canonical's TrimSpace would otherwise drop from the end of its own
// output ("ws://h? " must not become "ws://h").
func escapeSpace(q string) string {
	if !strings.ContainsFunc(q, unicode.IsSpace) {
		return q
	}
	var b strings.Builder
	for _, r := range q {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
			continue
		}
		for _, c := range []byte(string(r)) {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("no host")
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone("").Unmap().String(), nil
	}
	h = strings.TrimRight(strings.ToLower(h), ".")
	if h == "" || strings.ContainsAny(h, " %[]/\\@:") ||
		strings.ContainsFunc(h, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", errors.New("bad host")
	}
	return h, nil
}

// Match reports whether raw names one of the accepted URLs (compared in
// canonical form). A URL that does not parse matches nothing.
func Match(accepted []string, raw string) bool {
	c, err := Canonical(raw)
	if err != nil {
		return false
	}
	for _, a := range accepted {
		if ca, err := Canonical(a); err == nil && ca == c {
			return true
		}
	}
	return false
}

// ListenHosts returns the host:port names of a server whose listener was
// configured with the address configured (as in net.Listen) and is bound to
// addr, for building the URLs it accepts when no public URL is configured:
//
//   - the host of configured when it is a name (such as relay.lan);
//   - the bound IP address;
//   - when bound to a loopback address, also "localhost";
//   - when bound to all addresses (0.0.0.0 or ::), every address of the
//     machine's interfaces instead (IPv4 only for 0.0.0.0; IPv6 link-local
//     addresses, which need a zone, are left out), and "localhost".
//
// The port is addr's (so port 0 in configured gives the real one).
// interfaces lists the machine's addresses (net.InterfaceAddrs).
func ListenHosts(configured string, addr net.Addr, interfaces func() ([]net.Addr, error)) ([]string, error) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return nil, fmt.Errorf("listen address %s: %w", addr, err)
	}
	port := strconv.Itoa(int(ap.Port()))
	var hosts []string
	add := func(h string) {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if h, _, err := net.SplitHostPort(configured); err == nil && h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			add(strings.ToLower(h))
		}
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsUnspecified():
		ifaddrs, err := interfaces()
		if err != nil {
			return nil, fmt.Errorf("interface addresses: %w", err)
		}
		for _, a := range ifaddrs {
			var p netip.Addr
			switch v := a.(type) {
			case *net.IPNet:
				p, _ = netip.AddrFromSlice(v.IP)
			case *net.IPAddr:
				p, _ = netip.AddrFromSlice(v.IP)
			}
			p = p.Unmap()
			if !p.IsValid() || (ip.Is4() && !p.Is4()) || (p.Is6() && p.IsLinkLocalUnicast()) {
				continue
			}
			add(p.String())
		}
		add("localhost")
	default:
		add(ip.String())
		if ip.IsLoopback() {
			add("localhost")
		}
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = net.JoinHostPort(h, port)
	}
	return out, nil
}

// URLs returns scheme://hostport for each of hostports.
func URLs(scheme string, hostports []string) []string {
	out := make([]string, len(hostports))
	for i, hp := range hostports {
		out[i] = scheme + "://" + hp
	}
	return out
}
