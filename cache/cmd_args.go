package cache

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
