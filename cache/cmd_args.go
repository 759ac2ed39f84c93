package cache

import (
	"math"
	"time"
)

// Argument parsing shared by the commands, with Redis's error texts.

// atLeast parses an integer argument that must be min or more. Like Redis's
// getRangeLongFromObjectOrReply with a message, it answers "ERR "+msg both for a
// number out of range and for something that is not a number.
func (c *client) atLeast(arg []byte, min int64, msg string) (int64, bool) {
	n, ok := parseInt(arg)
	if !ok || n < min {
		c.w.Error("ERR " + msg)
		return 0, false
	}
	return n, true
}

// intPair parses two integer arguments (a range's start and stop), answering
// Redis's "not an integer" error when either is not one.
func (c *client) intPair(a, b []byte) (int64, int64, bool) {
	x, ok1 := parseInt(a)
	y, ok2 := parseInt(b)
	if !ok1 || !ok2 {
		c.w.Error(errNotInt)
		return 0, 0, false
	}
	return x, y, true
}

// dbIndex parses a database number (SELECT, MOVE, COPY ... DB).
func (c *client) dbIndex(arg []byte) (int, bool) {
	n, ok := parseInt(arg)
	if !ok {
		c.w.Error(errNotInt)
		return 0, false
	}
	if n < math.MinInt32 || n > math.MaxInt32 { // Redis reads an int first
		c.w.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
		return 0, false
	}
	if n < 0 || n >= int64(c.s.dbs) {
		c.w.Error("ERR DB index is out of range")
		return 0, false
	}
	return int(n), true
}

// popCount parses the count of LPOP, RPOP, ZPOPMIN and ZPOPMAX: zero or more.
func (c *client) popCount(arg []byte) (int64, bool) {
	return c.atLeast(arg, 0, "value is out of range, must be positive")
}

// blockingArgs parses the trailing timeout of BLPOP, BRPOP, BZPOPMIN and
// BZPOPMAX and returns it with the keys before it.
func (c *client) blockingArgs(args [][]byte) (keys [][]byte, timeout time.Duration, ok bool) {
	timeout, msg := parseTimeout(args[len(args)-1])
	if msg != "" {
		c.w.Error(msg)
		return nil, 0, false
	}
	return args[1 : len(args)-1], timeout, true
}

// numKeys parses the numkeys argument of LMPOP, SINTERCARD and the like and
// splits rest into that many keys and what follows. tooMany is the error when
// fewer than numkeys arguments follow.
func (c *client) numKeys(arg []byte, rest [][]byte, tooMany string) (keys, after [][]byte, ok bool) {
	n, ok := c.atLeast(arg, 1, "numkeys should be greater than 0")
	if !ok {
		return nil, nil, false
	}
	if n > int64(len(rest)) {
		c.w.Error(tooMany)
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}
