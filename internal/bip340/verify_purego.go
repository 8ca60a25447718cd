//go:build !cgo || purego

package bip340

const implementation = "btcec"

func verify(pk *[32]byte, msg *[32]byte, sig *[64]byte) bool {
	return verifyBtcec(pk, msg, sig)
}
