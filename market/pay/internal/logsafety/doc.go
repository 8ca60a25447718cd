// Package logsafety holds one test: it runs every payment package that logs
// (cashu, fees, nwc, devmint, nut24) through its success, failure and crash
// paths with a debug-level logger writing to one buffer, and checks that no
// secret appears in the log output or in the errors returned: no cashuA /
// cashuB token, proof secret, preimage, private key (hex or nsec), or NWC
// connection URI or its secret.
package logsafety
