package cache

func cmdMulti(c *client, args [][]byte) {
	if c.inMulti {
		c.w.Error("ERR MULTI calls can not be nested")
		return
	}
	c.inMulti = true
	c.multi = c.multi[:0]
	c.multiN.Store(0)
	c.w.OK()
}

func (c *client) discard() {
	c.inMulti, c.multiErr = false, false
	c.multi = nil
	c.multiN.Store(-1)
}

func cmdDiscard(c *client, args [][]byte) {
	if !c.inMulti {
		c.w.Error("ERR DISCARD without MULTI")
		return
	}
	c.discard()
	c.unwatchAll()
	c.w.OK()
}

// cmdExec runs the queued commands with the shards of all their keys locked at
// once, so that no other client sees the transaction half done.
func cmdExec(c *client, args [][]byte) {
	if !c.inMulti {
		c.w.Error("ERR EXEC without MULTI")
		return
	}
	queue, failed := c.multi, c.multiErr
	c.discard()
	if failed {
		c.unwatchAll()
		c.w.Error("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	c.locked = c.locked[:0]
	for _, q := range queue {
		c.locked = c.keyShards(q.cmd, q.args, c.locked)
	}
	c.lockShards()
	c.beforeWrite()
	// A watched key changes under its shard's lock; checking with the
	// transaction's shards locked makes the check and the commands one step.
	if c.dirtyCAS.Load() {
		c.unlock()
		c.unwatchAll()
		c.w.NullArray()
		return
	}
	c.inExec = true
	c.txLog = c.txLog[:0]
	startDB := c.db
	c.txDB = c.db
	c.w.Array(len(queue))
	for _, q := range queue {
		c.call(q.cmd, q.args)
	}
	c.inExec = false
	if c.s.aof.Load() != nil && len(c.txLog) > 0 {
		recs := append([][][]byte{{[]byte("MULTI")}}, c.txLog...)
		recs = append(recs, [][]byte{[]byte("EXEC")})
		c.aofEnd = c.s.aof.Load().appendTx(startDB, c.txDB, recs)
	}
	c.unlock()
	c.unwatchAll()
}

// cmdWatch records the keys; a change to any of them (made under the key's shard
// lock) sets dirtyCAS, and EXEC then fails.
func cmdWatch(c *client, args [][]byte) {
	if c.inMulti {
		c.w.Error("ERR WATCH inside MULTI is not allowed")
		return
	}
	for _, k := range args[1:] { // the keys' shards are locked
		sh := c.shard(k)
		m := sh.wk[c.db]
		if m == nil {
			m = make(map[string][]*client)
			sh.wk[c.db] = m
		}
		already := false
		for _, w := range m[string(k)] {
			if w == c {
				already = true
			}
		}
		if !already {
			m[string(k)] = append(m[string(k)], c)
			c.watched = append(c.watched, watchedKey{c.db, string(k)})
		}
	}
	c.w.OK()
}

func cmdUnwatch(c *client, args [][]byte) {
	// Inside EXEC the transaction holds its shards' locks, which unwatchAll would
	// take again; EXEC unwatches every key when it ends anyway.
	if !c.inExec {
		c.unwatchAll()
	}
	c.w.OK()
}

func (c *client) unwatchAll() {
	for _, wk := range c.watched {
		sh := c.shard([]byte(wk.key))
		sh.mu.Lock()
		list := sh.wk[wk.db][wk.key]
		for i, w := range list {
			if w == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(sh.wk[wk.db], wk.key)
		} else {
			sh.wk[wk.db][wk.key] = list
		}
		sh.mu.Unlock()
	}
	c.watched = c.watched[:0]
	c.dirtyCAS.Store(false)
}
