package cache

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// param is one CONFIG GET/SET parameter.
type param struct {
	get func(cfg *Config) string
	set func(cfg *Config, v string) bool // nil: fixed while the server runs
	// fixed is why CONFIG SET refuses a parameter without set, in Redis's words:
	// "immutable" (Redis cannot change it either, or gantry's is built in) or
	// "protected" (dir: Redis refuses it unless enable-protected-configs).
	fixed string
	// bad ends CONFIG SET's error when set refuses a value; Redis's text for
	// numbers when empty.
	bad string
	// badFor, when set, gives bad for the value refused.
	badFor func(v string) string
	// An integer's bounds, when max is set: a number outside them gets Redis's
	// range error rather than bad.
	min, max int64
}

var params = map[string]param{
	"maxmemory": {
		get: func(cfg *Config) string { return strconv.FormatInt(cfg.MaxMemory, 10) },
		set: func(cfg *Config, v string) bool {
			n, ok := parseMemory(v)
			if ok {
				cfg.MaxMemory = n
			}
			return ok
		},
		bad: "argument must be a memory value",
	},
	"maxmemory-policy": {
		get: func(cfg *Config) string { return cfg.MaxMemoryPolicy },
		set: func(cfg *Config, v string) bool {
			v = strings.ToLower(v)
			if !validPolicy(v) {
				return false
			}
			cfg.MaxMemoryPolicy = v
			return true
		},
		bad: "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
	},
	"requirepass": {
		get: func(cfg *Config) string { return cfg.RequirePass },
		set: func(cfg *Config, v string) bool { cfg.RequirePass = v; return true },
	},
	"timeout": {
		get: func(cfg *Config) string { return strconv.FormatInt(int64(cfg.Timeout/time.Second), 10) },
		set: func(cfg *Config, v string) bool {
			n, ok := parseInt([]byte(v))
			if !ok || n < 0 || n > math.MaxInt32 {
				return false
			}
			cfg.Timeout = time.Duration(n) * time.Second
			return true
		},
		max: math.MaxInt32,
	},
	"maxclients": {
		get: func(cfg *Config) string { return strconv.Itoa(cfg.MaxClients) },
		set: func(cfg *Config, v string) bool {
			n, ok := parseInt([]byte(v))
			if !ok || n < 1 || n > math.MaxUint32 {
				return false
			}
			cfg.MaxClients = int(n)
			return true
		},
		min: 1, max: math.MaxUint32,
	},
	"databases": {get: func(cfg *Config) string { return strconv.Itoa(cfg.Databases) }, fixed: immutable},
	"appendonly": {
		get: func(cfg *Config) string {
			if cfg.AppendOnly {
				return "yes"
			}
			return "no"
		},
		set: func(cfg *Config, v string) bool {
			switch strings.ToLower(v) {
			case "yes":
				cfg.AppendOnly = true
			case "no":
				cfg.AppendOnly = false
			default:
				return false
			}
			return true
		},
		bad: "argument must be 'yes' or 'no'",
	},
	"appendfsync": {
		get: func(cfg *Config) string { return cfg.AppendFsync },
		set: func(cfg *Config, v string) bool {
			switch v = strings.ToLower(v); v {
			case "always", "everysec", "no":
				cfg.AppendFsync = v
				return true
			}
			return false
		},
		bad: "argument(s) must be one of the following: everysec, always, no",
	},
	"client-output-buffer-limit": {
		get: func(cfg *Config) string { return cfg.OutputLimits.String() },
		set: func(cfg *Config, v string) bool {
			o, bad := parseOutputLimits(cfg.OutputLimits, v)
			cfg.OutputLimits = o
			return bad == ""
		},
		badFor: func(v string) string {
			_, bad := parseOutputLimits(OutputLimits{}, v)
			return bad
		},
	},
	"dir": {get: func(cfg *Config) string { return cfg.Dir }, fixed: protected},
	// No RDB snapshots: save is always off, and CONFIG SET save "" (which test
	// suites and scripts send to turn snapshots off) is all it takes.
	"save": {
		get: func(cfg *Config) string { return "" },
		set: func(cfg *Config, v string) bool { return strings.TrimSpace(v) == "" },
		bad: "gantry writes no RDB snapshots: only \"\" (none) can be set",
	},

	// The sizes up to which gantry names a collection by Redis's compact
	// encoding (OBJECT ENCODING) and answers HSCAN, SSCAN and ZSCAN in one call:
	// built in (types.go, zset.go), so CONFIG GET tells them and CONFIG SET
	// refuses them. TestConfigEncodingThresholds holds OBJECT ENCODING to them.
	"hash-max-listpack-entries": fixedInt(hashMaxListpackEntries),
	"hash-max-listpack-value":   fixedInt(hashMaxListpackValue),
	"set-max-intset-entries":    fixedInt(setMaxIntsetEntries),
	"zset-max-listpack-entries": fixedInt(zsetMaxListpackEntries),
	"zset-max-listpack-value":   fixedInt(zsetMaxListpackValue),

	// Eviction samples five keys (evict.go); the LFU counter is Redis's with
	// its default factor, and never decays (0 is Redis's "never"); the active
	// expiry runs ten times a second (server.go). Built in as well.
	"maxmemory-samples": fixedInt(5),
	"lfu-log-factor":    fixedInt(10),
	"lfu-decay-time":    fixedInt(0),
	"hz":                fixedInt(10),
}

// The thresholds of the compact encodings gantry names (see params).
const (
	hashMaxListpackEntries = 512 // Redis 7.0's, built in and in its redis.conf
	hashMaxListpackValue   = 64
	setMaxIntsetEntries    = 512
	zsetMaxListpackEntries = 128
	zsetMaxListpackValue   = 64
)

// What CONFIG SET says of a parameter it cannot change, as Redis 7.0 does.
const (
	immutable = "can't set immutable config"
	protected = "can't set protected config"
)

func fixedInt(n int) param {
	return param{get: func(*Config) string { return strconv.Itoa(n) }, fixed: immutable}
}

// paramAliases are Redis 7.0's other names of parameters gantry has (the
// encodings were called ziplists before 7.0). CONFIG GET lists them as Redis
// does, under both names.
var paramAliases = map[string]string{
	"hash-max-ziplist-entries": "hash-max-listpack-entries",
	"hash-max-ziplist-value":   "hash-max-listpack-value",
	"zset-max-ziplist-entries": "zset-max-listpack-entries",
	"zset-max-ziplist-value":   "zset-max-listpack-value",
}

// lookupParam finds a parameter by any of its names, in any case; canon is its
// own name.
func lookupParam(name string) (p param, canon string, ok bool) {
	name = strings.ToLower(name)
	if a, isAlias := paramAliases[name]; isAlias {
		name = a
	}
	p, ok = params[name]
	return p, name, ok
}

// parseMemory parses a redis.conf memory size: 100, 1k, 1kb, 1m, 1mb, 1g, 1gb.
func parseMemory(v string) (int64, bool) {
	v = strings.ToLower(v)
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mul = strings.TrimSuffix(v, u.suffix), u.mul
			break
		}
	}
	n, ok := parseInt([]byte(v))
	if !ok || n < 0 || n > math.MaxInt64/mul {
		return 0, false
	}
	return n * mul, true
}

// cmdConfigGet answers every parameter any pattern names, once. As in Redis, a
// pattern without glob characters is looked up by name and answered under the
// name as the client wrote it; a glob is matched, ignoring case, against every
// name (aliases too) and answered under the names it matched. Redis answers in
// its hash table's order, which changes from process to process; gantry sorts.
func cmdConfigGet(c *client, args [][]byte) {
	cfg := c.s.config()
	type match struct{ name, canon string }
	var out []match
	seen := func(name string) bool {
		for _, m := range out {
			if strings.EqualFold(m.name, name) {
				return true
			}
		}
		return false
	}
	for _, pat := range args[2:] {
		if !bytes.ContainsAny(pat, "*?[") {
			if _, canon, ok := lookupParam(string(pat)); ok && !seen(string(pat)) {
				out = append(out, match{string(pat), canon})
			}
			continue
		}
		for _, name := range paramNames() {
			if !seen(name) && globMatch(pat, []byte(name), true) {
				_, canon, _ := lookupParam(name)
				out = append(out, match{name, canon})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	c.w.Map(len(out))
	for _, m := range out {
		c.w.BulkString(m.name)
		c.w.BulkString(params[m.canon].get(&cfg))
	}
}

// paramNames lists every parameter's names, aliases included.
func paramNames() []string {
	names := make([]string, 0, len(params)+len(paramAliases))
	for n := range params {
		names = append(names, n)
	}
	for n := range paramAliases {
		names = append(names, n)
	}
	return names
}

// cmdConfigSet checks every name first, as Redis does (the first unknown,
// unchangeable or repeated one is the error, named as written), then sets the
// values in order; a value refused leaves every parameter as it was.
func cmdConfigSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		// The table's arity (-4) answered fewer; an odd count is Redis's syntax error.
		c.w.Error("ERR syntax error")
		return
	}
	var canons []string
	for i := 2; i < len(args); i += 2 {
		p, canon, ok := lookupParam(string(args[i]))
		if !ok {
			c.w.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[i]) + "'")
			return
		}
		if p.set == nil {
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + string(args[i]) + "') - " + p.fixed)
			return
		}
		if slices.Contains(canons, canon) {
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + string(args[i]) + "') - duplicate parameter")
			return
		}
		canons = append(canons, canon)
	}
	c.s.cfgMu.Lock()
	cfg := c.s.cfg
	wasAOF := cfg.AppendOnly
	for j, name := range canons {
		p, v := params[name], args[3+2*j]
		if !p.set(&cfg, string(v)) {
			c.s.cfgMu.Unlock()
			bad := p.bad
			if p.badFor != nil {
				bad = p.badFor(string(v))
			}
			if bad == "" {
				bad = "argument couldn't be parsed into an integer"
			}
			if n, ok := parseInt(v); ok && p.max != 0 && (n < p.min || n > p.max) {
				bad = "argument must be between " + strconv.FormatInt(p.min, 10) + " and " + strconv.FormatInt(p.max, 10) + " inclusive"
			}
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + bad)
			return
		}
	}
	if cfg.MaxMemory != c.s.cfg.MaxMemory {
		c.s.applyMemoryLimit(cfg.MaxMemory)
	}
	newTimeout := cfg.Timeout != c.s.cfg.Timeout
	c.s.cfg = cfg
	c.s.maxMemory.Store(cfg.MaxMemory)
	c.s.timeout.Store(int64(cfg.Timeout))
	if cfg.OutputLimits != *c.s.outLimits.Load() {
		lim := cfg.OutputLimits
		c.s.outLimits.Store(&lim)
	}
	if a := c.s.aof.Load(); a != nil {
		a.mode.Store(cfg.AppendFsync)
	}
	c.s.cfgMu.Unlock()
	if newTimeout {
		// A loop parked without a deadline has no sweep due: wake it to arm one.
		c.s.mu.Lock()
		c.s.wakeLoops()
		c.s.mu.Unlock()
	}
	c.s.lfu.Store(strings.HasSuffix(cfg.MaxMemoryPolicy, "lfu"))
	if cfg.AppendOnly != wasAOF && !c.setAppendOnly(cfg) {
		return
	}
	c.w.OK()
}

// setAppendOnly applies CONFIG SET appendonly (Server.setAppendOnly); on an error
// it puts the setting back and answers the error.
func (c *client) setAppendOnly(cfg Config) bool {
	var err error
	if c.inExec {
		// EXEC holds its shards' locks, and the switch takes every shard's.
		err = errors.New("cannot be changed inside MULTI")
	} else {
		err = c.s.setAppendOnly(cfg.AppendOnly, cfg.Dir, cfg.AppendFsync)
	}
	if err == nil {
		return true
	}
	on := c.s.aof.Load() != nil
	c.s.cfgMu.Lock()
	c.s.cfg.AppendOnly = on
	c.s.cfgMu.Unlock()
	c.w.Error("ERR CONFIG SET failed (possibly related to argument 'appendonly') - " + err.Error())
	return false
}

func cmdConfigResetStat(c *client, args [][]byte) {
	ks := c.s.ks
	ks.expired.Store(0)
	ks.evicted.Store(0)
	c.s.mu.Lock()
	c.s.retired.reset()
	for _, cl := range c.s.clients {
		cl.stats.reset()
	}
	c.s.mu.Unlock()
	c.w.OK()
}

func cmdConfigRewrite(c *client, args [][]byte) {
	c.w.Error("ERR The server is running without a config file")
}
