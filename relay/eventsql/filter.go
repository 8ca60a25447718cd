// Package eventsql holds what the relay's SQL event stores (relay/sqlitestore,
// relay/pgstore) share: a nostr filter normalized for SQL, a statement
// builder whose placeholder style ("?" or "$n") is a parameter, the encoding
// of an event into the events and tags tables, and the expired-event purge
// loop. Each store keeps only its dialect: table access paths, list binding,
// and how it runs statements.
package eventsql

import (
	"fmt"
	"slices"
	"sort"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// Filter is a nostr filter normalized for SQL: hex decoded, lists sorted,
// duplicates removed.
type Filter struct {
	IDs, Authors [][]byte
	HasIDs       bool
	HasAuthors   bool
	Kinds        []int
	HasKinds     bool
	Tags         []TagCond // by name
	Since, Until *int64
	Limit        int // 0: none
}

// TagCond is one "#x" condition: an event matches when it has a tag named
// Name with one of Values.
type TagCond struct {
	Name   string
	Values []string
}

// Normalize checks f and reduces it to what SQL needs. empty reports a filter
// that matches nothing (a non-nil empty list, or no valid id/pubkey left). A
// tag name longer than one letter with values fails with
// storeerr.ErrUnsupportedFilter: only single-letter tags are indexed.
func Normalize(f nostr.Filter) (spec Filter, empty bool, err error) {
	keys := make([]string, 0, len(f.Tags))
	for k, v := range f.Tags {
		if v == nil {
			continue // a nil list matches everything, as in Filter.Matches
		}
		if !isIndexedTag(k) && len(v) > 0 {
			return spec, false, fmt.Errorf("%w: tag %q: only single-letter tags can be queried", storeerr.ErrUnsupportedFilter, clip(k))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Tags[k]
		if len(v) == 0 {
			return spec, true, nil
		}
		vals := slices.Clone(v)
		slices.Sort(vals)
		spec.Tags = append(spec.Tags, TagCond{Name: k, Values: slices.Compact(vals)})
	}
	if f.IDs != nil {
		spec.HasIDs = true
		if spec.IDs = decodeAll(f.IDs); len(spec.IDs) == 0 {
			return spec, true, nil
		}
	}
	if f.Authors != nil {
		spec.HasAuthors = true
		if spec.Authors = decodeAll(f.Authors); len(spec.Authors) == 0 {
			return spec, true, nil
		}
	}
	if f.Kinds != nil {
		if len(f.Kinds) == 0 {
			return spec, true, nil
		}
		spec.HasKinds = true
		spec.Kinds = slices.Clone(f.Kinds)
		slices.Sort(spec.Kinds)
		spec.Kinds = slices.Compact(spec.Kinds)
	}
	if f.Since != nil {
		v := int64(*f.Since)
		spec.Since = &v
	}
	if f.Until != nil {
		v := int64(*f.Until)
		spec.Until = &v
	}
	if spec.Since != nil && spec.Until != nil && *spec.Since > *spec.Until {
		return spec, true, nil
	}
	if f.Limit > 0 {
		spec.Limit = f.Limit
	}
	return spec, false, nil
}

// decodeAll decodes the valid 64-hex strings of list, dropping the rest (no
// stored id or pubkey can equal them) and duplicates.
func decodeAll(list []string) [][]byte {
	out := make([][]byte, 0, len(list))
	seen := make(map[string]struct{}, len(list))
	for _, s := range list {
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		if b, ok := decodeHex32(s); ok {
			out = append(out, b)
		}
	}
	return out
}
