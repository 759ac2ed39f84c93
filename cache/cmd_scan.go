package cache

import (
	"cmp"
	"slices"
	"strconv"

	"gantry/resp"
)

// HSCAN, SSCAN and ZSCAN. A collection Redis keeps in a compact encoding
// (listpack, intset) is returned whole in one call with cursor 0, whatever COUNT
// says, as Redis does. A larger one is walked by cursor: elements are returned in
// the order of a 64-bit hash of the element, and the cursor is the least hash not
// returned yet, so an element present from the first call to the last is returned
// at least once whatever is added or removed meanwhile (SCAN's guarantee), and
// none is returned twice unless it was removed and added again. Each call takes at
// least COUNT elements and a sixteenth of the collection, so a whole walk costs a
// bounded number of passes over it.

// scanItem is one element of a collection being scanned.
type scanItem struct {
	h    uint64
	name string  // member or field
	val  []byte  // a hash field's value
	sc   float64 // a sorted set member's score
}

// elemHash orders a collection's elements for a cursor walk; it depends on the
// element alone, so a cursor stays valid across calls and changes.
func elemHash(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// collScan is a parsed HSCAN/SSCAN/ZSCAN call.
type collScan struct {
	cursor  uint64
	count   int
	pattern []byte
}

// parseCollScan parses the cursor, looks the key up and parses [MATCH pattern]
// [COUNT count], in Redis's order: a bad cursor first, then a missing key (an
// empty answer) or one of another type, then the options. It writes the reply
// itself and reports false when the command is done.
func parseCollScan[T any](c *client, args [][]byte, of func([]byte, bool) (T, *entry, bool)) (v T, cs collScan, ok bool) {
	if cs.cursor, ok = parseCursor(c, args[2]); !ok {
		return v, cs, false
	}
	v, e, wrong := of(args[1], false)
	if wrong {
		return v, cs, false
	}
	if e == nil {
		c.scanReply(0, 0, func() {})
		return v, cs, false
	}
	cs.count, cs.pattern, _, ok = c.scanOptions(args[3:], false)
	return v, cs, ok
}

// parseCursor parses a SCAN cursor as Redis does, with C's strtoul: an optional
// sign (a negative cursor wraps round), decimal digits, nothing else; an empty
// cursor is 0.
func parseCursor(c *client, arg []byte) (uint64, bool) {
	s := string(arg)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
		if s == "" {
			c.w.Error("ERR invalid cursor")
			return 0, false
		}
	}
	var cursor uint64
	if s != "" {
		var err error
		if cursor, err = strconv.ParseUint(s, 10, 64); err != nil || s[0] == '+' || s[0] == '-' {
			c.w.Error("ERR invalid cursor")
			return 0, false
		}
	}
	if neg {
		cursor = -cursor
	}
	return cursor, true
}

// page picks the elements of this call from those whose hash is set in items
// (all of the collection, n elements) and returns them with the next cursor.
func (cs collScan) page(items []scanItem) ([]scanItem, uint64) {
	out := items[:0]
	for _, it := range items {
		if it.h >= cs.cursor {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b scanItem) int { return cmp.Compare(a.h, b.h) })
	n := max(cs.count, len(items)/16)
	if n >= len(out) {
		return out, 0
	}
	// Elements sharing the last one's hash go together: the cursor cannot
	// point between them.
	for n < len(out) && out[n].h == out[n-1].h {
		n++
	}
	if n == len(out) {
		return out, 0
	}
	return out[:n], out[n].h
}

// pick takes this call's page of items when the collection is paged (small encodings
// answer whole, cursor 0, as in Redis), drops those MATCH refuses, and returns them with
// the next cursor.
func (cs collScan) pick(items []scanItem, paged bool) ([]scanItem, uint64) {
	next := uint64(0)
	if paged {
		items, next = cs.page(items)
	}
	return slices.DeleteFunc(items, func(it scanItem) bool { return !cs.match(it.name) }), next
}

// match reports whether name passes the MATCH pattern.
func (cs collScan) match(name string) bool {
	return cs.pattern == nil || globMatch(cs.pattern, []byte(name), false)
}

// reply writes [cursor, [elements...]]; each element writes its own parts.
func (c *client) scanReply(next uint64, n int, each func()) {
	c.w.Array(2)
	var b [20]byte
	c.w.Bulk(strconv.AppendUint(b[:0], next, 10))
	c.w.Array(n)
	each()
}

func cmdHScan(c *client, args [][]byte) {
	h, cs, ok := parseCollScan(c, args, c.hashOf)
	if !ok {
		return
	}
	var items []scanItem
	h.each(func(f string, v []byte) {
		items = append(items, scanItem{h: elemHash(f), name: f, val: v})
	})
	items, next := cs.pick(items, h.big)
	c.scanReply(next, 2*len(items), func() {
		for _, it := range items {
			c.w.BulkString(it.name)
			c.w.Bulk(it.val)
		}
	})
}

func cmdSScan(c *client, args [][]byte) {
	s, cs, ok := parseCollScan(c, args, c.setOf)
	if !ok {
		return
	}
	var items []scanItem
	for _, m := range s.members() { // in numeric order for an intset
		items = append(items, scanItem{h: elemHash(m), name: m})
	}
	items, next := cs.pick(items, !s.isInt)
	c.scanReply(next, len(items), func() {
		for _, it := range items {
			c.w.BulkString(it.name)
		}
	})
}

func cmdZScan(c *client, args [][]byte) {
	z, cs, ok := parseCollScan(c, args, c.zsetOf)
	if !ok {
		return
	}
	var items []scanItem
	for x := z.head.level[0].next; x != nil; x = x.level[0].next {
		items = append(items, scanItem{h: elemHash(x.member), name: x.member, sc: x.score})
	}
	items, next := cs.pick(items, zsetEncoding(z) != "listpack")
	c.scanReply(next, 2*len(items), func() {
		var b [32]byte
		for _, it := range items {
			c.w.BulkString(it.name)
			c.w.Bulk(resp.AppendDouble(b[:0], it.sc)) // a bulk string in RESP3 too, as Redis
		}
	})
}
