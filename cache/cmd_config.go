package cache

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// param is one CONFIG GET/SET parameter.
type param struct {
	get func(cfg *Config) string
	set func(cfg *Config, v string) bool // nil: read-only
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
	"databases": {get: func(cfg *Config) string { return strconv.Itoa(cfg.Databases) }},
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
	"dir":  {get: func(cfg *Config) string { return cfg.Dir }},
	"save": {get: func(cfg *Config) string { return "" }},
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

func cmdConfigGet(c *client, args [][]byte) {
	cfg := c.s.config()
	seen := map[string]bool{}
	var names []string
	for _, pat := range args[2:] {
		for name := range params {
			if !seen[name] && globMatch(pat, []byte(name), true) {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	c.w.Map(len(names))
	for _, n := range names {
		c.w.BulkString(n)
		c.w.BulkString(params[n].get(&cfg))
	}
}

func cmdConfigSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for 'config|set' command")
		return
	}
	c.s.cfgMu.Lock()
	cfg := c.s.cfg
	wasAOF := cfg.AppendOnly
	for i := 2; i < len(args); i += 2 {
		name := lowerString(args[i])
		p, ok := params[name]
		if !ok || p.set == nil {
			c.s.cfgMu.Unlock()
			c.w.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[i]) + "'")
			return
		}
		if !p.set(&cfg, string(args[i+1])) {
			c.s.cfgMu.Unlock()
			bad := p.bad
			if p.badFor != nil {
				bad = p.badFor(string(args[i+1]))
			}
			if bad == "" {
				bad = "argument couldn't be parsed into an integer"
			}
			if n, ok := parseInt(args[i+1]); ok && p.max != 0 && (n < p.min || n > p.max) {
				bad = "argument must be between " + strconv.FormatInt(p.min, 10) + " and " + strconv.FormatInt(p.max, 10) + " inclusive"
			}
			c.w.Error("ERR CONFIG SET failed (possibly related to argument '" + name + "') - " + bad)
			return
		}
	}
	if cfg.MaxMemory != c.s.cfg.MaxMemory {
		c.s.applyMemoryLimit(cfg.MaxMemory)
	}
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
