package cache

import "slices"

func (c *client) ensureSubs() {
	if c.subs == nil {
		c.subs = &subscriptions{channels: map[string]struct{}{}, patterns: map[string]struct{}{}}
		// From now on other goroutines write to this client too.
		c.w.Flush()
		c.out.startAsync()
	}
}

func (c *client) subReply(kind string, name []byte, null bool) {
	c.w.Push(3)
	c.w.BulkString(kind)
	if null {
		c.w.Null()
	} else {
		c.w.Bulk(name)
	}
	c.w.Int(int64(c.subs.count()))
}

func cmdSubscribe(c *client, args [][]byte) {
	pattern := eqFold(string(args[0]), "psubscribe")
	c.ensureSubs()
	set, kind := c.subs.channels, "subscribe"
	if pattern {
		set, kind = c.subs.patterns, "psubscribe"
	}
	for _, a := range args[1:] {
		if _, ok := set[string(a)]; !ok {
			set[string(a)] = struct{}{}
			c.s.pubsub.add(c, string(a), pattern)
			if pattern {
				c.subs.order = append(c.subs.order, string(a))
			}
		}
		c.subReply(kind, a, false)
	}
	c.nsub.Store(int32(len(c.subs.channels)))
	c.npsub.Store(int32(len(c.subs.patterns)))
}

func cmdUnsubscribe(c *client, args [][]byte) {
	pattern := eqFold(string(args[0]), "punsubscribe")
	c.ensureSubs()
	if len(args) == 1 {
		c.unsubscribeAll(pattern, false)
		return
	}
	set, kind := c.subs.channels, "unsubscribe"
	if pattern {
		set, kind = c.subs.patterns, "punsubscribe"
	}
	for _, a := range args[1:] {
		if _, ok := set[string(a)]; ok {
			delete(set, string(a))
			c.s.pubsub.remove(c, string(a), pattern)
			if pattern {
				c.subs.order = slices.DeleteFunc(c.subs.order, func(p string) bool { return p == string(a) })
			}
		}
		c.subReply(kind, a, false)
	}
	c.nsub.Store(int32(len(c.subs.channels)))
	c.npsub.Store(int32(len(c.subs.patterns)))
}

// unsubscribeAll leaves every channel (or pattern), replying once per name, or
// once with a null name when there was none, as Redis does.
func (c *client) unsubscribeAll(pattern, quiet bool) {
	set, kind := c.subs.channels, "unsubscribe"
	if pattern {
		set, kind = c.subs.patterns, "punsubscribe"
	}
	if len(set) == 0 && !quiet {
		c.subReply(kind, nil, true)
	}
	leave := func(name string) {
		delete(set, name)
		c.s.pubsub.remove(c, name, pattern)
		if !quiet {
			c.subReply(kind, []byte(name), false)
		}
	}
	if pattern {
		// Redis 7.0 keeps a client's patterns in a list: they go in the order
		// they came. (Its channels are a dict, whose order no client can rely on.)
		for _, name := range c.subs.order {
			leave(name)
		}
		c.subs.order = c.subs.order[:0]
	} else {
		for name := range set {
			leave(name)
		}
	}
	c.nsub.Store(int32(len(c.subs.channels)))
	c.npsub.Store(int32(len(c.subs.patterns)))
}

func cmdPublish(c *client, args [][]byte) {
	// Redis writes a message to the publisher itself before the reply (inside
	// EXEC's array in a transaction).
	n, self := c.s.pubsub.publish(c, args[1], args[2])
	for _, m := range self {
		c.w.Raw(m)
	}
	c.w.Int(n)
}

func cmdPubsubChannels(c *client, args [][]byte) {
	var pat []byte
	if len(args) == 3 {
		pat = args[2]
	}
	list := c.s.pubsub.channelList(pat)
	c.w.Array(len(list))
	for _, ch := range list {
		c.w.BulkString(ch)
	}
}

// cmdPubsubNumSub answers with channel, count pairs in a flat array, a map in neither
// protocol, as Redis 7 does.
func cmdPubsubNumSub(c *client, args [][]byte) {
	c.w.Array(2 * (len(args) - 2))
	for _, a := range args[2:] {
		c.w.Bulk(a)
		c.w.Int(int64(c.s.pubsub.numSub(string(a))))
	}
}

func cmdPubsubNumPat(c *client, args [][]byte) { c.w.Int(int64(c.s.pubsub.numPat())) }
