package cache

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

func (c *client) setOf(key []byte, create bool) (s *set, e *entry, wrong bool) {
	return valueOf(c, key, kSet, create, newSet)
}

func cmdSAdd(c *client, args [][]byte) {
	s, e, wrong := c.setOf(args[1], true)
	if wrong {
		return
	}
	var n int64
	for _, m := range args[2:] {
		if s.add(m) {
			n++
		}
	}
	c.touched(args[1], e)
	c.w.Int(n)
}

func cmdSRem(c *client, args [][]byte) {
	s, e, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	var n int64
	if s != nil {
		for _, m := range args[2:] {
			if s.rem(m) {
				n++
			}
		}
		if len(s.m) == 0 {
			c.del(args[1])
		} else if n > 0 {
			c.touched(args[1], e)
		}
	}
	c.w.Int(n)
}

func (c *client) writeMembers(list []string) {
	c.w.Set(len(list))
	for _, m := range list {
		c.w.BulkString(m)
	}
}

func cmdSMembers(c *client, args [][]byte) {
	s, _, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	if s == nil {
		c.w.Set(0)
		return
	}
	c.writeMembers(s.members())
}

func cmdSIsMember(c *client, args [][]byte) {
	s, _, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	if s != nil && s.has(args[2]) {
		c.w.Int(1)
		return
	}
	c.w.Int(0)
}

func cmdSMIsMember(c *client, args [][]byte) {
	s, _, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	c.w.Array(len(args) - 2)
	for _, m := range args[2:] {
		if s != nil && s.has(m) {
			c.w.Int(1)
		} else {
			c.w.Int(0)
		}
	}
}

func cmdSCard(c *client, args [][]byte) {
	s, _, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	if s == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(len(s.m)))
}

// cmdSPop is SPOP and SRANDMEMBER.
func cmdSPop(c *client, args [][]byte) {
	pop := eqFold(string(args[0]), "spop")
	if len(args) > 3 {
		c.w.Error(errSyntax)
		return
	}
	count, withCount := int64(1), len(args) == 3
	if withCount {
		// The count is checked before the key, as Redis does.
		n, ok := parseInt(args[2])
		switch {
		case pop && (!ok || n < 0):
			c.w.Error("ERR value is out of range, must be positive")
			return
		case !ok:
			c.w.Error(errNotInt)
			return
		case n == math.MinInt64: // Redis takes -LONG_MAX..LONG_MAX
			c.w.Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
			return
		}
		count = n
	}
	s, e, wrong := c.setOf(args[1], false)
	if wrong {
		return
	}
	if s == nil {
		switch {
		case withCount && pop:
			c.w.Set(0) // as SPOP's members from a set that exists: a set in RESP3
		case withCount:
			c.w.Array(0)
		default:
			c.w.Null()
		}
		return
	}
	if !withCount {
		m := s.random()
		if pop {
			c.logInstead([]byte("SREM"), args[1], []byte(m))
			s.rem([]byte(m))
			if len(s.m) == 0 {
				c.del(args[1])
			} else {
				c.touched(args[1], e)
			}
		}
		c.w.BulkString(m)
		return
	}
	var out []string
	switch {
	case !pop && count < 0: // SRANDMEMBER with a negative count may repeat members
		if count < -maxRandomMembers {
			c.w.Error("ERR value is out of range")
			return
		}
		all := s.members()
		for range -count {
			out = append(out, all[rand.IntN(len(all))])
		}
	default:
		// A count that takes the whole set answers it in the set's order (an
		// intset's numeric order), as Redis does; a smaller one at random.
		all := s.members()
		if count < int64(len(all)) {
			rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			all = all[:count]
		}
		out = all
		if pop {
			rem := [][]byte{[]byte("SREM"), args[1]}
			for _, m := range out {
				rem = append(rem, []byte(m))
				s.rem([]byte(m))
			}
			c.logInstead(rem...)
			if len(s.m) == 0 {
				c.del(args[1])
			} else {
				c.touched(args[1], e)
			}
		}
	}
	if pop {
		c.writeMembers(out)
		return
	}
	c.w.Array(len(out))
	for _, m := range out {
		c.w.BulkString(m)
	}
}

// maxRandomMembers bounds SRANDMEMBER's negative count, whose reply repeats members
// and so is not bounded by the set: Redis refuses below -LONG_MAX/2; gantry refuses
// a reply of more than 16M members, which would be gigabytes.
const maxRandomMembers = 1 << 24

// setAlgebra computes SINTER, SUNION or SDIFF of the sets at keys.
func (c *client) setAlgebra(op string, keys [][]byte) (*set, bool) {
	var sets []*set
	for _, k := range keys {
		s, _, wrong := c.setOf(k, false)
		if wrong {
			return nil, false
		}
		sets = append(sets, s)
	}
	out := newSet()
	switch op {
	case "inter":
		if sets[0] == nil {
			return out, true
		}
	next:
		for m := range sets[0].m {
			for _, s := range sets[1:] {
				if s == nil || !s.has([]byte(m)) {
					continue next
				}
			}
			out.add([]byte(m))
		}
	case "union":
		for _, s := range sets {
			if s != nil {
				for m := range s.m {
					out.add([]byte(m))
				}
			}
		}
	default:
		if sets[0] == nil {
			return out, true
		}
	diff:
		for m := range sets[0].m {
			for _, s := range sets[1:] {
				if s != nil && s.has([]byte(m)) {
					continue diff
				}
			}
			out.add([]byte(m))
		}
	}
	return out, true
}

func cmdSetAlgebra(c *client, args [][]byte) {
	name := c.cmd.name
	store := len(name) > 5 && name[len(name)-5:] == "store"
	op := name[1:]
	keys := args[1:]
	if store {
		op = name[1 : len(name)-5]
		keys = args[2:]
	}
	out, ok := c.setAlgebra(op, keys)
	if !ok {
		return
	}
	if !store {
		list := out.members()
		if !out.isInt {
			sort.Strings(list) // a stable order; Redis's is its hash table's
		}
		c.writeMembers(list)
		return
	}
	c.del(args[1])
	if len(out.m) > 0 {
		c.put(args[1], &entry{kind: kSet, obj: out})
	}
	c.w.Int(int64(len(out.m)))
}

// cmdSMove moves member from one set to another, with Redis's order of checks: a
// missing source answers 0 before any type is checked.
func cmdSMove(c *client, args [][]byte) {
	src, srcE, wrong := c.setOf(args[1], false)
	if wrong || src == nil {
		if !wrong {
			c.w.Int(0)
		}
		return
	}
	if e := c.get(args[2]); e != nil && e.kind != kSet {
		c.w.Error(errWrongType)
		return
	}
	if string(args[1]) == string(args[2]) {
		c.w.Int(int64(boolInt(src.has(args[3]))))
		return
	}
	if !src.rem(args[3]) {
		c.w.Int(0)
		return
	}
	if len(src.m) == 0 {
		c.del(args[1])
	} else {
		c.touched(args[1], srcE)
	}
	dst, dstE, _ := c.setOf(args[2], true)
	if dst.add(args[3]) {
		c.touched(args[2], dstE)
	}
	c.w.Int(1)
}

// cmdSInterCard is SINTERCARD numkeys key [key ...] [LIMIT limit].
func cmdSInterCard(c *client, args [][]byte) {
	keys, rest, ok := c.numKeys(args[1], args[2:], "ERR Number of keys can't be greater than number of args")
	if !ok {
		return
	}
	limit := int64(0)
	for i := 0; i < len(rest); i++ {
		if eqFold(string(rest[i]), "limit") && i+1 < len(rest) {
			i++
			if limit, ok = c.atLeast(rest[i], 0, "LIMIT can't be negative"); !ok {
				return
			}
			continue
		}
		c.w.Error(errSyntax)
		return
	}
	sets := make([]*set, len(keys))
	empty := false
	for i, k := range keys {
		s, _, wrong := c.setOf(k, false)
		if wrong {
			return
		}
		sets[i], empty = s, empty || s == nil
	}
	n := int64(0)
	if !empty {
		slices.SortFunc(sets, func(a, b *set) int { return len(a.m) - len(b.m) })
	next:
		for _, m := range sets[0].members() {
			for _, s := range sets[1:] {
				if !s.has([]byte(m)) {
					continue next
				}
			}
			if n++; n == limit {
				break
			}
		}
	}
	c.w.Int(n)
}
