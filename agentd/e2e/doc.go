// Package e2e holds agentd's end-to-end test: a relay charging fees, the
// dev mint, three providers and a buyer, all real and on 127.0.0.1.
package e2e
