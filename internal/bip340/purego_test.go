//go:build purego

package bip340

import "testing"

// TestPuregoUsesBtcec: a build with the purego tag checks signatures with
// verifyBtcec whatever cgo says (the vectors and TestCheckEvent then test
// it through Verify and CheckEvent).
func TestPuregoUsesBtcec(t *testing.T) {
	if Implementation != "btcec" {
		t.Fatalf("the purego build verifies with %s, want btcec", Implementation)
	}
}
