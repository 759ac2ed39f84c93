package cache

import (
	"math"
	"math/big"
	"strconv"
)

const maxStringSize = 512 << 20 // proto-max-bulk-len

func cmdGet(c *client, args [][]byte) {
	e := c.read(args[1])
	switch {
	case e == nil:
		c.w.Null()
	case e.kind != kString:
		c.w.Error(errWrongType)
	default:
		c.w.Bulk(e.str)
	}
}

// setString sets key to a copy of val, reusing the key's entry and buffer when it
// already holds a string: the common SET of a hot key allocates nothing.
func (c *client) setString(key, val []byte, exp int64, keepTTL bool) {
	sh := c.shard(key)
	if e := c.getIn(sh, key); e != nil && e.kind == kString {
		if cap(e.str) >= len(val) && cap(e.str) <= 2*len(val)+16 {
			e.str = append(e.str[:0], val...)
		} else {
			e.str = append([]byte(nil), val...)
		}
		if !keepTTL && e.exp != exp {
			sh.setExpire(c.db, string(key), e, exp)
		}
		sh.resize(key, e)
		sh.touchWatched(c.db, string(key))
		c.dirty++
		return
	} else if e != nil && keepTTL {
		exp = e.exp
	}
	c.putString(key, val, exp)
}

const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setEX
	setPX
	setEXAT
	setPXAT
)

func cmdSet(c *client, args [][]byte) {
	flags := 0
	var expArg []byte
	for i := 3; i < len(args); i++ {
		opt := string(args[i])
		next := i+1 < len(args)
		switch {
		case eqFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case eqFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case eqFold(opt, "get"):
			flags |= setGet
		case eqFold(opt, "keepttl") && flags&(setEX|setPX|setEXAT|setPXAT) == 0:
			flags |= setKeepTTL
		case eqFold(opt, "ex") && next && flags&(setKeepTTL|setPX|setEXAT|setPXAT) == 0:
			flags |= setEX
			i++
			expArg = args[i]
		case eqFold(opt, "px") && next && flags&(setKeepTTL|setEX|setEXAT|setPXAT) == 0:
			flags |= setPX
			i++
			expArg = args[i]
		case eqFold(opt, "exat") && next && flags&(setKeepTTL|setEX|setPX|setPXAT) == 0:
			flags |= setEXAT
			i++
			expArg = args[i]
		case eqFold(opt, "pxat") && next && flags&(setKeepTTL|setEX|setPX|setEXAT) == 0:
			flags |= setPXAT
			i++
			expArg = args[i]
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	var exp int64
	if expArg != nil {
		var ok bool
		exp, ok = c.expireAt(expArg, flags&(setEX|setEXAT) != 0, flags&(setEX|setPX) != 0, "set")
		if !ok {
			return
		}
	}
	key := args[1]
	if flags&(setNX|setXX|setGet) == 0 && exp == 0 {
		c.setString(key, args[2], 0, flags&setKeepTTL != 0) // the common case: one lookup
		c.w.OK()
		return
	}
	e := c.get(key)
	if flags&setGet != 0 && e != nil && e.kind != kString {
		c.w.Error(errWrongType)
		return
	}
	if flags&setGet != 0 {
		if e == nil {
			c.w.Null()
		} else {
			c.w.Bulk(e.str) // written before the value changes
		}
	}
	if (flags&setNX != 0 && e != nil) || (flags&setXX != 0 && e == nil) {
		if flags&setGet == 0 {
			c.w.Null()
		}
		return
	}
	if exp != 0 && exp <= c.now {
		c.del(key) // already expired: Redis sets and deletes at once
	} else {
		c.setString(key, args[2], exp, flags&setKeepTTL != 0)
	}
	if flags&setGet == 0 {
		c.w.OK()
	}
}

// expireAt turns an expire argument into an absolute Unix ms time, replying with
// Redis's error when it is not a positive integer or overflows.
func (c *client) expireAt(arg []byte, seconds, relative bool, cmd string) (int64, bool) {
	n, ok := parseInt(arg)
	if !ok {
		c.w.Error(errNotInt)
		return 0, false
	}
	if n <= 0 || (seconds && n > math.MaxInt64/1000) {
		c.w.Error("ERR invalid expire time in '" + cmd + "' command")
		return 0, false
	}
	if seconds {
		n *= 1000
	}
	if relative {
		if n > math.MaxInt64-c.now {
			c.w.Error("ERR invalid expire time in '" + cmd + "' command")
			return 0, false
		}
		n += c.now
	}
	return n, true
}

func eqFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if toLower(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

func cmdSetNX(c *client, args [][]byte) {
	if c.get(args[1]) != nil {
		c.w.Int(0)
		return
	}
	c.setString(args[1], args[2], 0, false)
	c.w.Int(1)
}

func cmdSetEX(c *client, args [][]byte) {
	seconds := eqFold(string(args[0]), "setex")
	name := "psetex"
	if seconds {
		name = "setex"
	}
	exp, ok := c.expireAt(args[2], seconds, true, name)
	if !ok {
		return
	}
	c.setString(args[1], args[3], exp, false)
	c.w.OK()
}

func cmdGetSet(c *client, args [][]byte) {
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.w.Null()
	} else {
		c.w.Bulk(e.str)
	}
	c.setString(args[1], args[2], 0, false)
}

func cmdGetDel(c *client, args [][]byte) {
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.w.Null()
		return
	}
	c.w.Bulk(e.str)
	c.del(args[1])
}

// cmdGetEx checks in Redis's order: the options' syntax, then the key (a missing
// key answers null whatever the expiry says), its type, and last the expiry's value.
func cmdGetEx(c *client, args [][]byte) {
	var expArg []byte
	seconds, relative, persist := false, false, false
	given := "" // the expiry option given, lower case: it may repeat but not mix
	for i := 2; i < len(args); i++ {
		opt := lowerString(args[i])
		if opt == "persist" && given == "" {
			persist = true
			continue
		}
		sec, rel := opt == "ex" || opt == "exat", opt == "ex" || opt == "px"
		if !(sec || rel || opt == "pxat") || i+1 >= len(args) || (given != "" && given != opt) || persist {
			c.w.Error(errSyntax)
			return
		}
		i++
		expArg, seconds, relative, given = args[i], sec, rel, opt
	}
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.w.Null()
		return
	}
	var exp int64
	if expArg != nil {
		var ok bool
		if exp, ok = c.expireAt(expArg, seconds, relative, "getex"); !ok {
			return
		}
	}
	c.w.Bulk(e.str)
	switch {
	case exp != 0 && exp <= c.now:
		c.del(args[1])
	case exp != 0:
		c.setExpire(args[1], e, exp)
	case persist:
		c.setExpire(args[1], e, 0)
	}
}

func cmdMGet(c *client, args [][]byte) {
	c.w.Array(len(args) - 1)
	for _, k := range args[1:] {
		if e := c.read(k); e != nil && e.kind == kString {
			c.w.Bulk(e.str)
		} else {
			c.w.Null()
		}
	}
}

func cmdMSet(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.w.Error("ERR wrong number of arguments for '" + lowerString(args[0]) + "' command")
		return
	}
	if eqFold(string(args[0]), "msetnx") {
		for i := 1; i < len(args); i += 2 {
			if c.get(args[i]) != nil {
				c.w.Int(0)
				return
			}
		}
		defer c.w.Int(1)
	} else {
		defer c.w.OK()
	}
	for i := 1; i < len(args); i += 2 {
		c.setString(args[i], args[i+1], 0, false)
	}
}

func lowerString(b []byte) string {
	out := []byte(string(b))
	lowerASCII(out)
	return string(out)
}

// incrBy adds delta to the integer at key.
func (c *client) incrBy(key []byte, delta int64) {
	e, wrong := c.getKind(key, kString)
	if wrong {
		return
	}
	var cur int64
	if e != nil {
		var ok bool
		if cur, ok = parseInt(e.str); !ok {
			c.w.Error(errNotInt)
			return
		}
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) || (delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		c.w.Error(errOverflow)
		return
	}
	cur += delta
	if e != nil {
		e.str = strconv.AppendInt(e.str[:0], cur, 10)
		c.touched(key, e)
	} else {
		c.put(key, &entry{kind: kString, str: strconv.AppendInt(make([]byte, 0, 20), cur, 10)})
	}
	c.w.Int(cur)
}

func cmdIncr(c *client, args [][]byte) { c.incrBy(args[1], 1) }
func cmdDecr(c *client, args [][]byte) { c.incrBy(args[1], -1) }

func cmdIncrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	c.incrBy(args[1], n)
}

func cmdDecrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	if n == math.MinInt64 {
		c.w.Error("ERR decrement would overflow")
		return
	}
	c.incrBy(args[1], -n)
}

func cmdIncrByFloat(c *client, args [][]byte) {
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	cur := new(big.Float).SetPrec(longDouble)
	if e != nil {
		v, ok := parseLongDouble(e.str)
		if !ok {
			c.w.Error(errNotFloat)
			return
		}
		cur = v
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		c.w.Error(errNotFloat)
		return
	}
	if !addLongDouble(cur, incr) {
		c.w.Error("ERR increment would produce NaN or Infinity")
		return
	}
	s := formatLongDouble(cur)
	if e != nil {
		e.str = append(e.str[:0], s...)
		c.touched(args[1], e)
	} else {
		c.put(args[1], &entry{kind: kString, str: []byte(s)})
	}
	c.w.BulkString(s)
}

func cmdAppend(c *client, args [][]byte) {
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.setString(args[1], args[2], 0, false)
		c.w.Int(int64(len(args[2])))
		return
	}
	if len(e.str)+len(args[2]) > maxStringSize {
		c.w.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
		return
	}
	e.str = append(e.str, args[2]...)
	c.touched(args[1], e)
	c.w.Int(int64(len(e.str)))
}

func cmdStrlen(c *client, args [][]byte) {
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(len(e.str)))
}

func cmdGetRange(c *client, args [][]byte) {
	start, end, ok := c.intPair(args[2], args[3])
	if !ok {
		return
	}
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if e == nil {
		c.w.BulkString("")
		return
	}
	n := int64(len(e.str))
	if start < 0 && end < 0 && start > end {
		c.w.BulkString("")
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		c.w.BulkString("")
		return
	}
	c.w.Bulk(e.str[start : end+1])
}

func cmdSetRange(c *client, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	if off < 0 {
		c.w.Error("ERR offset is out of range")
		return
	}
	val := args[3]
	e, wrong := c.getKind(args[1], kString)
	if wrong {
		return
	}
	if len(val) > 0 && off > maxStringSize-int64(len(val)) { // no overflow for huge offsets
		c.w.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
		return
	}
	if e == nil {
		if len(val) == 0 {
			c.w.Int(0)
			return
		}
		e = c.put(args[1], &entry{kind: kString})
	}
	if len(val) > 0 {
		need := int(off) + len(val)
		if need > len(e.str) {
			e.str = append(e.str, make([]byte, need-len(e.str))...)
		}
		copy(e.str[off:], val)
		c.touched(args[1], e)
	}
	c.w.Int(int64(len(e.str)))
}
