package cache

import (
	"math"
	"math/big"
	"sync/atomic"
	"time"
)

func (c *client) listOf(key []byte, create bool) (l *list, e *entry, wrong bool) {
	return valueOf(c, key, kList, create, func() *list { return &list{} })
}

// cmdPush is LPUSH, RPUSH, LPUSHX and RPUSHX.
func cmdPush(c *client, args [][]byte) {
	name := c.cmd.name
	left := name[0] == 'l'
	exists := name[len(name)-1] == 'x'
	l, e, wrong := c.listOf(args[1], !exists)
	if wrong {
		return
	}
	if l == nil {
		c.w.Int(0)
		return
	}
	for _, v := range args[2:] {
		if left { // the list copies v
			l.pushFront(v)
		} else {
			l.pushBack(v)
		}
	}
	c.w.Int(int64(l.len()))
	c.touched(args[1], e)
	c.serveBlocked(args[1], e)
}

// pop takes one element from the end of l that left says, deleting the key when
// the list empties.
func (c *client) pop(key []byte, l *list, left bool) []byte {
	var v []byte
	if left {
		v = l.popFront()
	} else {
		v = l.popBack()
	}
	if l.len() == 0 {
		c.del(key)
	}
	return v
}

// cmdPop is LPOP and RPOP, with an optional count.
func cmdPop(c *client, args [][]byte) {
	left := toLower(args[0][0]) == 'l'
	count := int64(-1)
	if len(args) == 3 {
		var ok bool
		if count, ok = c.popCount(args[2]); !ok {
			return
		}
	} else if len(args) > 3 {
		c.w.Error("ERR wrong number of arguments for '" + lowerString(args[0]) + "' command")
		return
	}
	l, e, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		if count >= 0 {
			c.w.NullArray()
		} else {
			c.w.Null()
		}
		return
	}
	n := 1
	if count >= 0 {
		n = int(min(count, int64(l.len())))
		c.w.Array(n)
	}
	for range n {
		c.w.Bulk(c.pop(args[1], l, left))
	}
	if l.len() > 0 { // an emptied list was deleted, its memory already given back
		c.touched(args[1], e)
	}
}

func cmdLLen(c *client, args [][]byte) {
	l, _, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(l.len()))
}

// rangeIndexes clamps Redis's start/stop (negative from the end) to [0, n).
func rangeIndexes(start, stop int64, n int) (int, int, bool) {
	if start < 0 {
		start += int64(n)
	}
	if stop < 0 {
		stop += int64(n)
	}
	start = max(start, 0)
	if start > stop || start >= int64(n) {
		return 0, 0, false
	}
	stop = min(stop, int64(n)-1)
	return int(start), int(stop), true
}

func cmdLRange(c *client, args [][]byte) {
	start, stop, ok := c.intPair(args[2], args[3])
	if !ok {
		return
	}
	l, _, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		c.w.Array(0)
		return
	}
	i, j, ok := rangeIndexes(start, stop, l.len())
	if !ok {
		c.w.Array(0)
		return
	}
	c.w.Array(j - i + 1)
	for k, v := range l.each(i, false) {
		if k > j {
			break
		}
		c.w.Bulk(v)
	}
}

func cmdLIndex(c *client, args [][]byte) {
	l, _, wrong := c.listOf(args[1], false) // Redis looks at the key first
	if wrong {
		return
	}
	if l == nil {
		c.w.Null()
		return
	}
	idx, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	if idx < 0 {
		idx += int64(l.len())
	}
	if idx < 0 || idx >= int64(l.len()) {
		c.w.Null()
		return
	}
	c.w.Bulk(l.at(int(idx)))
}

func cmdLSet(c *client, args [][]byte) {
	l, e, wrong := c.listOf(args[1], false) // Redis looks at the key first
	if wrong {
		return
	}
	if l == nil {
		c.w.Error(errNoSuchKey)
		return
	}
	idx, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	if idx < 0 {
		idx += int64(l.len())
	}
	if idx < 0 || idx >= int64(l.len()) {
		c.w.Error("ERR index out of range")
		return
	}
	l.set(int(idx), args[3])
	c.touched(args[1], e)
	c.w.OK()
}

func cmdLRem(c *client, args [][]byte) {
	count, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	l, e, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		c.w.Int(0)
		return
	}
	s := l.slice()
	keep := make([]bool, len(s))
	removed := int64(0)
	limit := count
	switch {
	case limit == math.MinInt64:
		limit = math.MaxInt64 // -MinInt64 overflows; any list is shorter anyway
	case limit < 0:
		limit = -limit
	}
	for k := range s {
		i := k
		if count < 0 {
			i = len(s) - 1 - k
		}
		keep[i] = true
		if string(s[i]) == string(args[3]) && (limit == 0 || removed < limit) {
			keep[i] = false
			removed++
		}
	}
	if removed > 0 {
		out := make([][]byte, 0, len(s)-int(removed))
		for i, v := range s {
			if keep[i] {
				out = append(out, v)
			}
		}
		l.replace(out)
		if l.len() == 0 {
			c.del(args[1])
		} else {
			c.touched(args[1], e)
		}
	}
	c.w.Int(removed)
}

func cmdLTrim(c *client, args [][]byte) {
	start, stop, ok := c.intPair(args[2], args[3])
	if !ok {
		return
	}
	l, e, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		c.w.OK()
		return
	}
	i, j, ok := rangeIndexes(start, stop, l.len())
	if !ok {
		c.del(args[1])
	} else {
		l.replace(append([][]byte(nil), l.slice()[i:j+1]...))
		c.touched(args[1], e)
	}
	c.w.OK()
}

func cmdLInsert(c *client, args [][]byte) {
	where := string(args[2])
	before := eqFold(where, "before")
	if !before && !eqFold(where, "after") {
		c.w.Error(errSyntax)
		return
	}
	l, e, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	if l == nil {
		c.w.Int(0)
		return
	}
	s := l.slice()
	for i, v := range s {
		if string(v) != string(args[3]) {
			continue
		}
		if !before {
			i++
		}
		out := make([][]byte, 0, len(s)+1)
		out = append(out, s[:i]...)
		out = append(out, append([]byte(nil), args[4]...))
		out = append(out, s[i:]...)
		l.replace(out)
		c.touched(args[1], e)
		c.w.Int(int64(l.len()))
		return
	}
	c.w.Int(-1)
}

func parseSide(b []byte) (left, ok bool) {
	switch s := string(b); {
	case eqFold(s, "left"):
		return true, true
	case eqFold(s, "right"):
		return false, true
	}
	return false, false
}

// move pops from src and pushes to dst; the shards of both are locked.
func (c *client) move(src, dst []byte, fromLeft, toLeft bool) (v []byte, ok, wrong bool) {
	l, e, wrong := c.listOf(src, false)
	if wrong || l == nil {
		return nil, false, wrong
	}
	if _, dw := c.getKind(dst, kList); dw {
		return nil, false, true
	}
	if string(src) == string(dst) {
		// A rotation: the list never empties, so the key (and its TTL) stays.
		if fromLeft {
			v = l.popFront()
		} else {
			v = l.popBack()
		}
		if toLeft {
			l.pushFront(v)
		} else {
			l.pushBack(v)
		}
		c.touched(src, e)
		return v, true, false
	}
	v = c.pop(src, l, fromLeft)
	c.touched(src, e)
	c.pushTo(dst, v, toLeft)
	return v, true, false
}

func (c *client) pushTo(key, v []byte, left bool) {
	dl, de, _ := c.listOf(key, true)
	if left {
		dl.pushFront(v)
	} else {
		dl.pushBack(v)
	}
	c.touched(key, de)
	c.serveBlocked(key, de)
}

func cmdLMove(c *client, args [][]byte) {
	var fromLeft, toLeft bool
	if eqFold(string(args[0]), "rpoplpush") {
		fromLeft, toLeft = false, true
	} else {
		var ok1, ok2 bool
		fromLeft, ok1 = parseSide(args[3])
		toLeft, ok2 = parseSide(args[4])
		if !ok1 || !ok2 {
			c.w.Error(errSyntax)
			return
		}
	}
	v, ok, wrong := c.move(args[1], args[2], fromLeft, toLeft)
	switch {
	case wrong:
	case !ok:
		c.w.Null()
	default:
		c.w.Bulk(v)
	}
}

// Blocking pops. A client that finds every key empty registers a waiter on each
// key and waits with no lock held. A push to one of the keys hands an element to
// the first waiter (FIFO) while holding the key's shard lock, so an element is
// never seen by two clients; the waiter then writes the reply.

type waiter struct {
	c       *client
	db      int
	keys    [][]byte
	left    bool   // pop from the head
	dest    []byte // BLMOVE: where the element goes
	toLeft  bool
	zset    bool    // BZPOPMIN (left) or BZPOPMAX: waits for a sorted set
	score   float64 // BZPOP*: the popped member's score, set before got is sent
	claimed atomic.Bool
	got     chan [2][]byte // key and element
}

// parseTimeout reads a blocking command's timeout in seconds as Redis 7.0 does:
// a long double (so 1e4000 is a number and 1e5000 is not), made milliseconds
// rounded up and then a long long. 0, and a negative value that rounds up to
// 0, wait for ever.
func parseTimeout(b []byte) (time.Duration, string) {
	ld, ok := parseLongDouble(b)
	if !ok {
		return 0, "ERR timeout is not a float or out of range"
	}
	// The milliseconds, rounded up, in the long double's precision.
	x := new(big.Float).SetPrec(longDouble).Mul(ld, big.NewFloat(1000))
	if x.IsInf() {
		return 0, "ERR timeout is negative" // the long long conversion of ±inf
	}
	ms, acc := x.Int(nil) // towards zero: a ceiling below zero
	if acc == big.Below {
		ms.Add(ms, big.NewInt(1))
	}
	// A value past the long long's range converts to its least value: Redis
	// answers that the timeout is negative.
	if ms.Sign() < 0 || !ms.IsInt64() {
		return 0, "ERR timeout is negative"
	}
	if ms.Int64() > math.MaxInt64/int64(time.Millisecond) {
		return 0, "" // longer than a Duration holds: wait for ever, as 0 does
	}
	return time.Duration(ms.Int64()) * time.Millisecond, ""
}

// cmdBPop is BLPOP and BRPOP.
func cmdBPop(c *client, args [][]byte) {
	left := toLower(args[0][1]) == 'l'
	keys, timeout, ok := c.blockingArgs(args)
	if !ok {
		return
	}
	for _, k := range keys {
		l, e, wrong := c.listOf(k, false)
		if wrong {
			return
		}
		if l != nil {
			c.logInstead([]byte(map[bool]string{true: "LPOP", false: "RPOP"}[left]), k)
			c.w.Array(2)
			c.w.Bulk(k)
			c.w.Bulk(c.pop(k, l, left))
			c.touched(k, e)
			return
		}
	}
	if c.inExec {
		c.w.NullArray()
		return
	}
	c.block(&waiter{keys: copyArgs(keys), left: left}, timeout)
}

func cmdBLMove(c *client, args [][]byte) {
	fromLeft, ok1 := parseSide(args[3])
	toLeft, ok2 := parseSide(args[4])
	if !ok1 || !ok2 {
		c.w.Error(errSyntax)
		return
	}
	timeout, msg := parseTimeout(args[5])
	if msg != "" {
		c.w.Error(msg)
		return
	}
	v, ok, wrong := c.move(args[1], args[2], fromLeft, toLeft)
	switch {
	case wrong:
		return
	case ok:
		c.logInstead([]byte("LMOVE"), args[1], args[2], args[3], args[4])
		c.w.Bulk(v)
		return
	case c.inExec:
		c.w.Null()
		return
	}
	c.block(&waiter{keys: copyArgs(args[1:2]), left: fromLeft, dest: append([]byte(nil), args[2]...), toLeft: toLeft}, timeout)
}

// block registers w on its keys; the wait itself happens in waitBlocked once
// the command's locks are released.
func (c *client) block(w *waiter, timeout time.Duration) {
	w.c, w.db = c, c.db
	w.got = make(chan [2][]byte, 1)
	for _, k := range w.keys {
		sh := c.shard(k)
		m := sh.bw[c.db]
		if m == nil {
			m = make(map[string][]*waiter)
			sh.bw[c.db] = m
		}
		m[string(k)] = append(m[string(k)], w)
	}
	c.blocked, c.blockTimeout = w, timeout
}

// serveBlocked hands elements of the list or sorted set at key to the clients
// blocked on it for that type, first come first served. The key's shard is
// locked.
func (c *client) serveBlocked(key []byte, e *entry) {
	sh := c.shard(key)
	m := sh.bw[c.db]
	if len(m) == 0 {
		return
	}
	queue := m[string(key)]
	kept := queue[:0:0]
	size := func() int {
		if e.kind == kZSet {
			return e.obj.(*zset).len()
		}
		return e.obj.(*list).len()
	}
	for i, w := range queue {
		if size() == 0 {
			kept = append(kept, queue[i:]...)
			break
		}
		if w.zset != (e.kind == kZSet) {
			kept = append(kept, w) // waits for the other type
			continue
		}
		if !w.claimed.CompareAndSwap(false, true) {
			continue // timed out or gone
		}
		var v []byte
		if e.kind == kZSet {
			x := c.zpopOne(key, e.obj.(*zset), !w.left)
			v, w.score = []byte(x.member), x.score
			c.logExtra(map[bool]string{true: "ZPOPMIN", false: "ZPOPMAX"}[w.left], key)
		} else {
			v = c.pop(key, e.obj.(*list), w.left)
			c.logExtra(map[bool]string{true: "LPOP", false: "RPOP"}[w.left], key)
		}
		w.got <- [2][]byte{append([]byte(nil), key...), v}
	}
	if len(kept) == 0 {
		delete(m, string(key))
	} else {
		m[string(key)] = kept
	}
	if size() > 0 {
		c.touched(key, e)
	}
}

// logExtra adds a record to log after the running command: the pop of an
// element handed to a blocked client.
func (c *client) logExtra(name string, key []byte) {
	if c.s.aof.Load() != nil {
		c.aofExtra = append(c.aofExtra, [][]byte{[]byte(name), append([]byte(nil), key...)})
	}
}

// waitBlocked waits for the element, the timeout, or the end of the client, and
// writes the reply. No lock is held.
func (c *client) waitBlocked() {
	w, timeout := c.blocked, c.blockTimeout
	c.blocked = nil
	defer func() { c.staleNow = true }() // time passed while waiting
	c.s.blocked.Add(1)
	defer c.s.blocked.Add(-1)
	c.flush()
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	gone, stopWatch := c.watchConn()
	var got [2][]byte
	ok := false
	select {
	case got = <-w.got:
		ok = true
	case <-expire:
	case <-gone:
	case <-c.quit:
	case <-c.s.done:
	}
	stopWatch()
	if !ok && !w.claimed.CompareAndSwap(false, true) {
		got, ok = <-w.got, true // a pusher claimed it just now: take it
	}
	c.unblock(w)
	if !ok {
		c.w.NullArray() // for BLMOVE too: Redis answers every list wait that times out so
		return
	}
	if w.dest != nil {
		// BLMOVE: put the element where it goes, under the destination's lock.
		sh := c.shard(w.dest)
		sh.mu.Lock()
		c.beforeWriteShard(w.dest)
		c.now = time.Now().UnixMilli()
		if e := c.get(w.dest); e != nil && e.kind != kList {
			// The destination changed type meanwhile: return the element.
			sh.mu.Unlock()
			src := c.shard(got[0])
			src.mu.Lock()
			c.beforeWriteShard(got[0])
			c.pushTo(got[0], got[1], w.left)
			c.logPush(got[0], got[1], w.left) // the pop was logged
			src.mu.Unlock()
			c.w.Error(errWrongType)
			return
		}
		c.pushTo(w.dest, got[1], w.toLeft)
		c.logPush(w.dest, got[1], w.toLeft)
		sh.mu.Unlock()
		c.w.Bulk(got[1])
		return
	}
	if w.zset {
		c.w.Array(3)
		c.w.Bulk(got[0])
		c.w.Bulk(got[1])
		c.w.Double(w.score)
		return
	}
	c.w.Array(2)
	c.w.Bulk(got[0])
	c.w.Bulk(got[1])
}

// logPush appends the push of v onto key to the append-only file; key's shard is locked.
func (c *client) logPush(key, v []byte, left bool) {
	if c.s.aof.Load() != nil {
		push := map[bool]string{true: "LPUSH", false: "RPUSH"}[left]
		c.aofEnd = c.s.aof.Load().appendCmds(c.db, [][][]byte{{[]byte(push), key, v}})
	}
}

// watchConn reads the connection while the client is blocked, so that a client
// that leaves is noticed at once and its waiter withdrawn before an element is
// handed to it. What the client sends meanwhile stays buffered for later. stop
// interrupts the read and waits for the watcher.
func (c *client) watchConn() (gone <-chan struct{}, stop func()) {
	g := make(chan struct{})
	if c.conn == nil {
		return g, func() {}
	}
	c.conn.SetReadDeadline(time.Time{}) // blocked clients do not time out
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			err := c.r.Fill()
			if err == nil {
				continue
			}
			if t, ok := err.(interface{ Timeout() bool }); !ok || !t.Timeout() {
				close(g) // the client left (or sent more than a query buffer)
			}
			return
		}
	}()
	return g, func() {
		c.conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		c.conn.SetReadDeadline(time.Time{})
	}
}

// unblock removes w from the queues of its keys.
func (c *client) unblock(w *waiter) {
	for _, k := range w.keys {
		sh := c.shard(k)
		sh.mu.Lock()
		if m := sh.bw[w.db]; m != nil {
			q := m[string(k)]
			for i, x := range q {
				if x == w {
					q = append(q[:i:i], q[i+1:]...)
					break
				}
			}
			if len(q) == 0 {
				delete(m, string(k))
			} else {
				m[string(k)] = q
			}
		}
		sh.mu.Unlock()
	}
}

// cmdLPos is LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
func cmdLPos(c *client, args [][]byte) {
	rank, count, maxLen := int64(1), int64(-1), int64(0)
	for i := 3; i < len(args); i++ {
		opt, more := string(args[i]), i+1 < len(args)
		var ok bool
		switch {
		case eqFold(opt, "rank") && more:
			i++
			if rank, ok = parseInt(args[i]); !ok {
				c.w.Error(errNotInt)
				return
			}
			if rank == 0 {
				c.w.Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
		case eqFold(opt, "count") && more:
			i++
			if count, ok = c.atLeast(args[i], 0, "COUNT can't be negative"); !ok {
				return
			}
		case eqFold(opt, "maxlen") && more:
			i++
			if maxLen, ok = c.atLeast(args[i], 0, "MAXLEN can't be negative"); !ok {
				return
			}
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	fromTail := rank < 0
	if fromTail {
		rank = -rank // the least int64 stays negative, as in Redis: its first match answers
	}
	l, _, wrong := c.listOf(args[1], false)
	if wrong {
		return
	}
	var found []int64
	if l != nil {
		start := 0
		if fromTail {
			start = l.len() - 1
		}
		matches, k := int64(0), int64(0)
		for i, v := range l.each(start, fromTail) {
			if k++; maxLen != 0 && k > maxLen {
				break
			}
			if string(v) != string(args[2]) {
				continue
			}
			if matches++; matches >= rank {
				found = append(found, int64(i))
				if count < 0 || (count > 0 && int64(len(found)) >= count) {
					break // the first match, or COUNT of them (0: all)
				}
			}
		}
	}
	if count < 0 {
		if len(found) == 0 {
			c.w.Null()
		} else {
			c.w.Int(found[0])
		}
		return
	}
	c.w.Array(len(found))
	for _, i := range found {
		c.w.Int(i)
	}
}

// cmdLMPop is LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: it pops from
// the first non-empty list.
func cmdLMPop(c *client, args [][]byte) {
	keys, rest, ok := c.numKeys(args[1], args[2:], errSyntax)
	if !ok {
		return
	}
	if len(rest) == 0 {
		c.w.Error(errSyntax)
		return
	}
	var left bool
	switch {
	case eqFold(string(rest[0]), "left"):
		left = true
	case eqFold(string(rest[0]), "right"):
	default:
		c.w.Error(errSyntax)
		return
	}
	count := int64(-1)
	for i := 1; i < len(rest); i++ {
		if count == -1 && eqFold(string(rest[i]), "count") && i+1 < len(rest) {
			i++
			if count, ok = c.atLeast(rest[i], 1, "count should be greater than 0"); !ok {
				return
			}
			continue
		}
		c.w.Error(errSyntax)
		return
	}
	count = max(count, 1)
	for _, k := range keys {
		l, e, wrong := c.listOf(k, false)
		if wrong {
			return
		}
		if l == nil {
			continue
		}
		n := int(min(count, int64(l.len())))
		c.w.Array(2)
		c.w.Bulk(k)
		c.w.Array(n)
		for range n {
			c.w.Bulk(c.pop(k, l, left))
		}
		if l.len() > 0 {
			c.touched(k, e)
		}
		return
	}
	c.w.NullArray()
}
