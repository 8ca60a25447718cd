package pgstore

import (
	"strconv"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// builder is the shared statement builder ("$n" placeholders) with
// PostgreSQL's way of binding lists.
type builder struct{ *eventsql.Builder }

func newBuilder() builder { return builder{eventsql.NewBuilder(eventsql.Dollar)} }

// inBytes writes "col = $n" or "col = ANY($n)" for bytea values.
func (b *builder) inBytes(col string, vals [][]byte) {
	b.W(col)
	if len(vals) == 1 {
		b.W(" = ")
		b.Arg(vals[0])
		return
	}
	b.W(" = ANY(")
	b.Arg(vals)
	b.W("::bytea[])")
}

// selectMode says what a compiled statement returns.
type selectMode int

const (
	selectRows  selectMode = iota // rows of (raw, id) in answer order, limited
	selectCount                   // one row: the number of matching events
	selectSeqs                    // the seq of each matching event, once, in no order, no limit
)

// driverTag returns the tag condition whose index walk yields the answer in
// order (one value, so one row per event), or -1 when the events table
// drives the query. Like the SQLite store, ids or an author with a shared
// tag (the addressable lookup "authors + kinds + #d") leave it to events.
func driverTag(spec eventsql.Filter) int {
	if len(spec.Tags) == 0 || spec.HasIDs {
		return -1
	}
	for i, t := range spec.Tags {
		if len(t.Values) != 1 {
			continue
		}
		if spec.HasAuthors {
			switch t.Name {
			case "d", "k", "t":
				continue
			}
		}
		return i
	}
	return -1
}

// compile writes the statement for spec into b. The caller has dropped
// empty filters.
func compile(b builder, spec eventsql.Filter, now int64, mode selectMode) {
	d := -1
	if mode == selectRows {
		d = driverTag(spec)
	}
	if d >= 0 {
		t := spec.Tags[d]
		b.W("SELECT e.raw, e.id FROM tags t JOIN events e ON e.seq = t.seq WHERE t.name = ")
		b.Arg(bytesOf(t.Name))
		b.W(" AND t.value = ")
		b.Arg(bytesOf(t.Values[0]))
		b.KindTime("t", spec)
		writeEventConds(b, spec, d, now, false)
		b.W(" ORDER BY t.created_at DESC, t.id")
	} else {
		switch mode {
		case selectRows:
			b.W("SELECT e.raw, e.id")
		case selectCount:
			b.W("SELECT count(*)")
		case selectSeqs:
			b.W("SELECT e.seq")
		}
		b.W(" FROM events e WHERE TRUE")
		writeEventConds(b, spec, -1, now, true)
		if mode == selectRows {
			b.W(" ORDER BY e.created_at DESC, e.id")
		}
	}
	if mode == selectRows && spec.Limit > 0 {
		// Inline: the planner then knows how few rows are wanted.
		b.W(" LIMIT " + strconv.Itoa(spec.Limit))
	}
}

// writeEventConds writes the conditions on events e and on the tags other
// than the driving one (skip). withTimeKind adds kinds, since and until,
// which a tag driver already applies on t.
func writeEventConds(b builder, spec eventsql.Filter, skip int, now int64, withTimeKind bool) {
	if spec.HasIDs {
		b.W(" AND ")
		b.inBytes("e.id", spec.IDs)
	}
	if spec.HasAuthors {
		b.W(" AND ")
		b.inBytes("e.pubkey", spec.Authors)
	}
	if withTimeKind {
		b.KindTime("e", spec)
	}
	for i, t := range spec.Tags {
		if i == skip {
			continue
		}
		b.W(" AND e.seq IN (SELECT x.seq FROM tags x WHERE x.name = ")
		b.Arg(bytesOf(t.Name))
		b.W(" AND ")
		b.inBytes("x.value", allBytesOf(t.Values))
		b.W(")")
	}
	b.W(" AND (e.expires_at IS NULL OR e.expires_at > ")
	b.Arg(now)
	b.W(")")
}
