package main

import (
	"context"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/internal/manifest"
)

// cmdManifest signs and verifies folders carried by hand (nips/manifest.md):
// "manifest sign DIR [LABEL]" writes DIR/MANIFEST.json signed with the
// agent's key; "manifest verify DIR" checks it. Neither needs a relay or a
// mint.
func cmdManifest(_ context.Context, e *env) error {
	if len(e.args) < 2 || len(e.args) > 3 || (e.args[0] != "sign" && e.args[0] != "verify") || (e.args[0] == "verify" && len(e.args) != 2) {
		return usageError("manifest: sign DIR [LABEL] | verify DIR")
	}
	dir := e.args[1]
	switch e.args[0] {
	case "sign":
		label := "folder"
		if len(e.args) == 3 {
			label = e.args[2]
		}
		key, err := openKey(e)
		if err != nil {
			return err
		}
		evt, err := manifest.Sign(dir, label, func(evt *nostr.Event) error { return evt.Sign(key.Secret) }, nostr.Now())
		if err != nil {
			return fmt.Errorf("manifest sign: %w", err)
		}
		files := 0
		for _, tag := range evt.Tags {
			if tag[0] == "file" {
				files++
			}
		}
		fmt.Fprintf(e.stdout, "signed %s: %d files, manifest %s\n", dir, files, evt.ID)
	case "verify":
		m, err := manifest.Verify(dir)
		if err != nil {
			return fmt.Errorf("manifest verify: %s does not verify: %w", dir, err)
		}
		var bytes uint64
		for _, f := range m.Files {
			bytes += f.Size
		}
		npub, _ := nip19.EncodePublicKey(m.Pubkey)
		fmt.Fprintf(e.stdout, "ok %s: %d files, %d bytes, label %q, signed by %s at %s\n", dir, len(m.Files), bytes, m.Label, npub, m.CreatedAt.Time().UTC().Format("2006-01-02 15:04:05Z"))
	}
	return nil
}
