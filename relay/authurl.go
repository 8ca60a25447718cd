package relay

import (
	"fmt"
	"net"
	"net/http"

	"github.com/sovmesh/sovmesh/internal/selfurl"
)

// setListenHosts records the names of the address Serve listens on (ln's
// address) and logs which URLs NIP-42 AUTH will accept.
func (r *Relay) setListenHosts(addr net.Addr) {
	hosts, err := selfurl.ListenHosts(r.cfg.Listen, addr, net.InterfaceAddrs)
	if err != nil {
		// The address is one the listener gave: only interface listing can
		// fail. AUTH then accepts the bound address alone.
		r.log.Warn("listing interface addresses failed; NIP-42 AUTH accepts the bound address only", "err", err)
		hosts = []string{addr.String()}
	}
	r.mu.Lock()
	r.listenHosts = hosts
	r.mu.Unlock()
	switch {
	case r.cfg.ServiceURL != "":
		r.log.Info("NIP-42 AUTH accepted for the service URL only", "url", r.cfg.ServiceURL)
	case len(r.cfg.TrustedProxies) > 0:
		r.log.Warn("behind a reverse proxy without --service-url: NIP-42 AUTH is accepted only for the listen address, which clients of the proxy do not use",
			"urls", selfurl.URLs("ws", hosts))
	default:
		r.log.Info("no --service-url: NIP-42 AUTH accepted only for URLs naming the listen address", "urls", selfurl.URLs("ws", hosts))
	}
}

// ListenURLs returns scheme://host:port for each name of the address the
// relay listens on (see selfurl.ListenHosts), or nil before Serve. Without
// a ServiceURL these are the URLs NIP-42 AUTH accepts (with scheme ws);
// meshrelay's pages accept NIP-98 logins for them (with scheme http) when
// --public-url is not set.
func (r *Relay) ListenURLs(scheme string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return selfurl.URLs(scheme, r.listenHosts)
}

// authURLs returns the URLs the relay tag of an AUTH event may name: the
// service URL when configured, else the listen URLs.
func (r *Relay) authURLs() []string {
	if r.cfg.ServiceURL != "" {
		return []string{r.cfg.ServiceURL}
	}
	return r.ListenURLs("ws")
}

// authRelayMatches is khatru's AuthRelayMatches: an AUTH event made for
// another relay is refused, so it cannot be replayed here (and spend the
// signer's prepaid balance).
func (r *Relay) authRelayMatches(_ *http.Request, tag string) (bool, string) {
	urls := r.authURLs()
	if selfurl.Match(urls, tag) {
		return true, ""
	}
	want := "the relay's listen address"
	if len(urls) > 0 {
		want = urls[0]
	}
	return false, fmt.Sprintf("invalid: relay tag %q does not name this relay (%s)", tag, want)
}
