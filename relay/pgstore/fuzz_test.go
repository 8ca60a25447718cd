package pgstore

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// FuzzCompile feeds client filters (REQ JSON) to eventsql.Normalize and compile: no
// input may panic, and the SQL must reference exactly the arguments it
// binds, each by number, so no client value is ever part of the SQL text.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"ids":[]}`, `{"ids":[""]}`,
		`{"authors":["aaaa"],"kinds":[1,5,1],"#e":["x","y"],"#t":["a"],"since":5,"until":4,"limit":3}`,
		`{"kinds":[5],"#e":["00"],"limit":-1}`, `{"#alt":["x"]}`, `{"#alt":[]}`, `{"#d":[""],"authors":["bb"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var flt nostr.Filter
		if err := flt.UnmarshalJSON([]byte(in)); err != nil {
			return
		}
		spec, empty, err := eventsql.Normalize(flt)
		if err != nil || empty {
			return
		}
		for _, mode := range []selectMode{selectRows, selectCount, selectSeqs} {
			b := newBuilder()
			compile(b, spec, 1_700_000_000, mode)
			seen := make(map[int]bool)
			for _, m := range placeholder.FindAllStringSubmatch(b.SQL(), -1) {
				n, _ := strconv.Atoi(m[1])
				if n < 1 || n > len(b.Args()) {
					t.Fatalf("mode %d: $%d with %d arguments: %s", mode, n, len(b.Args()), b.SQL())
				}
				seen[n] = true
			}
			if len(seen) != len(b.Args()) {
				t.Fatalf("mode %d: %d arguments, %d referenced: %s", mode, len(b.Args()), len(seen), b.SQL())
			}
		}
	})
}
