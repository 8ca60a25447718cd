package nips

import (
	"encoding/json"
	"strconv"
)

// NIP-60 (Cashu wallets on relays). agentd's wallet database stays the
// authority; it mirrors its unspent proofs to kind-7375 token events so a
// NIP-60 wallet app with the same key sees the same ecash.

// CashuProof is a proof in a NIP-60 token event (NUT-00 fields).
type CashuProof struct {
	ID     string `json:"id"`
	Amount uint64 `json:"amount"`
	Secret string `json:"secret"`
	C      string `json:"C"`
}

// CashuToken is the plaintext content of a kind-7375 token event: unspent
// proofs of one mint, and the token events this one replaces (del).
type CashuToken struct {
	Mint   string       `json:"mint"`
	Unit   string       `json:"unit"`
	Proofs []CashuProof `json:"proofs"`
	Del    []string     `json:"del,omitempty"`
}

// Amount is the sum of the token's proofs.
func (t CashuToken) Amount() uint64 {
	var sum uint64
	for _, p := range t.Proofs {
		sum += p.Amount
	}
	return sum
}

// CashuWalletContent is the plaintext content of the kind-17375 wallet
// event: one mint tag per mint. It carries no privkey tag: that key is for
// receiving NIP-61 nutzaps, which agentd does not take.
func CashuWalletContent(mints []string) []byte {
	tags := make([][]string, 0, len(mints))
	for _, m := range mints {
		tags = append(tags, []string{"mint", m})
	}
	b, _ := json.Marshal(tags)
	return b
}

// CashuHistoryContent is the plaintext content of a kind-7376 spending
// history event: direction "in" or "out", the amount in sat, and the token
// events created and destroyed.
func CashuHistoryContent(direction string, amount uint64, created, destroyed []string) []byte {
	tags := [][]string{{"direction", direction}, {"amount", strconv.FormatUint(amount, 10)}, {"unit", "sat"}}
	for _, id := range destroyed {
		tags = append(tags, []string{"e", id, "", "destroyed"})
	}
	for _, id := range created {
		tags = append(tags, []string{"e", id, "", "created"})
	}
	b, _ := json.Marshal(tags)
	return b
}

// Marshal encodes the token's content (to be NIP-44 encrypted).
func (t CashuToken) Marshal() ([]byte, error) { return json.Marshal(t) }
