// Package chaos holds the whole-market chaos test (chaos_test.go): a
// meshrelay with its dev mint, three agentd providers and two agentd
// buyers, all real binaries on 127.0.0.1, trade storage, bandwidth and
// inference in rounds while processes are killed with SIGKILL at journaled
// payment steps (SOVMESH_CRASH_AT, internal/crashat) and restarted. After
// the rounds and one recovery pass, every sat deposited must be in a
// wallet (checked at the mint, NUT-07) or withdrawn, and every payment
// delivered or refunded.
//
// go test ./bench/chaos runs a few rounds (CI); -chaos.rounds=N and
// -chaos.seed=S run longer or replay a run (docs/benchmarks.md, "Money
// under chaos").
package chaos
