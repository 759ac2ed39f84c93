package cache

import (
	"sort"
	"strings"
)

// spec is the compact form of a command table row: name, arity, flags (space
// separated, as COMMAND INFO names them, plus gantry's own "all", "nomulti" and
// "subok"), key positions.
type spec struct {
	name              string
	arity             int
	flags             string
	first, last, step int
	fn                func(c *client, args [][]byte)
}

func parseFlags(s string) flag {
	var f flag
	for _, w := range strings.Fields(s) {
		switch w {
		case "write":
			f |= fWrite
		case "readonly":
			f |= fReadonly
		case "denyoom":
			f |= fDenyOOM
		case "admin":
			f |= fAdmin
		case "pubsub":
			f |= fPubsub
		case "fast":
			f |= fFast
		case "noauth":
			f |= fNoAuth
		case "loading":
			f |= fLoading
		case "stale":
			f |= fStale
		case "blocking":
			f |= fBlocking
		case "nomulti":
			f |= fNoMulti
		case "all":
			f |= fAllKeys
		case "subok":
			f |= fSubOK
		default:
			panic("cache: unknown command flag " + w)
		}
	}
	return f
}

func build(s spec) *command {
	return &command{name: s.name, arity: s.arity, flags: parseFlags(s.flags), first: s.first, last: s.last, step: s.step, fn: s.fn}
}

// commandTable returns every command, keyed by lower-case name. The arities, flags
// and key positions are Redis 7.0's.
func commandTable() (map[string]*command, []*command) {
	top := []spec{
		// connection and server
		{"ping", -1, "fast stale subok", 0, 0, 0, cmdPing},
		{"echo", 2, "fast stale", 0, 0, 0, cmdEcho},
		{"hello", -1, "noauth fast stale loading", 0, 0, 0, cmdHello},
		{"auth", -2, "noauth fast stale loading", 0, 0, 0, cmdAuth},
		{"select", 2, "fast loading stale", 0, 0, 0, cmdSelect},
		{"quit", -1, "noauth fast stale loading nomulti subok", 0, 0, 0, cmdQuit},
		{"reset", 1, "noauth fast stale loading nomulti subok", 0, 0, 0, cmdReset},
		{"time", 1, "fast loading stale", 0, 0, 0, cmdTime},
		{"bgrewriteaof", 1, "admin", 0, 0, 0, cmdBGRewriteAOF},
		{"save", 1, "admin", 0, 0, 0, cmdSave},
		{"bgsave", -1, "admin", 0, 0, 0, cmdBGSave},
		{"lastsave", 1, "fast loading stale", 0, 0, 0, cmdLastSave},
		{"shutdown", -1, "admin loading stale nomulti", 0, 0, 0, cmdShutdown},
		{"info", -1, "loading stale", 0, 0, 0, cmdInfo},
		{"dbsize", 1, "readonly fast all", 0, 0, 0, cmdDBSize},
		{"flushdb", -1, "write all", 0, 0, 0, cmdFlushDB},
		{"flushall", -1, "write all", 0, 0, 0, cmdFlushDB},
		{"multi", 1, "fast loading stale nomulti", 0, 0, 0, cmdMulti},
		{"exec", 1, "loading stale nomulti", 0, 0, 0, cmdExec},
		{"discard", 1, "fast loading stale nomulti", 0, 0, 0, cmdDiscard},
		{"watch", -2, "fast loading stale nomulti", 1, -1, 1, cmdWatch},
		{"unwatch", 1, "fast loading stale", 0, 0, 0, cmdUnwatch},
		{"subscribe", -2, "pubsub loading stale subok", 0, 0, 0, cmdSubscribe},
		{"psubscribe", -2, "pubsub loading stale subok", 0, 0, 0, cmdSubscribe},
		{"unsubscribe", -1, "pubsub loading stale subok", 0, 0, 0, cmdUnsubscribe},
		{"punsubscribe", -1, "pubsub loading stale subok", 0, 0, 0, cmdUnsubscribe},
		{"publish", 3, "pubsub loading stale fast", 0, 0, 0, cmdPublish},
		// keys
		{"del", -2, "write", 1, -1, 1, cmdDel},
		{"unlink", -2, "write fast", 1, -1, 1, cmdDel},
		{"exists", -2, "readonly fast", 1, -1, 1, cmdExists},
		{"touch", -2, "readonly fast", 1, -1, 1, cmdTouch},
		{"expire", -3, "write fast", 1, 1, 1, cmdExpire},
		{"pexpire", -3, "write fast", 1, 1, 1, cmdExpire},
		{"expireat", -3, "write fast", 1, 1, 1, cmdExpire},
		{"pexpireat", -3, "write fast", 1, 1, 1, cmdExpire},
		{"ttl", 2, "readonly fast", 1, 1, 1, cmdTTL},
		{"pttl", 2, "readonly fast", 1, 1, 1, cmdTTL},
		{"expiretime", 2, "readonly fast", 1, 1, 1, cmdTTL},
		{"pexpiretime", 2, "readonly fast", 1, 1, 1, cmdTTL},
		{"persist", 2, "write fast", 1, 1, 1, cmdPersist},
		{"type", 2, "readonly fast", 1, 1, 1, cmdType},
		{"keys", 2, "readonly all", 0, 0, 0, cmdKeys},
		{"scan", -2, "readonly all", 0, 0, 0, cmdScan},
		{"randomkey", 1, "readonly all", 0, 0, 0, cmdRandomKey},
		{"rename", 3, "write", 1, 2, 1, cmdRename},
		{"renamenx", 3, "write fast", 1, 2, 1, cmdRename},
		{"copy", -3, "write denyoom", 1, 2, 1, cmdCopy},
		{"move", 3, "write fast", 1, 1, 1, cmdMove},
		// strings
		{"get", 2, "readonly fast", 1, 1, 1, cmdGet},
		{"set", -3, "write denyoom", 1, 1, 1, cmdSet},
		{"setnx", 3, "write denyoom fast", 1, 1, 1, cmdSetNX},
		{"setex", 4, "write denyoom", 1, 1, 1, cmdSetEX},
		{"psetex", 4, "write denyoom", 1, 1, 1, cmdSetEX},
		{"getset", 3, "write denyoom fast", 1, 1, 1, cmdGetSet},
		{"getdel", 2, "write fast", 1, 1, 1, cmdGetDel},
		{"getex", -2, "write fast", 1, 1, 1, cmdGetEx},
		{"mget", -2, "readonly fast", 1, -1, 1, cmdMGet},
		{"mset", -3, "write denyoom", 1, -1, 2, cmdMSet},
		{"msetnx", -3, "write denyoom", 1, -1, 2, cmdMSet},
		{"incr", 2, "write denyoom fast", 1, 1, 1, cmdIncr},
		{"decr", 2, "write denyoom fast", 1, 1, 1, cmdDecr},
		{"incrby", 3, "write denyoom fast", 1, 1, 1, cmdIncrBy},
		{"decrby", 3, "write denyoom fast", 1, 1, 1, cmdDecrBy},
		{"incrbyfloat", 3, "write denyoom fast", 1, 1, 1, cmdIncrByFloat},
		{"append", 3, "write denyoom fast", 1, 1, 1, cmdAppend},
		{"strlen", 2, "readonly fast", 1, 1, 1, cmdStrlen},
		{"getrange", 4, "readonly", 1, 1, 1, cmdGetRange},
		{"substr", 4, "readonly", 1, 1, 1, cmdGetRange},
		{"setrange", 4, "write denyoom", 1, 1, 1, cmdSetRange},
		// lists
		{"lpush", -3, "write denyoom fast", 1, 1, 1, cmdPush},
		{"rpush", -3, "write denyoom fast", 1, 1, 1, cmdPush},
		{"lpushx", -3, "write denyoom fast", 1, 1, 1, cmdPush},
		{"rpushx", -3, "write denyoom fast", 1, 1, 1, cmdPush},
		{"lpop", -2, "write fast", 1, 1, 1, cmdPop},
		{"rpop", -2, "write fast", 1, 1, 1, cmdPop},
		{"llen", 2, "readonly fast", 1, 1, 1, cmdLLen},
		{"lrange", 4, "readonly", 1, 1, 1, cmdLRange},
		{"lindex", 3, "readonly", 1, 1, 1, cmdLIndex},
		{"lset", 4, "write denyoom", 1, 1, 1, cmdLSet},
		{"lrem", 4, "write", 1, 1, 1, cmdLRem},
		{"ltrim", 4, "write", 1, 1, 1, cmdLTrim},
		{"linsert", 5, "write denyoom", 1, 1, 1, cmdLInsert},
		{"lmove", 5, "write denyoom", 1, 2, 1, cmdLMove},
		{"lpos", -3, "readonly", 1, 1, 1, cmdLPos},
		{"lmpop", -4, "write all", 0, 0, 0, cmdLMPop}, // movablekeys in Redis: gantry locks every shard
		{"rpoplpush", 3, "write denyoom", 1, 2, 1, cmdLMove},
		{"blpop", -3, "write blocking", 1, -2, 1, cmdBPop},
		{"brpop", -3, "write blocking", 1, -2, 1, cmdBPop},
		{"blmove", 6, "write denyoom blocking", 1, 2, 1, cmdBLMove},
		// hashes
		{"hset", -4, "write denyoom fast", 1, 1, 1, cmdHSet},
		{"hmset", -4, "write denyoom fast", 1, 1, 1, cmdHSet},
		{"hsetnx", 4, "write denyoom fast", 1, 1, 1, cmdHSetNX},
		{"hget", 3, "readonly fast", 1, 1, 1, cmdHGet},
		{"hmget", -3, "readonly fast", 1, 1, 1, cmdHMGet},
		{"hdel", -3, "write fast", 1, 1, 1, cmdHDel},
		{"hexists", 3, "readonly fast", 1, 1, 1, cmdHExists},
		{"hlen", 2, "readonly fast", 1, 1, 1, cmdHLen},
		{"hstrlen", 3, "readonly fast", 1, 1, 1, cmdHStrlen},
		{"hgetall", 2, "readonly", 1, 1, 1, cmdHGetAll},
		{"hkeys", 2, "readonly", 1, 1, 1, cmdHGetAll},
		{"hvals", 2, "readonly", 1, 1, 1, cmdHGetAll},
		{"hincrby", 4, "write denyoom fast", 1, 1, 1, cmdHIncrBy},
		{"hincrbyfloat", 4, "write denyoom fast", 1, 1, 1, cmdHIncrByFloat},
		{"hscan", -3, "readonly", 1, 1, 1, cmdHScan},
		// sets
		{"sadd", -3, "write denyoom fast", 1, 1, 1, cmdSAdd},
		{"srem", -3, "write fast", 1, 1, 1, cmdSRem},
		{"smembers", 2, "readonly", 1, 1, 1, cmdSMembers},
		{"sismember", 3, "readonly fast", 1, 1, 1, cmdSIsMember},
		{"smismember", -3, "readonly fast", 1, 1, 1, cmdSMIsMember},
		{"scard", 2, "readonly fast", 1, 1, 1, cmdSCard},
		{"spop", -2, "write fast", 1, 1, 1, cmdSPop},
		{"srandmember", -2, "readonly", 1, 1, 1, cmdSPop},
		{"sinter", -2, "readonly", 1, -1, 1, cmdSetAlgebra},
		{"sunion", -2, "readonly", 1, -1, 1, cmdSetAlgebra},
		{"sdiff", -2, "readonly", 1, -1, 1, cmdSetAlgebra},
		{"sinterstore", -3, "write denyoom", 1, -1, 1, cmdSetAlgebra},
		{"sunionstore", -3, "write denyoom", 1, -1, 1, cmdSetAlgebra},
		{"sdiffstore", -3, "write denyoom", 1, -1, 1, cmdSetAlgebra},
		{"sscan", -3, "readonly", 1, 1, 1, cmdSScan},
		{"smove", 4, "write fast", 1, 2, 1, cmdSMove},
		{"sintercard", -3, "readonly all", 0, 0, 0, cmdSInterCard}, // movablekeys, as lmpop
		// sorted sets
		{"zadd", -4, "write denyoom fast", 1, 1, 1, cmdZAdd},
		{"zrem", -3, "write fast", 1, 1, 1, cmdZRem},
		{"zscore", 3, "readonly fast", 1, 1, 1, cmdZScore},
		{"zmscore", -3, "readonly fast", 1, 1, 1, cmdZMScore},
		{"zincrby", 4, "write denyoom fast", 1, 1, 1, cmdZIncrBy},
		{"zcard", 2, "readonly fast", 1, 1, 1, cmdZCard},
		{"zcount", 4, "readonly fast", 1, 1, 1, cmdZCount},
		{"zrank", 3, "readonly fast", 1, 1, 1, cmdZRank},
		{"zrevrank", 3, "readonly fast", 1, 1, 1, cmdZRank},
		{"zrange", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zrangebyscore", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zrevrange", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zrevrangebyscore", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zrangebylex", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zrevrangebylex", -4, "readonly", 1, 1, 1, cmdZRange},
		{"zlexcount", 4, "readonly fast", 1, 1, 1, cmdZLexCount},
		{"zpopmin", -2, "write fast", 1, 1, 1, cmdZPop},
		{"zpopmax", -2, "write fast", 1, 1, 1, cmdZPop},
		{"zscan", -3, "readonly", 1, 1, 1, cmdZScan},
		{"zrangestore", -5, "write denyoom", 1, 2, 1, cmdZRangeStore},
		{"zremrangebyscore", 4, "write", 1, 1, 1, cmdZRemRange},
		{"zremrangebyrank", 4, "write", 1, 1, 1, cmdZRemRange},
		{"zremrangebylex", 4, "write", 1, 1, 1, cmdZRemRange},
		{"bzpopmin", -3, "write blocking fast", 1, -2, 1, cmdBZPop},
		{"bzpopmax", -3, "write blocking fast", 1, -2, 1, cmdBZPop},
	}
	containers := map[string][]spec{
		"client": {
			{"id", 2, "loading stale", 0, 0, 0, cmdClientID},
			{"setname", 3, "loading stale", 0, 0, 0, cmdClientSetName},
			{"getname", 2, "loading stale", 0, 0, 0, cmdClientGetName},
			{"setinfo", 4, "loading stale", 0, 0, 0, cmdClientSetInfo},
			{"list", -2, "admin loading stale", 0, 0, 0, cmdClientList},
			{"info", 2, "loading stale", 0, 0, 0, cmdClientInfo},
			{"kill", -3, "admin loading stale", 0, 0, 0, cmdClientKill},
			{"help", 2, "loading stale", 0, 0, 0, cmdClientHelp},
		},
		"config": {
			{"get", -3, "admin loading stale", 0, 0, 0, cmdConfigGet},
			{"set", -4, "admin loading stale", 0, 0, 0, cmdConfigSet},
			{"resetstat", 2, "admin loading stale", 0, 0, 0, cmdConfigResetStat},
			{"rewrite", 2, "admin loading stale", 0, 0, 0, cmdConfigRewrite},
			{"help", 2, "loading stale", 0, 0, 0, cmdConfigHelp},
		},
		"command": {
			{"count", 2, "loading stale", 0, 0, 0, cmdCommandCount},
			{"docs", -2, "loading stale", 0, 0, 0, cmdCommandDocs},
			{"info", -2, "loading stale", 0, 0, 0, cmdCommandInfo},
			{"list", -2, "loading stale", 0, 0, 0, cmdCommandList},
			{"getkeys", -4, "loading stale", 0, 0, 0, cmdCommandGetKeys},
			{"help", 2, "loading stale", 0, 0, 0, cmdCommandHelp},
		},
		"object": {
			{"encoding", 3, "readonly", 2, 2, 1, cmdObject},
			{"freq", 3, "readonly", 2, 2, 1, cmdObject},
			{"idletime", 3, "readonly", 2, 2, 1, cmdObject},
			{"refcount", 3, "readonly", 2, 2, 1, cmdObject},
			{"help", 2, "loading stale", 0, 0, 0, cmdObjectHelp},
		},
		"pubsub": {
			{"channels", -2, "pubsub loading stale", 0, 0, 0, cmdPubsubChannels},
			{"numsub", -2, "pubsub loading stale", 0, 0, 0, cmdPubsubNumSub},
			{"numpat", 2, "pubsub loading stale", 0, 0, 0, cmdPubsubNumPat},
			{"help", 2, "loading stale", 0, 0, 0, cmdPubsubHelp},
		},
	}
	cmds := make(map[string]*command)
	for _, s := range top {
		cmd := build(s)
		cmd.plain = true
		cmds[s.name] = cmd
	}
	for name, subs := range containers {
		parent := &command{name: name, arity: -2, flags: fLoading | fStale, subs: map[string]*command{}}
		for _, s := range subs {
			s.name = name + "|" + s.name
			sub := build(s)
			parent.subs[strings.TrimPrefix(s.name, name+"|")] = sub
		}
		cmds[name] = parent
	}
	// COMMAND with no subcommand lists everything.
	cmds["command"].arity = -1
	cmds["command"].fn = cmdCommand
	var list []*command
	for _, name := range sortedKeys(cmds) {
		cmd := cmds[name]
		if cmd.subs == nil || cmd.fn != nil {
			list = append(list, cmd)
		}
		for _, sub := range sortedKeys(cmd.subs) {
			list = append(list, cmd.subs[sub])
		}
	}
	for i, cmd := range list {
		cmd.id = i
	}
	return cmds, list
}

func sortedKeys(m map[string]*command) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
