package cache

import "strconv"

// logInstead records what the append-only file gets in place of the running
// command, for commands whose effect a replay could not reproduce.
func (c *client) logInstead(args ...[]byte) {
	if c.s.aof.Load() == nil {
		return
	}
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = append([]byte(nil), a...)
	}
	c.aofOver = append(c.aofOver, cp)
}

// logWrite appends the records of a write command that changed the dataset. The
// command's shards are still locked.
func (c *client) logWrite(cmd *command, args [][]byte) {
	recs := c.aofOver
	if recs == nil {
		recs = c.deterministic(cmd, args)
	}
	recs = append(recs, c.aofExtra...)
	c.aofOver, c.aofExtra = nil, nil
	if len(recs) == 0 {
		return
	}
	if c.inExec {
		if c.db != c.txDB { // a SELECT ran inside the transaction
			c.txLog = append(c.txLog, [][]byte{[]byte("SELECT"), strconv.AppendInt(nil, int64(c.db), 10)})
			c.txDB = c.db
		}
		c.txLog = append(c.txLog, recs...)
		return
	}
	if a := c.s.aof.Load(); a != nil { // nil only if turned off since the caller looked
		c.aofEnd = a.appendCmds(c.db, recs)
	}
}

// deterministic returns the records that replay cmd's effect whatever the time of
// the replay: expiry as absolute PEXPIREAT, INCRBYFLOAT as the value it produced.
func (c *client) deterministic(cmd *command, args [][]byte) [][][]byte {
	b := func(s string) []byte { return []byte(s) }
	switch cmd.name {
	case "set", "setex", "psetex", "getset", "setnx", "incrbyfloat",
		"getex", "expire", "pexpire", "expireat", "pexpireat", "persist":
		key := args[1]
		e := c.shard(key).dbs[c.db].get(key)
		if e == nil {
			return [][][]byte{{b("DEL"), key}}
		}
		var recs [][][]byte
		switch cmd.name {
		case "getex", "expire", "pexpire", "expireat", "pexpireat", "persist":
		default:
			recs = append(recs, [][]byte{b("SET"), key, append([]byte(nil), e.str...)})
		}
		if e.exp != 0 {
			recs = append(recs, [][]byte{b("PEXPIREAT"), key, strconv.AppendInt(nil, e.exp, 10)})
		} else if recs == nil {
			recs = append(recs, [][]byte{b("PERSIST"), key})
		}
		return recs
	case "hincrbyfloat":
		e := c.shard(args[1]).dbs[c.db].get(args[1])
		if e == nil {
			return nil
		}
		v, _ := e.obj.(*hash).get(args[2])
		return [][][]byte{{b("HSET"), args[1], args[2], append([]byte(nil), v...)}}
	}
	return [][][]byte{args}
}
