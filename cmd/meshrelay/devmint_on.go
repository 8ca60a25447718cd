//go:build !nodevmint

package main

import (
	"context"
	"log/slog"

	"github.com/sovmesh/sovmesh/market/pay/devmint"
)

// devMintBuilt: this build embeds the development mint, which runs when no
// mint is configured. Build with -tags nodevmint to leave it (and the gonuts
// mint, lnd and their database drivers) out.
const devMintBuilt = true

// startDevMint runs the embedded development mint in dir.
func startDevMint(ctx context.Context, dir, listen string, log *slog.Logger) (devMint, error) {
	return devmint.Start(ctx, dir, devmint.Options{Logger: log, Listen: listen})
}
