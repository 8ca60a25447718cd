// Package agentd is sovmesh's agent daemon: one process that buys and
// sells bandwidth, storage and inference on the market for a person or an
// AI agent. A Node holds what both roles share (the Nostr key, the relays,
// the Cashu wallet, the state database and the libp2p host); the provider
// role is agentd/provider, the buyer role agentd/buyer, and cmd/agentd is
// the command line.
package agentd
