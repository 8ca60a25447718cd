//go:build nodevmint

package main

import (
	"context"
	"errors"
	"log/slog"
)

// devMintBuilt: this build (tag nodevmint) has no development mint, so
// --mints is required; parseConfig refuses a configuration without it.
const devMintBuilt = false

// startDevMint is never reached: parseConfig requires --mints.
func startDevMint(context.Context, string, string, *slog.Logger) (devMint, error) {
	return nil, errors.New("this meshrelay was built with the nodevmint tag: it has no development mint")
}
