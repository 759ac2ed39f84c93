package cache

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

func cmdDel(c *client, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.del(k) {
			n++
		}
	}
	c.w.Int(n)
}

func cmdExists(c *client, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.get(k) != nil {
			n++
		}
	}
	c.w.Int(n)
}

const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

// cmdExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
func cmdExpire(c *client, args [][]byte) {
	name := c.cmd.name
	seconds := name == "expire" || name == "expireat"
	relative := name == "expire" || name == "pexpire"
	flags := 0
	for _, a := range args[3:] {
		switch opt := string(a); {
		case eqFold(opt, "nx"):
			flags |= expNX
		case eqFold(opt, "xx"):
			flags |= expXX
		case eqFold(opt, "gt"):
			flags |= expGT
		case eqFold(opt, "lt"):
			flags |= expLT
		default:
			c.w.Error("ERR Unsupported option " + opt)
			return
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		c.w.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		c.w.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	badTime := "ERR invalid expire time in '" + name + "' command"
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.w.Error(badTime)
			return
		}
		when *= 1000
	}
	if relative {
		if when > math.MaxInt64-c.now {
			c.w.Error(badTime)
			return
		}
		when += c.now
	}
	e := c.get(args[1])
	if e == nil {
		c.w.Int(0)
		return
	}
	cur := e.exp
	switch {
	case flags&expNX != 0 && cur != 0,
		flags&expXX != 0 && cur == 0,
		flags&expGT != 0 && (cur == 0 || when <= cur),
		flags&expLT != 0 && cur != 0 && when >= cur:
		c.w.Int(0)
		return
	}
	if when <= c.now {
		c.del(args[1])
	} else {
		c.setExpire(args[1], e, when)
		c.shard(args[1]).touchWatched(c.db, string(args[1]))
	}
	c.w.Int(1)
}

// cmdTTL is TTL, PTTL, EXPIRETIME and PEXPIRETIME.
func cmdTTL(c *client, args [][]byte) {
	e := c.read(args[1])
	switch {
	case e == nil:
		c.w.Int(-2)
		return
	case e.exp == 0:
		c.w.Int(-1)
		return
	}
	switch c.cmd.name {
	case "ttl":
		c.w.Int((e.exp - c.now + 500) / 1000)
	case "pttl":
		c.w.Int(e.exp - c.now)
	case "expiretime":
		c.w.Int(e.exp / 1000)
	default:
		c.w.Int(e.exp)
	}
}

func cmdPersist(c *client, args [][]byte) {
	e := c.get(args[1])
	if e == nil || e.exp == 0 {
		c.w.Int(0)
		return
	}
	c.setExpire(args[1], e, 0)
	c.shard(args[1]).touchWatched(c.db, string(args[1]))
	c.w.Int(1)
}

func cmdType(c *client, args [][]byte) {
	e := c.get(args[1])
	if e == nil {
		c.w.Status("none")
		return
	}
	c.w.Status(e.kind.String())
}

func cmdTouch(c *client, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.get(k) != nil {
			n++
		}
	}
	c.w.Int(n)
}

// cmdKeys lists the matching keys; every shard is locked.
func cmdKeys(c *client, args [][]byte) {
	var keys []string
	all := string(args[1]) == "*"
	for i := range c.s.ks.shards {
		for k, e := range c.s.ks.shards[i].dbs[c.db].all() {
			if e.exp != 0 && e.exp <= c.now {
				continue
			}
			if all || globMatch(args[1], []byte(k), false) {
				keys = append(keys, k)
			}
		}
	}
	c.w.Array(len(keys))
	for _, k := range keys {
		c.w.BulkString(k)
	}
}

// cmdScan walks the keyspace shard by shard. The cursor is the shard in the high
// bits and, in the low 32, the least key hash not yet returned in that shard: keys
// are returned in hash order, so a key present from the first call to the last is
// returned whatever is added or removed meanwhile, as Redis promises.
func cmdScan(c *client, args [][]byte) {
	cursor, ok := parseCursor(c, args[1])
	if !ok {
		return
	}
	count, pattern, typ, ok := c.scanOptions(args[2:], true)
	if !ok {
		return
	}
	shardIdx, from := int(cursor>>32), uint32(cursor)
	if shardIdx >= nShards {
		c.w.Array(2)
		c.w.BulkString("0")
		c.w.Array(0)
		return
	}
	type hk struct {
		h uint32
		k string
	}
	var batch []hk
	var next uint64
	for ; shardIdx < nShards; shardIdx, from = shardIdx+1, 0 {
		sh := &c.s.ks.shards[shardIdx]
		batch = batch[:0]
		for k := range sh.dbs[c.db].all() {
			if h := c.s.ks.scanHash(k); h >= from {
				batch = append(batch, hk{h, k})
			}
		}
		if len(batch) == 0 {
			continue
		}
		sort.Slice(batch, func(i, j int) bool { return batch[i].h < batch[j].h })
		// Take at least count keys, a sixteenth of the shard, and every key
		// that shares the last one's hash.
		n := max(count, sh.dbs[c.db].len()/16)
		if n < len(batch) {
			for n < len(batch) && batch[n].h == batch[n-1].h {
				n++
			}
		}
		if n < len(batch) {
			next = uint64(shardIdx)<<32 | uint64(batch[n].h)
			batch = batch[:n]
		} else if shardIdx+1 < nShards {
			next = uint64(shardIdx+1) << 32
		}
		break
	}
	var keys []string
	for _, b := range batch {
		e := c.get([]byte(b.k))
		if e == nil || (pattern != nil && !globMatch(pattern, []byte(b.k), false)) || (typ != "" && e.kind.String() != typ) {
			continue
		}
		keys = append(keys, b.k)
	}
	c.w.Array(2)
	c.w.BulkString(strconv.FormatUint(next, 10))
	c.w.Array(len(keys))
	for _, k := range keys {
		c.w.BulkString(k)
	}
}

// scanHash orders keys within a shard for SCAN; it must not change while the
// server runs, and it differs from the shard hash so that a shard's keys spread
// over the whole range.
func (ks *keyspace) scanHash(k string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h ^= uint32(k[i])
		h *= 16777619
	}
	return h
}

// scanOptions parses [MATCH pattern] [COUNT n] (and [TYPE t] for SCAN).
func (c *client) scanOptions(args [][]byte, withType bool) (count int, pattern []byte, typ string, ok bool) {
	count = 10
	for i := 0; i < len(args); i += 2 {
		opt := string(args[i])
		if i+1 >= len(args) {
			c.w.Error(errSyntax)
			return
		}
		switch {
		case eqFold(opt, "count"):
			n, ok := parseInt(args[i+1])
			if !ok {
				c.w.Error(errNotInt)
				return 0, nil, "", false
			}
			if n < 1 {
				c.w.Error(errSyntax)
				return 0, nil, "", false
			}
			count = int(min(n, 1<<20))
		case eqFold(opt, "match"):
			pattern = args[i+1]
			if string(pattern) == "*" {
				pattern = nil
			}
		case withType && eqFold(opt, "type"):
			typ = lowerString(args[i+1])
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	return count, pattern, typ, true
}

func cmdRandomKey(c *client, args [][]byte) {
	start := rand.IntN(nShards)
	for i := range nShards {
		sh := &c.s.ks.shards[(start+i)%nShards]
		for e := range sh.dbs[c.db].from(rand.Uint64()) {
			if k := e.key(); c.get([]byte(k)) != nil {
				c.w.BulkString(k)
				return
			}
		}
	}
	c.w.Null()
}

func cmdRename(c *client, args [][]byte) {
	nx := eqFold(string(args[0]), "renamenx")
	src, dst := args[1], args[2]
	e := c.get(src)
	if e == nil {
		c.w.Error(errNoSuchKey)
		return
	}
	if string(src) == string(dst) {
		if nx {
			c.w.Int(0)
		} else {
			c.w.OK()
		}
		return
	}
	if nx && c.get(dst) != nil {
		c.w.Int(0)
		return
	}
	exp := e.exp
	c.del(src)
	e.exp = 0
	e = c.put(dst, e)
	c.setExpire(dst, e, exp)
	if nx {
		c.w.Int(1)
	} else {
		c.w.OK()
	}
}

func cmdCopy(c *client, args [][]byte) {
	db, replace := c.db, false
	for i := 3; i < len(args); i++ {
		switch opt := string(args[i]); {
		case eqFold(opt, "replace"):
			replace = true
		case eqFold(opt, "db") && i+1 < len(args):
			i++
			var ok bool
			if db, ok = c.dbIndex(args[i]); !ok {
				return
			}
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	src, dst := args[1], args[2]
	if db == c.db && string(src) == string(dst) {
		c.w.Error("ERR source and destination objects are the same")
		return
	}
	e := c.get(src)
	if e == nil {
		c.w.Int(0)
		return
	}
	home := c.db
	c.db = db
	defer func() { c.db = home }()
	if c.get(dst) != nil && !replace {
		c.w.Int(0)
		return
	}
	cp := e.clone()
	exp := cp.exp
	cp.exp = 0
	cp = c.put(dst, cp)
	c.setExpire(dst, cp, exp)
	c.w.Int(1)
}

func cmdMove(c *client, args [][]byte) {
	n, ok := c.dbIndex(args[2])
	if !ok {
		return
	}
	if int(n) == c.db {
		c.w.Error("ERR source and destination objects are the same")
		return
	}
	e := c.get(args[1])
	if e == nil {
		c.w.Int(0)
		return
	}
	home := c.db
	c.db = int(n)
	if c.get(args[1]) != nil {
		c.db = home
		c.w.Int(0)
		return
	}
	c.db = home
	c.del(args[1])
	c.db = int(n)
	exp := e.exp
	e.exp = 0
	e = c.put(args[1], e)
	c.setExpire(args[1], e, exp)
	c.db = home
	c.w.Int(1)
}

// cmdObject looks at a key without counting an access, as Redis's OBJECT does
// (LOOKUP_NOTOUCH): OBJECT IDLETIME must not reset the idle time it reports.
func cmdObject(c *client, args [][]byte) {
	e := c.peek(args[2])
	if e == nil {
		c.w.Null()
		return
	}
	switch lowerString(args[1]) {
	case "encoding":
		c.w.BulkString(e.encoding())
	case "freq":
		if !c.s.lfuPolicy() {
			c.w.Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
			return
		}
		c.w.Int(int64(e.freq))
	case "idletime":
		if c.s.lfuPolicy() {
			c.w.Error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
			return
		}
		c.w.Int(int64(lruClock(c.now) - e.access))
	case "refcount":
		// Redis shares the objects of the integers 0-9999 (refcount INT_MAX),
		// unless maxmemory is set with an LRU or LFU policy, which needs an
		// object per key.
		n := int64(1)
		if e.kind == kString && e.encoding() == "int" {
			cfg := c.s.config()
			v, _ := parseInt(e.str)
			if v >= 0 && v < 10000 && (cfg.MaxMemory == 0 || !(strings.HasSuffix(cfg.MaxMemoryPolicy, "lru") || strings.HasSuffix(cfg.MaxMemoryPolicy, "lfu"))) {
				n = math.MaxInt32
			}
		}
		c.w.Int(n)
	}
}

// encoding is the name Redis 7.0 would give e's representation.
// peek returns key's live entry, if any, leaving its LRU clock and LFU counter as
// they are.
func (c *client) peek(key []byte) *entry {
	e := c.shard(key).dbs[c.db].get(key)
	if e == nil || (e.exp != 0 && e.exp <= c.now) {
		return nil
	}
	return e
}

func (e *entry) encoding() string {
	switch e.kind {
	case kString:
		if len(e.str) <= 20 {
			if _, ok := parseInt(e.str); ok {
				return "int"
			}
		}
		if len(e.str) <= 44 {
			return "embstr"
		}
		return "raw"
	case kList:
		return "quicklist"
	case kHash:
		return e.obj.(*hash).encoding()
	case kSet:
		return e.obj.(*set).encoding()
	default:
		return zsetEncoding(e.obj.(*zset))
	}
}

// zsetEncoding names a sorted set as Redis 7.0 would, from its size: a listpack
// while it has at most zset-max-listpack-entries members, none longer than
// zset-max-listpack-value bytes. (Redis never converts back: a set that shrank
// below the limits is still a skiplist there; a listed difference.)
func zsetEncoding(z *zset) string {
	// zset.encoding counts members and their average length: past either
	// limit some member is too long, or there are too many.
	if z.encoding() == "skiplist" {
		return "skiplist"
	}
	for x := z.head.level[0].next; x != nil; x = x.level[0].next {
		if len(x.member) > zsetMaxListpackValue {
			return "skiplist"
		}
	}
	return "listpack"
}

func (e *entry) clone() *entry {
	cp := *e
	cp.str = append([]byte(nil), e.str...)
	if cl, ok := e.obj.(interface{ clone() any }); ok {
		cp.obj = cl.clone()
	}
	return &cp
}

func cmdDBSize(c *client, args [][]byte) {
	var n int64
	for i := range c.s.ks.shards {
		n += int64(c.s.ks.shards[i].dbs[c.db].len())
	}
	c.w.Int(n)
}

func cmdFlushDB(c *client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(string(args[1]), "async") && !eqFold(string(args[1]), "sync")) {
		c.w.Error(errSyntax)
		return
	}
	all := eqFold(string(args[0]), "flushall")
	c.dirty++
	for i := range c.s.ks.shards {
		sh := &c.s.ks.shards[i]
		for db := range sh.dbs {
			if !all && db != c.db {
				continue
			}
			for k, e := range sh.dbs[db].all() {
				c.s.ks.remove(sh, db, k, e)
				sh.touchWatched(db, k)
			}
		}
	}
	c.w.OK()
}
