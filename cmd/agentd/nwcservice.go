package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
)

// walletNWCService runs `wallet nwc` (a new connection, then serve the
// wallet over NIP-47 until stopped), `wallet nwc connections` (the clients
// authorized on the agent's wallet) and `wallet nwc revoke CLIENT`.
func walletNWCService(ctx context.Context, e *env, n *agentd.Node, w *cashu.Wallet) error {
	svc, err := nwc.NewService(w, nwc.ServiceConfig{SecretKey: n.Key.Secret, Relay: e.cfg.node.Relays[0], Alias: "agentd", Logger: n.Log, Network: network(w.Mints()[0])})
	if err != nil {
		return err
	}
	switch args := e.args[1:]; {
	case len(args) == 0:
		uri, err := svc.NewConnection(ctx)
		if err != nil {
			return err
		}
		// The URI is shown once the service listens, so an app's first
		// request is answered. It holds a secret: it goes to stdout once,
		// never to logs.
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- svc.Run(ctx, ready) }()
		select {
		case <-ready:
		case err := <-done:
			return err
		}
		fmt.Fprintln(e.stdout, uri.String())
		fmt.Fprintf(e.stderr, "agentd: NIP-47 wallet service running on %s; give the URI above to your app (revoke it with `agentd wallet nwc revoke %s`)\n", e.cfg.node.Relays[0], clientOf(uri))
		return <-done
	case len(args) == 1 && args[0] == "connections":
		conns, err := svc.Connections(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wallet service %s: %d connection(s)\n", svc.Pubkey(), len(conns))
		for _, c := range conns {
			fmt.Fprintf(e.stdout, "  %s  created %s\n", c.Client, c.Created.UTC().Format(time.RFC3339))
		}
		return nil
	case len(args) == 2 && args[0] == "revoke":
		if err := svc.Revoke(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", args[1])
		return nil
	}
	return usageError("wallet nwc [connections | revoke CLIENT]")
}

// clientOf is the public key of a connection's client (its secret stays
// in the URI).
func clientOf(u nwc.URI) string {
	pk, err := nostr.GetPublicKey(u.Secret)
	if err != nil {
		return "CLIENT"
	}
	return pk
}
