package cache

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// command is one entry of the command table: what Redis's COMMAND INFO says about
// it, and the function that runs it.
type command struct {
	name  string // lower case; "client|setname" for a subcommand
	arity int    // as Redis: N means exactly N arguments with the name, -N at least N
	flags flag
	// Key positions in the arguments, as COMMAND INFO gives them: the first key,
	// the last (negative counts from the end), and the step between keys.
	first, last, step int
	fn                func(c *client, args [][]byte)
	subs              map[string]*command

	id    int  // index into counters.calls
	plain bool // a command of its own: neither a container (CLIENT) nor a subcommand
}

type flag uint32

const (
	fWrite    flag = 1 << iota // changes the keyspace
	fReadonly                  // reads the keyspace
	fDenyOOM                   // refused at maxmemory under noeviction
	fAdmin
	fPubsub
	fFast
	fNoAuth   // allowed before AUTH
	fLoading  // allowed while loading (kept for COMMAND INFO)
	fStale    // kept for COMMAND INFO
	fBlocking // may block the client
	fNoMulti  // cannot be queued in MULTI (runs at once)
	fAllKeys  // touches the whole keyspace: locks every shard
	fSubOK    // allowed in RESP2 subscribed mode
)

var flagNames = []struct {
	f    flag
	name string
}{
	{fWrite, "write"}, {fReadonly, "readonly"}, {fDenyOOM, "denyoom"}, {fAdmin, "admin"},
	{fPubsub, "pubsub"}, {fNoAuth, "no_auth"}, {fLoading, "loading"}, {fStale, "stale"},
	{fFast, "fast"}, {fBlocking, "blocking"},
}

func (cmd *command) flagList() []string {
	var out []string
	for _, f := range flagNames {
		if cmd.flags&f.f != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// counters are the statistics one client adds to. Each client counts on its own,
// so that connections on different cores never write the same cache line; Stats
// sums them.
type counters struct {
	cmds, hits, misses atomic.Int64
	calls              []atomic.Int64 // by command id
}

func newCounters(n int) *counters { return &counters{calls: make([]atomic.Int64, n)} }

func (k *counters) addTo(dst *counters) {
	dst.cmds.Add(k.cmds.Load())
	dst.hits.Add(k.hits.Load())
	dst.misses.Add(k.misses.Load())
	for i := range k.calls {
		dst.calls[i].Add(k.calls[i].Load())
	}
}

func (k *counters) reset() {
	k.cmds.Store(0)
	k.hits.Store(0)
	k.misses.Store(0)
	for i := range k.calls {
		k.calls[i].Store(0)
	}
}

// The error replies shared by many commands, with Redis 7's exact text.
const (
	errWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errSyntax    = "ERR syntax error"
	errNotInt    = "ERR value is not an integer or out of range"
	errNotFloat  = "ERR value is not a valid float"
	errNoSuchKey = "ERR no such key"
	errOverflow  = "ERR increment or decrement would overflow"
	errNoAuth    = "NOAUTH Authentication required."
	errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	errOOM       = "OOM command not allowed when used memory > 'maxmemory'."
)

// named returns the top-level command called name (in any case), or nil.
func (c *client) named(name []byte) *command {
	if last := c.cmd; last != nil && last.plain && isName(name, last.name) {
		// The commands of a pipeline are mostly alike: comparing with the last
		// one's name costs less than lower-casing and hashing for the table.
		return last
	}
	if len(name) > len(c.lower) {
		return nil
	}
	n := copy(c.lower[:], name)
	lowerASCII(c.lower[:n])
	return c.s.cmds[string(c.lower[:n])]
}

// lookup finds the command named by args[0] (and args[1] for a container command
// such as CLIENT). It writes the error reply and returns nil when there is none
// or the arity is wrong.
func (c *client) lookup(args [][]byte) *command {
	cmd := c.named(args[0])
	if cmd == nil {
		c.w.Error(unknownCommand(args))
		return nil
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := cmd.subs[strings.ToLower(string(args[1]))]
		if sub == nil {
			c.w.Error("ERR unknown subcommand '" + trunc(string(args[1]), 128) + "'. Try " + strings.ToUpper(cmd.name) + " HELP.")
			return nil
		}
		cmd = sub
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || len(args) < -cmd.arity {
		c.reject(cmd, "wrong number of arguments for '"+cmd.name+"' command")
		return nil
	}
	return cmd
}

// reject answers a command refused before it ran with "ERR "+msg. EXEC refused
// ends the transaction, if any, and unwatches the keys, as Redis's
// execCommandAbort does.
func (c *client) reject(cmd *command, msg string) {
	if cmd.name != "exec" {
		c.w.Error("ERR " + msg)
		return
	}
	if c.inMulti {
		c.discard()
	}
	c.unwatchAll()
	c.w.Error("EXECABORT Transaction discarded because of: " + msg)
}

func unknownCommand(args [][]byte) string {
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		b.WriteString("'" + trunc(string(a), 128-b.Len()) + "' ")
	}
	return "ERR unknown command '" + trunc(string(args[0]), 128) + "', with args beginning with: " + b.String()
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// isName reports whether b is name (lower case) in any case.
func isName(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != name[i] {
			return false
		}
	}
	return true
}

func lowerASCII(b []byte) {
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
}

// exec runs one command read from the client: lookup, checks, MULTI queueing, then
// the command itself with its shards locked.
func (c *client) exec(args [][]byte) {
	c.stats.cmds.Add(1)
	cmd := c.lookup(args)
	if cmd == nil {
		if c.inMulti {
			c.multiErr = true
		}
		return
	}
	if !c.authed && cmd.flags&fNoAuth == 0 {
		c.w.Error(errNoAuth)
		if c.inMulti {
			c.multiErr = true
		}
		return
	}
	if c.subs != nil && c.subs.count() > 0 && c.w.Proto == 2 && cmd.flags&fSubOK == 0 {
		c.reject(cmd, "Can't execute '"+cmd.name+"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
		return
	}
	if c.inMulti && cmd.flags&fNoMulti == 0 {
		if cmd.flags&fDenyOOM != 0 && !c.s.makeRoom() {
			c.w.Error(errOOM)
			c.multiErr = true
			return
		}
		c.multi = append(c.multi, queued{cmd, copyArgs(args)})
		c.multiN.Store(int32(len(c.multi)))
		c.w.Status("QUEUED")
		return
	}
	c.call(cmd, args)
}

func copyArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	return out
}

// call runs cmd with the shards of its keys locked.
func (c *client) call(cmd *command, args [][]byte) {
	if c.staleNow {
		// The clock is read once per batch of commands read together: a
		// pipeline's commands run within microseconds of one another.
		c.now = time.Now().UnixMilli()
		c.staleNow = false
	}
	if cmd.flags&fDenyOOM != 0 && !c.inExec && !c.loading && !c.s.makeRoom() {
		c.w.Error(errOOM)
		return
	}
	if a := c.s.aof.Load(); a != nil && cmd.flags&fWrite != 0 && !c.loading {
		if err := a.failed(); err != nil {
			c.w.Error("MISCONF Errors writing to the AOF file: " + err.Error())
			return
		}
	}
	if !c.inExec {
		c.lockKeys(cmd, args)
		if cmd.flags&fWrite != 0 {
			c.beforeWrite() // an AOF rewrite's copy on first write (aofrewrite.go)
		}
	}
	dirty := c.dirty
	c.sample++
	var start time.Time
	if c.sample%sampleEvery == 0 {
		start = time.Now()
	}
	c.cmd = cmd
	cmd.fn(c, args)
	if !start.IsZero() {
		c.s.latency[cmd.id].Observe(time.Since(start).Seconds())
	}
	if c.s.aof.Load() != nil && (c.dirty != dirty || c.aofOver != nil || c.aofExtra != nil) && cmd.flags&fWrite != 0 {
		c.logWrite(cmd, args)
	}
	if !c.inExec {
		c.unlock()
		if c.blocked != nil {
			c.waitBlocked()
		}
	}
	// Loads before the stores: in a pipeline both mostly hold already what
	// they would be set to, and a load costs less than an atomic store.
	if c.active.Load() != c.now {
		c.active.Store(c.now)
	}
	c.stats.calls[cmd.id].Add(1)
	if c.lastCmd.Load() != cmd {
		c.lastCmd.Store(cmd)
	}
}

// keyShards appends the shards of the keys cmd names in args.
func (c *client) keyShards(cmd *command, args [][]byte, dst []int) []int {
	if cmd.flags&fAllKeys != 0 {
		for i := range nShards {
			dst = append(dst, i)
		}
		return dst
	}
	if cmd.first == 0 || cmd.first >= len(args) {
		return dst
	}
	last := cmd.last
	if last < 0 {
		last += len(args)
	}
	for i := cmd.first; i <= last && i < len(args); i += cmd.step {
		dst = append(dst, c.s.ks.shardOf(args[i]))
	}
	return dst
}

// lockKeys locks the shards of cmd's keys in ascending order.
func (c *client) lockKeys(cmd *command, args [][]byte) {
	c.locked = c.keyShards(cmd, args, c.locked[:0])
	c.lockShards()
}

func (c *client) lockShards() {
	l := c.locked
	if len(l) > 1 {
		sort.Ints(l)
		j := 1
		for i := 1; i < len(l); i++ {
			if l[i] != l[j-1] {
				l[j] = l[i]
				j++
			}
		}
		c.locked = l[:j]
	}
	for _, i := range c.locked {
		c.s.ks.shards[i].mu.Lock()
	}
}

func (c *client) unlock() {
	for i := len(c.locked) - 1; i >= 0; i-- {
		c.s.ks.shards[c.locked[i]].mu.Unlock()
	}
	c.locked = c.locked[:0]
}

// The keyspace access of commands. The command's shards are locked.

// shard returns the (locked) shard of key. While a command that names one key
// runs, that key's shard is the one it locked, and no other key may be touched
// without its shard's lock: the shard is known without hashing the key again.
func (c *client) shard(key []byte) *shard {
	if len(c.locked) == 1 && !c.inExec && c.cmd.first != 0 && c.cmd.first == c.cmd.last {
		if checkShards && c.s.ks.shardOf(key) != c.locked[0] {
			panic("cache: " + c.cmd.name + " touches a key outside the shard it locked")
		}
		return &c.s.ks.shards[c.locked[0]]
	}
	return &c.s.ks.shards[c.s.ks.shardOf(key)]
}

// get returns key's live entry or nil, removing it if its time has run out.
func (c *client) get(key []byte) *entry { return c.getIn(c.shard(key), key) }

// getIn is get for a caller that has the key's shard at hand.
func (c *client) getIn(sh *shard, key []byte) *entry {
	e := sh.dbs[c.db].get(key)
	if e == nil {
		return nil
	}
	if e.exp != 0 && e.exp <= c.now {
		c.s.ks.remove(sh, c.db, string(key), e)
		c.s.ks.expired.Add(1)
		sh.touchWatched(c.db, string(key))
		return nil
	}
	e.access = lruClock(c.now)
	if c.s.lfu.Load() {
		e.freq = lfuIncr(e.freq)
	}
	return e
}

// getKind returns key's entry when it holds k; wrong reports (and replies) a
// value of another type.
func (c *client) getKind(key []byte, k kind) (e *entry, wrong bool) {
	e = c.get(key)
	if e != nil && e.kind != k {
		c.w.Error(errWrongType)
		return nil, true
	}
	return e, false
}

// valueOf returns key's value when it holds kind k. A missing key gives the zero T, or,
// when create is set, a value made by fresh and stored under key. wrong reports a key of
// another kind: the WRONGTYPE error is already written.
func valueOf[T any](c *client, key []byte, k kind, create bool, fresh func() T) (v T, e *entry, wrong bool) {
	e, wrong = c.getKind(key, k)
	if wrong {
		return v, nil, true
	}
	if e == nil {
		if !create {
			return v, nil, false
		}
		e = c.put(key, &entry{kind: k, obj: fresh()})
	}
	return e.obj.(T), e, false
}

// read is get for commands that read: it counts hits and misses.
func (c *client) read(key []byte) *entry {
	e := c.get(key)
	if e == nil {
		c.stats.misses.Add(1)
	} else {
		c.stats.hits.Add(1)
	}
	return e
}

// put stores a new entry under key with tmpl's value, type and expiry, replacing
// any value (and its time to live), and returns it: the caller goes on with the
// returned entry, not with tmpl (see keyspace.put).
func (c *client) put(key []byte, tmpl *entry) *entry {
	sh := c.shard(key)
	tmpl.access = lruClock(c.now)
	tmpl.freq = lfuInit
	e := c.s.ks.put(sh, c.db, key, tmpl)
	sh.touchWatched(c.db, string(key))
	c.dirty++
	return e
}

// putString stores a copy of val as key's string value, replacing any value.
func (c *client) putString(key, val []byte, exp int64) *entry {
	sh := c.shard(key)
	e := c.s.ks.putString(sh, c.db, key, val, exp, lruClock(c.now))
	sh.touchWatched(c.db, string(key))
	c.dirty++
	return e
}

// del removes key and reports whether it was there.
func (c *client) del(key []byte) bool {
	e := c.get(key)
	if e == nil {
		return false
	}
	sh := c.shard(key)
	c.s.ks.remove(sh, c.db, string(key), e)
	sh.touchWatched(c.db, string(key))
	c.dirty++
	return true
}

// touched records that key's value changed in place: watchers are told and the
// memory accounting follows.
func (c *client) touched(key []byte, e *entry) {
	sh := c.shard(key)
	sh.resize(key, e)
	sh.touchWatched(c.db, string(key))
	c.dirty++
}

// setExpire sets key's expiry (0 removes it).
func (c *client) setExpire(key []byte, e *entry, exp int64) {
	c.shard(key).setExpire(c.db, string(key), e, exp)
	c.dirty++
}
