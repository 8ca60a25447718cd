//go:build cgo && !purego

package bip340

/*
#cgo CFLAGS: -I${SRCDIR}/libsecp256k1/include -I${SRCDIR}/libsecp256k1/src
#cgo CFLAGS: -O2 -DECMULT_GEN_PREC_BITS=4 -DECMULT_WINDOW_SIZE=15
#cgo CFLAGS: -DENABLE_MODULE_SCHNORRSIG=1 -DENABLE_MODULE_EXTRAKEYS=1
#cgo amd64 CFLAGS: -DUSE_ASM_X86_64=1

#include "./libsecp256k1/src/secp256k1.c"
#include "./libsecp256k1/src/precomputed_ecmult.c"
#include "./libsecp256k1/src/precomputed_ecmult_gen.c"

#include "./libsecp256k1/include/secp256k1.h"
#include "./libsecp256k1/include/secp256k1_extrakeys.h"
#include "./libsecp256k1/include/secp256k1_schnorrsig.h"

// sovmesh_verify checks one signature; one call crosses into C once.
static int sovmesh_verify(const secp256k1_context *ctx, const unsigned char *pk,
		const unsigned char *msg, const unsigned char *sig) {
	secp256k1_xonly_pubkey key;
	if (!secp256k1_xonly_pubkey_parse(ctx, &key, pk)) {
		return 0;
	}
	return secp256k1_schnorrsig_verify(ctx, sig, msg, 32, &key);
}
*/
import "C"

import "unsafe"

const implementation = "libsecp256k1"

// secp is read-only after creation: libsecp256k1 allows one context to be
// used by many threads at once for verification.
var secp = newContext()

func newContext() *C.secp256k1_context {
	c := C.secp256k1_context_create(C.SECP256K1_CONTEXT_NONE)
	if c == nil {
		panic("bip340: libsecp256k1 could not create a context")
	}
	return c
}

func verify(pk *[32]byte, msg *[32]byte, sig *[64]byte) bool {
	return C.sovmesh_verify(secp,
		(*C.uchar)(unsafe.Pointer(&pk[0])),
		(*C.uchar)(unsafe.Pointer(&msg[0])),
		(*C.uchar)(unsafe.Pointer(&sig[0]))) == 1
}
