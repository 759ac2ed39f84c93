package cache

import (
	"math"
	"strings"
)

func (c *client) zsetOf(key []byte, create bool) (z *zset, e *entry, wrong bool) {
	return valueOf(c, key, kZSet, create, newZset)
}

func cmdZAdd(c *client, args [][]byte) {
	var nx, xx, gt, lt, ch, incr bool
	i := 2
	for ; i < len(args); i++ {
		switch opt := string(args[i]); {
		case eqFold(opt, "nx"):
			nx = true
		case eqFold(opt, "xx"):
			xx = true
		case eqFold(opt, "gt"):
			gt = true
		case eqFold(opt, "lt"):
			lt = true
		case eqFold(opt, "ch"):
			ch = true
		case eqFold(opt, "incr"):
			incr = true
		default:
			goto pairs
		}
	}
pairs:
	rest := args[i:]
	if len(rest) == 0 || len(rest)%2 != 0 {
		c.w.Error(errSyntax)
		return
	}
	if nx && xx {
		c.w.Error("ERR XX and NX options at the same time are not compatible")
		return
	}
	if (gt && nx) || (lt && nx) || (gt && lt) {
		c.w.Error("ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	}
	if incr && len(rest) > 2 {
		c.w.Error("ERR INCR option supports a single increment-element pair")
		return
	}
	scores := make([]float64, len(rest)/2)
	for j := range scores {
		f, ok := parseFloat(rest[2*j])
		if !ok {
			c.w.Error(errNotFloat)
			return
		}
		scores[j] = f
	}
	z, e, wrong := c.zsetOf(args[1], !xx)
	if wrong {
		return
	}
	if z == nil {
		if incr {
			c.w.Null()
		} else {
			c.w.Int(0)
		}
		return
	}
	var added, changed int64
	var last float64
	aborted := false
	for j, score := range scores {
		m := rest[2*j+1]
		cur, exists := z.scores[string(m)]
		if (nx && exists) || (xx && !exists) {
			aborted = true
			continue
		}
		if incr && exists {
			score += cur
			if math.IsNaN(score) {
				c.w.Error("ERR resulting score is not a number (NaN)")
				c.dropIfEmpty(args[1], z.len())
				return
			}
		}
		if exists && ((gt && score <= cur) || (lt && score >= cur)) {
			aborted = true
			continue
		}
		last = score
		if z.update(m, score, cur, exists) {
			added++
		} else if cur != score {
			changed++
		}
	}
	c.dropIfEmpty(args[1], z.len())
	if z.len() > 0 {
		c.touched(args[1], e)
		if added > 0 {
			c.serveZWaiters(args[1])
		}
	}
	switch {
	case incr && aborted:
		c.w.Null()
	case incr:
		c.w.Double(last)
	case ch:
		c.w.Int(added + changed)
	default:
		c.w.Int(added)
	}
}

func cmdZRem(c *client, args [][]byte) {
	z, e, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	var n int64
	if z != nil {
		for _, m := range args[2:] {
			if z.rem(m) {
				n++
			}
		}
		if z.len() == 0 {
			c.del(args[1])
		} else if n > 0 {
			c.touched(args[1], e)
		}
	}
	c.w.Int(n)
}

func cmdZScore(c *client, args [][]byte) {
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	if z != nil {
		if s, ok := z.scores[string(args[2])]; ok {
			c.w.Double(s)
			return
		}
	}
	c.w.Null()
}

func cmdZMScore(c *client, args [][]byte) {
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	c.w.Array(len(args) - 2)
	for _, m := range args[2:] {
		if z != nil {
			if s, ok := z.scores[string(m)]; ok {
				c.w.Double(s)
				continue
			}
		}
		c.w.Null()
	}
}

func cmdZIncrBy(c *client, args [][]byte) {
	incr, ok := parseFloat(args[2])
	if !ok {
		c.w.Error(errNotFloat)
		return
	}
	z, e, wrong := c.zsetOf(args[1], true)
	if wrong {
		return
	}
	score := incr // a new member takes the increment as it is (-0 stays -0)
	if cur, ok := z.scores[string(args[3])]; ok {
		score += cur
	}
	if math.IsNaN(score) {
		c.w.Error("ERR resulting score is not a number (NaN)")
		c.dropIfEmpty(args[1], z.len())
		return
	}
	z.add(args[3], score)
	c.touched(args[1], e)
	c.w.Double(score) // before serving a waiter, which may pop this member
	c.serveZWaiters(args[1])
}

func cmdZCard(c *client, args [][]byte) {
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	if z == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(z.len()))
}

func cmdZRank(c *client, args [][]byte) {
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	if z != nil {
		if r, ok := z.rank(args[2]); ok {
			if eqFold(string(args[0]), "zrevrank") {
				r = z.len() - 1 - r
			}
			c.w.Int(int64(r))
			return
		}
	}
	c.w.Null()
}

// scoreBound parses a ZRANGEBYSCORE bound: a float, "(float" exclusive, ±inf.
func scoreBound(b []byte) (f float64, ex, ok bool) {
	if len(b) > 0 && b[0] == '(' {
		ex, b = true, b[1:]
	}
	f, ok = parseRangeFloat(b)
	return f, ex, ok
}

func cmdZCount(c *client, args [][]byte) {
	min, minEx, ok1 := scoreBound(args[2])
	max, maxEx, ok2 := scoreBound(args[3])
	if !ok1 || !ok2 {
		c.w.Error("ERR min or max is not a float")
		return
	}
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	var n int64
	if z != nil {
		for x := z.firstInRange(min, minEx); x != nil && scoreBelow(x.score, max, maxEx); x = x.level[0].next {
			n++
		}
	}
	c.w.Int(n)
}

// zrange is the parsed form of every ZRANGE variant.
type zrange struct {
	byScore, byLex, rev, withScores, limit bool
	offset, count                          int64
}

// cmdZRange is ZRANGE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX and
// ZREVRANGEBYLEX.
func cmdZRange(c *client, args [][]byte) {
	var o zrange
	switch c.cmd.name {
	case "zrevrange":
		o.rev = true
	case "zrangebyscore":
		o.byScore = true
	case "zrevrangebyscore":
		o.byScore, o.rev = true, true
	case "zrangebylex":
		o.byLex = true
	case "zrevrangebylex":
		o.byLex, o.rev = true, true
	}
	nodes, ok := c.zrangeNodes(args[1:], &o, eqFold(string(args[0]), "zrange"), false)
	if ok {
		c.writeScored(nodes, o.withScores)
	}
}

// cmdZRangeStore is ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count].
func cmdZRangeStore(c *client, args [][]byte) {
	nodes, ok := c.zrangeNodes(args[2:], &zrange{}, true, true)
	if !ok {
		return
	}
	out := newZset()
	for _, x := range nodes {
		out.add([]byte(x.member), x.score)
	}
	c.del(args[1]) // replaced, or removed when the range is empty
	n := out.len()
	if n > 0 {
		c.put(args[1], &entry{kind: kZSet, obj: out})
		c.serveZWaiters(args[1])
	}
	c.w.Int(int64(n))
}

// zrangeNodes parses key min max [options] of a ZRANGE variant (o says which;
// generic for ZRANGE and ZRANGESTORE, which take BYSCORE, BYLEX and REV; store
// for ZRANGESTORE, which refuses WITHSCORES) and returns the nodes in range, in
// Redis's order of checks: options, their conflicts, the bounds, then the key.
// ok false means the error is written.
func (c *client) zrangeNodes(args [][]byte, o *zrange, generic, store bool) (nodes []*zskipNode, ok bool) {
	for i := 3; i < len(args); i++ {
		switch opt := string(args[i]); {
		case !store && eqFold(opt, "withscores"):
			o.withScores = true
		case eqFold(opt, "limit") && i+2 < len(args) && (o.byScore || o.byLex || generic):
			off, ok1 := parseInt(args[i+1])
			cnt, ok2 := parseInt(args[i+2])
			if !ok1 || !ok2 {
				c.w.Error(errNotInt)
				return nil, false
			}
			o.limit, o.offset, o.count = true, off, cnt
			i += 2
		case generic && eqFold(opt, "byscore"):
			o.byScore = true
		case generic && eqFold(opt, "bylex"):
			o.byLex = true
		case generic && eqFold(opt, "rev"):
			o.rev = true
		default:
			c.w.Error(errSyntax)
			return nil, false
		}
	}
	if o.byScore && o.byLex {
		c.w.Error(errSyntax)
		return nil, false
	}
	if o.limit && !o.byScore && !o.byLex {
		c.w.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return nil, false
	}
	if o.withScores && o.byLex {
		c.w.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return nil, false
	}
	lo, hi := args[1], args[2]
	if o.rev && (o.byScore || o.byLex) {
		lo, hi = hi, lo
	}
	var pick func(z *zset) []*zskipNode
	switch {
	case o.byLex:
		min, ok1 := parseLexBound(lo)
		max, ok2 := parseLexBound(hi)
		if !ok1 || !ok2 {
			c.w.Error("ERR min or max not valid string range item")
			return nil, false
		}
		pick = func(z *zset) []*zskipNode { return z.lexRange(min, max, *o) }
	case o.byScore:
		min, minEx, ok1 := scoreBound(lo)
		max, maxEx, ok2 := scoreBound(hi)
		if !ok1 || !ok2 {
			c.w.Error("ERR min or max is not a float")
			return nil, false
		}
		pick = func(z *zset) []*zskipNode { return z.scoreRange(min, minEx, max, maxEx, *o) }
	default:
		start, stop, ok := c.intPair(lo, hi)
		if !ok {
			return nil, false
		}
		pick = func(z *zset) []*zskipNode { return z.rankRange(start, stop, o.rev) }
	}
	z, _, wrong := c.zsetOf(args[0], false)
	if wrong {
		return nil, false
	}
	if z == nil {
		return nil, true
	}
	return pick(z), true
}

// rankRange returns the nodes from rank start to stop (negative from the end),
// from the highest score for rev.
func (z *zset) rankRange(start, stop int64, rev bool) []*zskipNode {
	i, j, ok := rangeIndexes(start, stop, z.len())
	if !ok {
		return nil
	}
	nodes := make([]*zskipNode, 0, j-i+1)
	for r := i; r <= j; r++ {
		rank := r
		if rev {
			rank = z.len() - 1 - r
		}
		nodes = append(nodes, z.byRank(rank))
	}
	return nodes
}

// cmdZRemRange is ZREMRANGEBYSCORE, ZREMRANGEBYRANK and ZREMRANGEBYLEX: the range
// is parsed before the key is looked at, as in Redis.
func cmdZRemRange(c *client, args [][]byte) {
	var pick func(z *zset) []*zskipNode
	switch c.cmd.name {
	case "zremrangebyscore":
		min, minEx, ok1 := scoreBound(args[2])
		max, maxEx, ok2 := scoreBound(args[3])
		if !ok1 || !ok2 {
			c.w.Error("ERR min or max is not a float")
			return
		}
		pick = func(z *zset) []*zskipNode { return z.scoreRange(min, minEx, max, maxEx, zrange{}) }
	case "zremrangebylex":
		min, ok1 := parseLexBound(args[2])
		max, ok2 := parseLexBound(args[3])
		if !ok1 || !ok2 {
			c.w.Error("ERR min or max not valid string range item")
			return
		}
		pick = func(z *zset) []*zskipNode { return z.lexRange(min, max, zrange{}) }
	default:
		start, stop, ok := c.intPair(args[2], args[3])
		if !ok {
			return
		}
		pick = func(z *zset) []*zskipNode { return z.rankRange(start, stop, false) }
	}
	z, e, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	if z == nil {
		c.w.Int(0)
		return
	}
	nodes := pick(z)
	members := make([]string, len(nodes))
	for i, x := range nodes {
		members[i] = x.member
	}
	for _, m := range members {
		z.rem([]byte(m))
	}
	if len(members) > 0 {
		if z.len() == 0 {
			c.del(args[1])
		} else {
			c.touched(args[1], e)
		}
	}
	c.w.Int(int64(len(members)))
}

// lexBound is a ZRANGEBYLEX bound: [member, (member, - or +.
type lexBound struct {
	s        string
	ex       bool
	inf, neg bool // + or -
}

func parseLexBound(b []byte) (lexBound, bool) {
	switch {
	case string(b) == "+":
		return lexBound{inf: true}, true
	case string(b) == "-":
		return lexBound{inf: true, neg: true}, true
	case len(b) > 0 && (b[0] == '[' || b[0] == '('):
		return lexBound{s: string(b[1:]), ex: b[0] == '('}, true
	}
	return lexBound{}, false
}

// above reports whether m is past the lower bound b.
func (b lexBound) above(m string) bool {
	switch {
	case b.inf:
		return b.neg
	case b.ex:
		return m > b.s
	}
	return m >= b.s
}

// below reports whether m is before the upper bound b.
func (b lexBound) below(m string) bool {
	switch {
	case b.inf:
		return !b.neg
	case b.ex:
		return m < b.s
	}
	return m <= b.s
}

// lexRange returns the members between min and max, in order (reversed for REV),
// after LIMIT. Lex ranges assume members that share one score; when they do not,
// the answer is Redis's for its compact encoding (listpack): the walk starts at the
// first member past min (from the end for REV: the last before max) and goes on
// while members stay before max (after min). It walks the list, which is O(n).
func (z *zset) lexRange(min, max lexBound, o zrange) []*zskipNode {
	skip, count := o.offset, o.count
	if !o.limit {
		skip, count = 0, -1
	}
	if skip < 0 || z.len() == 0 || lexEmpty(min, max) {
		return nil
	}
	first, last := z.head.level[0].next, z.tail
	if !min.above(last.member) || !max.below(first.member) {
		return nil // Redis's quick check of the ends
	}
	// start, step and inRange describe the walk's direction.
	x, step := first, func(n *zskipNode) *zskipNode { return n.level[0].next }
	begins, inRange := min.above, max.below
	if o.rev {
		x, step = last, func(n *zskipNode) *zskipNode { return n.back }
		begins, inRange = max.below, min.above
	}
	for x != nil && !begins(x.member) {
		x = step(x)
	}
	if x == nil || !inRange(x.member) {
		return nil
	}
	for ; x != nil && skip > 0; skip-- {
		x = step(x)
	}
	var out []*zskipNode
	for ; x != nil && count != 0 && inRange(x.member); x = step(x) {
		out = append(out, x)
		count--
	}
	return out
}

// lexEmpty reports whether no member can be between min and max, as Redis
// decides it before looking at the members ("-" and "+" count as exclusive).
func lexEmpty(min, max lexBound) bool {
	rank := func(b lexBound) int { // -1 for "-", 1 for "+", 0 for a string
		switch {
		case b.inf && b.neg:
			return -1
		case b.inf:
			return 1
		}
		return 0
	}
	rmin, rmax := rank(min), rank(max)
	var cmp int
	switch {
	case rmin != 0 && rmin == rmax:
		return true // "-" "-" or "+" "+"
	case rmin == -1 || rmax == 1:
		cmp = -1
	case rmin == 1 || rmax == -1:
		cmp = 1
	default:
		cmp = strings.Compare(min.s, max.s)
	}
	return cmp > 0 || (cmp == 0 && (min.ex || max.ex))
}

func cmdZLexCount(c *client, args [][]byte) {
	min, ok1 := parseLexBound(args[2])
	max, ok2 := parseLexBound(args[3])
	if !ok1 || !ok2 {
		c.w.Error("ERR min or max not valid string range item")
		return
	}
	z, _, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	if z == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(len(z.lexRange(min, max, zrange{}))))
}

// scoreRange returns the nodes with scores in range, in order, after LIMIT.
func (z *zset) scoreRange(min float64, minEx bool, max float64, maxEx bool, o zrange) []*zskipNode {
	var out []*zskipNode
	skip, count := o.offset, o.count
	if !o.limit {
		skip, count = 0, -1
	}
	if skip < 0 {
		return nil
	}
	if !o.rev {
		for x := z.firstInRange(min, minEx); x != nil && scoreBelow(x.score, max, maxEx) && count != 0; x = x.level[0].next {
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, x)
			count--
		}
		return out
	}
	for x := z.lastInRange(max, maxEx); x != nil && scoreAbove(x.score, min, minEx) && count != 0; x = x.back {
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, x)
		count--
	}
	return out
}

// writeScored writes members, with scores as Redis does: flat in RESP2, pairs in RESP3.
func (c *client) writeScored(nodes []*zskipNode, withScores bool) {
	if withScores && c.w.Proto == 3 {
		c.w.Array(len(nodes))
		for _, x := range nodes {
			c.w.Array(2)
			c.w.BulkString(x.member)
			c.w.Double(x.score)
		}
		return
	}
	if withScores {
		c.w.Array(2 * len(nodes))
	} else {
		c.w.Array(len(nodes))
	}
	for _, x := range nodes {
		c.w.BulkString(x.member)
		if withScores {
			c.w.Double(x.score)
		}
	}
}

// cmdZPop is ZPOPMIN and ZPOPMAX.
func cmdZPop(c *client, args [][]byte) {
	max := eqFold(string(args[0]), "zpopmax")
	count, withCount := int64(1), len(args) == 3
	if len(args) > 3 {
		c.w.Error(errSyntax)
		return
	}
	if withCount {
		var ok bool
		if count, ok = c.popCount(args[2]); !ok {
			return
		}
	}
	z, e, wrong := c.zsetOf(args[1], false)
	if wrong {
		return
	}
	var nodes []*zskipNode
	if z != nil {
		for range min(count, int64(z.len())) {
			nodes = append(nodes, c.zpopOne(args[1], z, max))
		}
		if z.len() > 0 {
			c.touched(args[1], e)
		}
	}
	if !withCount && c.w.Proto == 3 {
		c.w.Array(2 * len(nodes))
		for _, x := range nodes {
			c.w.BulkString(x.member)
			c.w.Double(x.score)
		}
		return
	}
	c.writeScored(nodes, true)
}

// zpopOne removes and returns the member with the lowest score (the highest for
// max), deleting key when the set empties; z is not empty.
func (c *client) zpopOne(key []byte, z *zset, max bool) *zskipNode {
	x := z.head.level[0].next
	if max {
		x = z.tail
	}
	out := &zskipNode{member: x.member, score: x.score}
	z.rem([]byte(x.member))
	if z.len() == 0 {
		c.del(key)
	}
	return out
}

// cmdBZPop is BZPOPMIN and BZPOPMAX: the first non-empty sorted set of the keys
// gives its lowest (highest) member; with none the client waits, without a lock,
// until a ZADD serves it or the timeout passes.
func cmdBZPop(c *client, args [][]byte) {
	max := eqFold(string(args[0]), "bzpopmax")
	keys, timeout, ok := c.blockingArgs(args)
	if !ok {
		return
	}
	for _, k := range keys {
		z, e, wrong := c.zsetOf(k, false)
		if wrong {
			return
		}
		if z != nil {
			c.logInstead([]byte(map[bool]string{false: "ZPOPMIN", true: "ZPOPMAX"}[max]), k)
			x := c.zpopOne(k, z, max)
			if z.len() > 0 {
				c.touched(k, e)
			}
			c.w.Array(3)
			c.w.Bulk(k)
			c.w.BulkString(x.member)
			c.w.Double(x.score)
			return
		}
	}
	if c.inExec {
		c.w.NullArray()
		return
	}
	c.block(&waiter{keys: copyArgs(keys), left: !max, zset: true}, timeout)
}

// serveZWaiters serves the clients blocked in BZPOP* on key after a write that
// may have created or grown its sorted set.
func (c *client) serveZWaiters(key []byte) {
	if e := c.shard(key).dbs[c.db].get(key); e != nil && e.kind == kZSet {
		c.serveBlocked(key, e)
	}
}
