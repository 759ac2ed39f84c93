package cache

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gantry/internal/buildinfo"
)

// redisVersion is the Redis version gantry answers as: clients choose features by
// it, and gantry behaves as this version does.
const redisVersion = "7.0.15"

func cmdPing(c *client, args [][]byte) {
	if len(args) > 2 {
		c.w.Error("ERR wrong number of arguments for 'ping' command")
		return
	}
	if c.subs != nil && c.subs.count() > 0 && c.w.Proto == 2 {
		c.w.Array(2)
		c.w.BulkString("pong")
		if len(args) == 2 {
			c.w.Bulk(args[1])
		} else {
			c.w.BulkString("")
		}
		return
	}
	if len(args) == 2 {
		c.w.Bulk(args[1])
		return
	}
	c.w.Status("PONG")
}

func cmdEcho(c *client, args [][]byte) { c.w.Bulk(args[1]) }

// passwordOK compares in constant time: both sides are hashed first, so neither
// the content nor the length of the password leaks through timing.
func (s *Server) passwordOK(pass []byte) bool {
	want := s.config().RequirePass
	a, b := sha256.Sum256(pass), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func cmdAuth(c *client, args [][]byte) {
	if len(args) > 3 {
		c.w.Error(errSyntax)
		return
	}
	if c.s.config().RequirePass == "" && len(args) == 2 {
		c.w.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if c.authenticate(args[1:]) {
		c.w.OK()
		return
	}
	c.w.Error(errWrongPass)
}

// authenticate checks [user] password; only the default user exists.
func (c *client) authenticate(cred [][]byte) bool {
	pass := cred[len(cred)-1]
	if len(cred) == 2 && string(cred[0]) != "default" {
		c.s.passwordOK(pass) // same time either way
		return false
	}
	if c.s.config().RequirePass == "" || c.s.passwordOK(pass) {
		c.authed = true
		if c.r != nil {
			c.r.SetUnauthenticated(false)
		}
		return true
	}
	return false
}

func cmdHello(c *client, args [][]byte) {
	proto := int64(c.w.Proto)
	if len(args) >= 2 {
		var ok bool
		proto, ok = parseInt(args[1])
		if !ok {
			c.w.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if proto < 2 || proto > 3 {
			c.w.Error("NOPROTO unsupported protocol version")
			return
		}
	}
	var name []byte
	var cred [][]byte
	for i := 2; i < len(args); i++ {
		switch opt := string(args[i]); {
		case eqFold(opt, "auth") && i+2 < len(args):
			cred = args[i+1 : i+3]
			i += 2
		case eqFold(opt, "setname") && i+1 < len(args):
			name = args[i+1]
			i++
		default:
			c.w.Error("ERR Syntax error in HELLO option '" + opt + "'")
			return
		}
	}
	if cred != nil && !c.authenticate(cred) {
		c.w.Error(errWrongPass)
		return
	}
	if !c.authed {
		c.w.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if name != nil {
		if !validClientName(name) {
			c.w.Error("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.setName(string(name))
	}
	c.w.Proto = int(proto)
	c.protoNum.Store(int32(proto))
	c.w.Map(7)
	c.w.BulkString("server")
	c.w.BulkString("redis")
	c.w.BulkString("version")
	c.w.BulkString(redisVersion)
	c.w.BulkString("proto")
	c.w.Int(proto)
	c.w.BulkString("id")
	c.w.Int(c.id)
	c.w.BulkString("mode")
	c.w.BulkString("standalone")
	c.w.BulkString("role")
	c.w.BulkString("master")
	c.w.BulkString("modules")
	c.w.Array(0)
}

func validClientName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func cmdSelect(c *client, args [][]byte) {
	n, ok := c.dbIndex(args[1])
	if !ok {
		return
	}
	c.db = int(n)
	c.dbNum.Store(int32(n))
	c.w.OK()
}

func cmdQuit(c *client, args [][]byte) {
	c.w.OK()
	c.closeAfter = true
}

func cmdReset(c *client, args [][]byte) {
	c.discard()
	c.unwatchAll()
	if c.subs != nil {
		c.unsubscribeAll(false, true)
		c.unsubscribeAll(true, true)
	}
	c.db = 0
	c.dbNum.Store(0)
	c.w.Proto = 2
	c.protoNum.Store(2)
	c.authed = c.s.config().RequirePass == ""
	c.r.SetUnauthenticated(!c.authed)
	c.setName("")
	c.w.Status("RESET")
}

func cmdClientID(c *client, args [][]byte) { c.w.Int(c.id) }

func cmdClientSetName(c *client, args [][]byte) {
	if !validClientName(args[2]) {
		c.w.Error("ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	c.setName(string(args[2]))
	c.w.OK()
}

func cmdClientGetName(c *client, args [][]byte) {
	if n := c.getName(); n != "" {
		c.w.BulkString(n)
		return
	}
	c.w.Null()
}

func cmdClientSetInfo(c *client, args [][]byte) {
	if opt := string(args[2]); !eqFold(opt, "lib-name") && !eqFold(opt, "lib-ver") {
		c.w.Error("ERR Unrecognized option '" + opt + "'")
		return
	}
	c.w.OK()
}

func cmdClientInfo(c *client, args [][]byte) { c.w.Verbatim(c.info() + "\n") }

func (s *Server) clientList() []*client {
	s.mu.Lock()
	list := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		list = append(list, c)
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	return list
}

func cmdClientList(c *client, args [][]byte) {
	var ids map[int64]bool
	typ := ""
	for i := 2; i < len(args); i++ {
		switch opt := string(args[i]); {
		case eqFold(opt, "type") && i+1 < len(args):
			typ = lowerString(args[i+1])
			if typ != "normal" && typ != "pubsub" && typ != "master" && typ != "replica" {
				c.w.Error("ERR Unknown client type '" + string(args[i+1]) + "'")
				return
			}
			i++
		case eqFold(opt, "id") && i+1 < len(args):
			ids = make(map[int64]bool)
			for i++; i < len(args); i++ {
				id, ok := parseInt(args[i])
				if !ok || id <= 0 {
					c.w.Error("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	var b strings.Builder
	for _, cl := range c.s.clientList() {
		if ids != nil && !ids[cl.id] {
			continue
		}
		sub := cl.nsub.Load()+cl.npsub.Load() > 0
		if (typ == "pubsub" && !sub) || (typ == "normal" && sub) || typ == "master" || typ == "replica" {
			continue
		}
		b.WriteString(cl.info())
		b.WriteByte('\n')
	}
	c.w.Verbatim(b.String())
}

func cmdClientKill(c *client, args [][]byte) {
	if len(args) == 3 { // the old form: CLIENT KILL addr
		for _, cl := range c.s.clientList() {
			if cl.addr == string(args[2]) {
				c.killClient(cl)
				c.w.OK()
				return
			}
		}
		c.w.Error("ERR No such client")
		return
	}
	var id int64
	var addr, laddr string
	skipMe := true
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.w.Error(errSyntax)
			return
		}
		v := string(args[i+1])
		switch opt := string(args[i]); {
		case eqFold(opt, "id"):
			n, ok := parseInt(args[i+1])
			if !ok || n <= 0 {
				c.w.Error("ERR client-id should be greater than 0")
				return
			}
			id = n
		case eqFold(opt, "addr"):
			addr = v
		case eqFold(opt, "laddr"):
			laddr = v
		case eqFold(opt, "skipme"):
			switch {
			case eqFold(v, "yes"):
				skipMe = true
			case eqFold(v, "no"):
				skipMe = false
			default:
				c.w.Error(errSyntax)
				return
			}
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	var n int64
	for _, cl := range c.s.clientList() {
		if (id != 0 && cl.id != id) || (addr != "" && cl.addr != addr) || (laddr != "" && cl.laddr != laddr) || (skipMe && cl == c) {
			continue
		}
		c.killClient(cl)
		n++
	}
	c.w.Int(n)
}

// killClient closes cl; a client that kills itself gets its reply first.
func (c *client) killClient(cl *client) {
	if cl == c {
		c.closeAfter = true
		return
	}
	cl.kill()
}

func cmdTime(c *client, args [][]byte) {
	now := time.Now()
	c.w.Array(2)
	c.w.BulkInt(now.Unix())
	c.w.BulkInt(int64(now.Nanosecond() / 1000))
}

func cmdCommand(c *client, args [][]byte) {
	c.writeCommandInfo(c.s.sortedCommands())
}

func (s *Server) sortedCommands() []*command {
	list := make([]*command, 0, len(s.cmds))
	for _, cmd := range s.cmds {
		list = append(list, cmd)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list
}

func cmdCommandCount(c *client, args [][]byte) { c.w.Int(int64(len(c.s.cmds))) }

// cmdCommandList lists the command names, all of them or those FILTERBY picks: a
// PATTERN (a glob, any case), or a MODULE, which picks none since gantry has no modules.
// FILTERBY ACLCAT is refused: gantry keeps no ACL categories to filter by.
func cmdCommandList(c *client, args [][]byte) {
	list := c.s.sortedCommands()
	switch {
	case len(args) == 2:
	case len(args) == 5 && strings.EqualFold(string(args[2]), "filterby"):
		switch strings.ToLower(string(args[3])) {
		case "pattern":
			list = slices.DeleteFunc(list, func(cmd *command) bool { return !globMatch(args[4], []byte(cmd.name), true) })
		case "module":
			list = nil
		case "aclcat":
			c.w.Error("ERR FILTERBY ACLCAT is not supported: gantry keeps no ACL categories")
			return
		default:
			c.w.Error(errSyntax)
			return
		}
	default:
		c.w.Error(errSyntax)
		return
	}
	c.w.Array(len(list))
	for _, cmd := range list {
		c.w.BulkString(cmd.name)
	}
}

func cmdCommandInfo(c *client, args [][]byte) {
	if len(args) == 2 {
		c.writeCommandInfo(c.s.sortedCommands())
		return
	}
	list := make([]*command, len(args)-2)
	for i, a := range args[2:] {
		name, sub, isSub := strings.Cut(lowerString(a), "|")
		list[i] = c.s.cmds[name]
		if isSub && list[i] != nil {
			list[i] = list[i].subs[sub] // nil when there is none, as for no container
		}
	}
	c.writeCommandInfo(list)
}

// writeCommandInfo writes COMMAND INFO's reply: per command its name, arity, flags,
// key positions, ACL categories, tips, key specs and subcommands.
func (c *client) writeCommandInfo(list []*command) {
	c.w.Array(len(list))
	for _, cmd := range list {
		if cmd == nil {
			c.w.Null()
			continue
		}
		c.writeOneInfo(cmd)
	}
}

func (c *client) writeOneInfo(cmd *command) {
	c.w.Array(10)
	c.w.BulkString(cmd.name)
	c.w.Int(int64(cmd.arity))
	flags := cmd.flagList()
	c.w.Set(len(flags))
	for _, f := range flags {
		c.w.Status(f)
	}
	c.w.Int(int64(cmd.first))
	c.w.Int(int64(cmd.last))
	c.w.Int(int64(cmd.step))
	c.w.Set(0)
	c.w.Set(0)
	c.w.Array(0)
	subs := make([]*command, 0, len(cmd.subs))
	for _, s := range cmd.subs {
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	c.w.Array(len(subs))
	for _, s := range subs {
		c.writeOneInfo(s)
	}
}

// cmdCommandDocs answers with no documentation: redis-cli then uses its own help.
func cmdCommandDocs(c *client, args [][]byte) { c.w.Map(0) }

// cmdCommandGetKeys checks in Redis 7.0's order: the command exists (a container's
// subcommand too), has keys at all, has a valid arity, and its key arguments are
// there.
func cmdCommandGetKeys(c *client, args [][]byte) {
	sub := args[2:]
	cmd := c.s.cmds[lowerString(sub[0])]
	if cmd != nil && cmd.subs != nil && len(sub) >= 2 {
		cmd = cmd.subs[lowerString(sub[1])]
	}
	switch {
	case cmd == nil:
		c.w.Error("ERR Invalid command specified")
		return
	case cmd.first == 0 && !movableKeys(cmd):
		c.w.Error("ERR The command has no key arguments")
		return
	case (cmd.arity > 0 && len(sub) != cmd.arity) || len(sub) < -cmd.arity:
		c.w.Error("ERR Invalid number of arguments specified for command")
		return
	}
	var keys [][]byte
	if movableKeys(cmd) {
		// LMPOP and SINTERCARD: numkeys, then that many keys.
		n, ok := parseInt(sub[1])
		if !ok || n <= 0 || n > int64(len(sub)-2) {
			c.w.Error("ERR Invalid arguments specified for command")
			return
		}
		keys = sub[2 : 2+n]
	} else {
		last := cmd.last
		if last < 0 {
			last += len(sub)
		}
		for i := cmd.first; i <= last && i < len(sub); i += cmd.step {
			keys = append(keys, sub[i])
		}
	}
	c.w.Array(len(keys))
	for _, k := range keys {
		c.w.Bulk(k)
	}
}

// movableKeys reports whether cmd's keys are counted by an argument (Redis's
// movablekeys): the table gives no positions for them, and gantry locks every shard.
func movableKeys(cmd *command) bool { return cmd.name == "lmpop" || cmd.name == "sintercard" }

// infoSections lists INFO's sections in the order Redis prints them.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace"}

func cmdInfo(c *client, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[lowerString(a)] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		c.infoSection(&b, sec)
	}
	if want["commandstats"] || want["everything"] {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		c.infoSection(&b, "commandstats")
	}
	c.w.Verbatim(b.String())
}

// multiplexing says how connections are served, for INFO: by event loops over epoll, or
// by a goroutine each (other systems, Config.GoroutinePerConn, the append-only file on).
func (s *Server) multiplexing() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loops) > 0 {
		return "epoll"
	}
	return "goroutines"
}

func (c *client) infoSection(b *strings.Builder, sec string) {
	s := c.s
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	cfg := s.config()
	st := s.Stats()
	b.WriteString("# " + strings.ToUpper(sec[:1]) + sec[1:] + "\r\n")
	switch sec {
	case "server":
		line("redis_version", redisVersion)
		line("gantry_version", buildinfo.Version)
		line("redis_mode", "standalone")
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", 64)
		line("multiplexing_api", s.multiplexing())
		line("process_id", os.Getpid())
		if _, port, err := net.SplitHostPort(c.laddr); err == nil {
			line("tcp_port", port) // of the listener this client came in by
		}
		line("uptime_in_seconds", int64(time.Since(s.start)/time.Second))
		line("uptime_in_days", int64(time.Since(s.start)/(24*time.Hour)))
		line("hz", 10)
	case "clients":
		line("connected_clients", st.Clients)
		line("maxclients", cfg.MaxClients)
		line("blocked_clients", s.blocked.Load())
	case "memory":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		line("used_memory", st.UsedMemory)
		line("used_memory_human", humanBytes(st.UsedMemory))
		line("used_memory_rss", ms.Sys)
		line("used_memory_peak", ms.HeapSys)
		line("maxmemory", cfg.MaxMemory)
		line("maxmemory_human", humanBytes(cfg.MaxMemory))
		line("maxmemory_policy", cfg.MaxMemoryPolicy)
		line("go_heap_alloc", ms.HeapAlloc)
	case "persistence":
		line("loading", 0)
		if cfg.AppendOnly {
			line("aof_enabled", 1)
		} else {
			line("aof_enabled", 0)
		}
		if a := s.aof.Load(); a != nil {
			line("aof_rewrite_in_progress", boolInt(a.rewriting.Load()))
			line("aof_rewrites", a.rewrites.Load())
		}
		line("rdb_changes_since_last_save", 0)
		line("rdb_last_save_time", s.start.Unix())
	case "stats":
		line("total_connections_received", st.Connections)
		line("total_commands_processed", st.Commands)
		line("rejected_connections", st.Rejected)
		line("expired_keys", st.Expired)
		line("evicted_keys", st.Evicted)
		line("keyspace_hits", st.Hits)
		line("keyspace_misses", st.Misses)
		line("pubsub_channels", len(s.pubsub.channelList(nil)))
		line("pubsub_patterns", s.pubsub.numPat())
	case "replication":
		line("role", "master")
		line("connected_slaves", 0)
	case "cpu":
		line("go_goroutines", runtime.NumGoroutine())
		line("go_maxprocs", runtime.GOMAXPROCS(0))
	case "keyspace":
		for db := range s.dbs {
			keys, expires := s.ks.counts(db)
			if keys > 0 {
				fmt.Fprintf(b, "db%d:keys=%d,expires=%d,avg_ttl=0\r\n", db, keys, expires)
			}
		}
	case "commandstats":
		names := make([]string, 0, len(st.CommandCounts))
		for name := range st.CommandCounts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(b, "cmdstat_%s:calls=%d\r\n", name, st.CommandCounts[name])
		}
	}
}

var errNoRDB = "ERR gantry keeps no RDB snapshots; with appendonly yes the append-only file is the saved state"

// cmdSave makes the append-only file durable now.
func cmdSave(c *client, args [][]byte) {
	a := c.s.aof.Load()
	if a == nil {
		c.w.Error(errNoRDB)
		return
	}
	if err := a.syncAll(); err != nil {
		c.w.Error("ERR " + err.Error())
		return
	}
	c.s.lastSave.Store(time.Now().Unix())
	c.w.OK()
}

// cmdBGSave rewrites the append-only file in the background.
func cmdBGSave(c *client, args [][]byte) {
	a := c.s.aof.Load()
	if a == nil {
		c.w.Error(errNoRDB)
		return
	}
	a.requestRewrite()
	c.w.Status("Background saving started")
}

func cmdLastSave(c *client, args [][]byte) { c.w.Int(c.s.lastSave.Load()) }

// cmdShutdown makes the append-only file durable and stops the server: Serve
// returns and the program drains. Like Redis it sends no reply.
func cmdShutdown(c *client, args [][]byte) {
	for _, a := range args[1:] {
		switch opt := string(a); {
		case eqFold(opt, "nosave"), eqFold(opt, "save"), eqFold(opt, "now"), eqFold(opt, "force"):
		case eqFold(opt, "abort"):
			c.w.Error("ERR No shutdown in progress.")
			return
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	if a := c.s.aof.Load(); a != nil {
		if err := a.syncAll(); err != nil {
			c.w.Error("ERR Errors trying to SHUTDOWN. Check logs.")
			return
		}
	}
	c.s.log.Info("SHUTDOWN requested by a client", "id", c.id, "addr", c.addr)
	c.s.stopReqOnce.Do(func() { close(c.s.stopReq) })
	c.closeAfter = true
}

func cmdBGRewriteAOF(c *client, args [][]byte) {
	a := c.s.aof.Load()
	if a == nil {
		c.w.Error("ERR appendonly is off: there is no file to rewrite")
		return
	}
	a.requestRewrite()
	c.w.Status("Background append only file rewriting started")
}

func (ks *keyspace) counts(db int) (keys, expires int64) {
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		keys += int64(sh.dbs[db].len())
		expires += int64(sh.vol[db].len())
		sh.mu.Unlock()
	}
	return
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + "G"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + "M"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 2, 64) + "K"
	}
	return strconv.FormatInt(n, 10) + "B"
}
