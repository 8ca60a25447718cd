package cashu

import (
	"encoding/json"
	"testing"

	"github.com/elnosh/gonuts/cashu/nuts/nut09"
)

// FuzzMatchRestored: whatever a mint answers to a restore, each match is one
// of the outputs asked, at most once, paired with a signature of the answer.
func FuzzMatchRestored(f *testing.F) {
	outs := []output{{B: "02aa"}, {B: "02bb"}, {B: "02cc"}}
	f.Add([]byte(`{"outputs":[{"B_":"02bb","amount":1,"id":"00"}],"signatures":[{"amount":4,"C_":"02dd","id":"00"}]}`))
	f.Add([]byte(`{"outputs":[{"B_":"02bb"},{"B_":"02bb"},{"B_":"02ee"}],"signatures":[{"amount":1}]}`))
	f.Add([]byte(`{"outputs":null,"signatures":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res nut09.PostRestoreResponse
		if json.Unmarshal(data, &res) != nil {
			return
		}
		idx, sigs := matchRestored(outs, &res)
		if len(idx) != len(sigs) || len(idx) > len(outs) {
			t.Fatalf("%d matches, %d signatures", len(idx), len(sigs))
		}
		seen := map[int]bool{}
		for _, j := range idx {
			if j < 0 || j >= len(outs) || seen[j] {
				t.Fatalf("bad match index %d in %v", j, idx)
			}
			seen[j] = true
		}
	})
}
