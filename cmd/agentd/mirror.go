package main

import (
	"context"

	"github.com/sovmesh/sovmesh/agentd"
)

// startMirror mirrors the wallet to NIP-60 events every
// agentd.MirrorInterval while a daemon runs (--nip60); the returned func
// stops it. Close mirrors once more.
func startMirror(ctx context.Context, n *agentd.Node) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.MirrorLoop(ctx) }()
	return func() { cancel(); <-done }
}
