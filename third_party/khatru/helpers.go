package khatru

import (
	"net"
	"net/http"

	"github.com/nbd-wtf/go-nostr"
)

func isOlder(previous, next *nostr.Event) bool {
	return previous.CreatedAt < next.CreatedAt ||
		(previous.CreatedAt == next.CreatedAt && previous.ID > next.ID)
}

// GetIPFromRequest returns the address of r's direct peer.
//
// sovmesh patch: upstream returned the first public address in
// X-Forwarded-For, whoever sent the header, so any client could pick the
// address it is known by. Which proxies are trusted is the relay's decision
// (sovmesh: relay.clientIP, --trusted-proxies); khatru only logs this.
func GetIPFromRequest(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}
