package transport_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport"
)

func TestMDNSDiscovery(t *testing.T) {
	service := fmt.Sprintf("sovmesh-test-%d", time.Now().UnixNano())
	found := make(chan peer.AddrInfo, 8)
	onFound := func(pi peer.AddrInfo) {
		select {
		case found <- pi:
		default:
		}
	}
	a := newHost(t, transport.WithMDNS(service, onFound))
	b := newHost(t, transport.WithMDNS(service, nil))
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	for {
		select {
		case pi := <-found:
			if pi.ID == b.ID() {
				return // a found b and connected to it
			}
		case <-timer.C:
			t.Fatalf("no mDNS discovery within 15 s (multicast may be unavailable here); a=%s b=%s", a.ID(), b.ID())
		}
	}
}
