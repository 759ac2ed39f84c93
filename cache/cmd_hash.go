package cache

import (
	"math"
	"strconv"
)

func (c *client) hashOf(key []byte, create bool) (h *hash, e *entry, wrong bool) {
	return valueOf(c, key, kHash, create, newHash)
}

// cmdHSet is HSET and HMSET.
func cmdHSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for '" + lowerString(args[0]) + "' command")
		return
	}
	h, e, wrong := c.hashOf(args[1], true)
	if wrong {
		return
	}
	var added int64
	for i := 2; i < len(args); i += 2 {
		if h.set(args[i], args[i+1]) {
			added++
		}
	}
	c.touched(args[1], e)
	if eqFold(string(args[0]), "hmset") {
		c.w.OK()
		return
	}
	c.w.Int(added)
}

func cmdHSetNX(c *client, args [][]byte) {
	h, e, wrong := c.hashOf(args[1], true)
	if wrong {
		return
	}
	if _, ok := h.get(args[2]); ok {
		c.w.Int(0)
		return
	}
	h.set(args[2], args[3])
	c.touched(args[1], e)
	c.w.Int(1)
}

func cmdHGet(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	if h != nil {
		if v, ok := h.get(args[2]); ok {
			c.w.Bulk(v)
			return
		}
	}
	c.w.Null()
}

func cmdHMGet(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	c.w.Array(len(args) - 2)
	for _, f := range args[2:] {
		if h != nil {
			if v, ok := h.get(f); ok {
				c.w.Bulk(v)
				continue
			}
		}
		c.w.Null()
	}
}

func cmdHDel(c *client, args [][]byte) {
	h, e, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	var n int64
	if h != nil {
		for _, f := range args[2:] {
			if h.del(f) {
				n++
			}
		}
		if h.len() == 0 {
			c.del(args[1])
		} else if n > 0 {
			c.touched(args[1], e)
		}
	}
	c.w.Int(n)
}

func cmdHExists(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	if h != nil {
		if _, ok := h.get(args[2]); ok {
			c.w.Int(1)
			return
		}
	}
	c.w.Int(0)
}

func cmdHLen(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	if h == nil {
		c.w.Int(0)
		return
	}
	c.w.Int(int64(h.len()))
}

func cmdHStrlen(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	if h != nil {
		if v, ok := h.get(args[2]); ok {
			c.w.Int(int64(len(v)))
			return
		}
	}
	c.w.Int(0)
}

// cmdHGetAll is HGETALL, HKEYS and HVALS.
func cmdHGetAll(c *client, args [][]byte) {
	h, _, wrong := c.hashOf(args[1], false)
	if wrong {
		return
	}
	name := c.cmd.name
	if h == nil {
		if name == "hgetall" {
			c.w.Map(0)
		} else {
			c.w.Array(0)
		}
		return
	}
	switch name {
	case "hgetall":
		c.w.Map(h.len())
	default:
		c.w.Array(h.len())
	}
	h.each(func(f string, v []byte) {
		if name != "hvals" {
			c.w.BulkString(f)
		}
		if name != "hkeys" {
			c.w.Bulk(v)
		}
	})
}

func cmdHIncrBy(c *client, args [][]byte) {
	delta, ok := parseInt(args[3])
	if !ok {
		c.w.Error(errNotInt)
		return
	}
	h, e, wrong := c.hashOf(args[1], true)
	if wrong {
		return
	}
	var cur int64
	if v, ok := h.get(args[2]); ok {
		if cur, ok = parseInt(v); !ok {
			c.w.Error("ERR hash value is not an integer")
			c.dropIfEmpty(args[1], h.len())
			return
		}
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) || (delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		c.w.Error(errOverflow)
		c.dropIfEmpty(args[1], h.len())
		return
	}
	cur += delta
	h.set(args[2], strconv.AppendInt(nil, cur, 10))
	c.touched(args[1], e)
	c.w.Int(cur)
}

// dropIfEmpty removes a collection that a failed command created empty.
func (c *client) dropIfEmpty(key []byte, n int) {
	if n == 0 {
		c.del(key)
	}
}

func cmdHIncrByFloat(c *client, args [][]byte) {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		c.w.Error(errNotFloat)
		return
	}
	if incr.IsInf() { // refused before the key is looked at, as Redis does
		c.w.Error("ERR value is NaN or Infinity")
		return
	}
	h, e, wrong := c.hashOf(args[1], true)
	if wrong {
		return
	}
	cur, _ := parseLongDouble([]byte("0"))
	if v, ok := h.get(args[2]); ok {
		if cur, ok = parseLongDouble(v); !ok {
			c.w.Error("ERR hash value is not a float")
			c.dropIfEmpty(args[1], h.len())
			return
		}
	}
	if !addLongDouble(cur, incr) {
		c.w.Error("ERR increment would produce NaN or Infinity")
		c.dropIfEmpty(args[1], h.len())
		return
	}
	s := formatLongDouble(cur)
	h.set(args[2], []byte(s))
	c.touched(args[1], e)
	c.w.BulkString(s)
}
