package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gantry/cache"
	"gantry/internal/admin"
)

// cacheSettings are the redis.conf directives gantry cache understands, as flags
// and as lines of a --config file.
type cacheSettings struct {
	maxmemory   string
	policy      string
	appendonly  string
	appendfsync string
	requirepass string
	timeout     int
	maxclients  int
	databases   int
	// outputLimits is client-output-buffer-limit: class hard soft seconds groups.
	outputLimits string
}

func runCache(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "cache", "cache [--addr ADDR] [--admin ADDR] [--dir DIR] [--config FILE] [redis.conf settings as flags]",
		"Cache runs the Redis-protocol cache server: redis-cli, redis-benchmark and Redis client\n"+
			"libraries talk to it as to Redis 7 (see docs/cache.md). --config reads a redis.conf-style\n"+
			"file (\"maxmemory 100mb\" per line); flags given on the command line override it.")
	addr := fs.String("addr", "127.0.0.1:6379", "listen address")
	adminAddr := fs.String("admin", "127.0.0.1:9379", `admin listener address (metrics, health, pprof); "" for none`)
	dir := fs.String("dir", ".", "directory of the append-only file")
	config := fs.String("config", "", "redis.conf-style configuration file")
	drain := fs.Duration("drain", 5*time.Second, "how long shutdown waits for connections")
	var set cacheSettings
	fs.StringVar(&set.maxmemory, "maxmemory", "0", "memory limit for keys: bytes or 100mb, 1gb; 0 for none")
	fs.StringVar(&set.policy, "maxmemory-policy", "noeviction", "what happens at maxmemory: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl")
	fs.StringVar(&set.appendonly, "appendonly", "no", "append-only file persistence: yes or no")
	fs.StringVar(&set.appendfsync, "appendfsync", "everysec", "AOF fsync policy: always, everysec, no")
	fs.StringVar(&set.requirepass, "requirepass", "", "password clients must give with AUTH")
	fs.IntVar(&set.timeout, "timeout", 0, "close connections idle this many seconds; 0 never")
	fs.IntVar(&set.maxclients, "maxclients", 10000, "most connections at once")
	fs.IntVar(&set.databases, "databases", 16, "number of databases")
	fs.StringVar(&set.outputLimits, "client-output-buffer-limit", "", `output buffer limits, "CLASS HARD SOFT SECONDS" groups (CLASS normal, replica or pubsub), e.g. "normal 256mb 64mb 60"; classes not given keep Redis's defaults`)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *config != "" {
		fileSet, err := readCacheConfig(*config)
		if err != nil {
			return err
		}
		given := map[string]bool{}
		if d, ok := fileSet["dir"]; ok && !flagGiven(fs, "dir") {
			*dir = d
			delete(fileSet, "dir")
		}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for name, v := range fileSet {
			if name == "client-output-buffer-limit" && given[name] {
				// Class by class: the flag's groups come after the file's.
				set.outputLimits = v + " " + set.outputLimits
				continue
			}
			if !given[name] {
				if err := fs.Set(name, v); err != nil {
					return fmt.Errorf("%s: %s: %w", *config, name, err)
				}
			}
		}
	}
	cfg, err := set.config()
	if err != nil {
		return fs.fail(err)
	}
	cfg.Dir = *dir
	// The process runs one server: let it give the Go runtime a memory limit
	// derived from maxmemory, and one P per event loop (see cache.Config.GoMemoryLimit
	// and GoMaxProcs).
	cfg.GoMemoryLimit = true
	cfg.GoMaxProcs = true
	log := fs.logger(s.err)
	cfg.Logger = log
	srv, err := cache.New(cfg)
	if err != nil {
		return fs.fail(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Collector())
	return serve(ctx, srv, serveOptions{
		name:      "cache",
		addr:      *addr,
		adminAddr: *adminAddr,
		admin:     admin.Config{Registry: reg},
		drain:     *drain,
		log:       log,
	})
}

func flagGiven(fs *flagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func (set cacheSettings) config() (cache.Config, error) {
	var cfg cache.Config
	mem, err := parseBytes(set.maxmemory)
	if err != nil {
		return cfg, fmt.Errorf("--maxmemory: %w", err)
	}
	switch set.appendonly {
	case "yes":
		cfg.AppendOnly = true
	case "no":
	default:
		return cfg, fmt.Errorf("--appendonly must be yes or no, not %q", set.appendonly)
	}
	switch set.appendfsync {
	case "always", "everysec", "no":
	default:
		return cfg, fmt.Errorf("--appendfsync must be always, everysec or no, not %q", set.appendfsync)
	}
	if set.timeout < 0 {
		return cfg, fmt.Errorf("--timeout must not be negative")
	}
	cfg.AppendFsync = set.appendfsync
	cfg.MaxMemory = mem
	cfg.MaxMemoryPolicy = set.policy
	cfg.RequirePass = set.requirepass
	cfg.Timeout = time.Duration(set.timeout) * time.Second
	cfg.MaxClients = set.maxclients
	cfg.Databases = set.databases
	if set.outputLimits != "" {
		o, err := cache.ParseOutputLimits(cache.OutputLimits{}, set.outputLimits)
		if err != nil {
			return cfg, fmt.Errorf("--%w", err)
		}
		// cache.Config takes a class left zero for Redis's default, so a
		// replica or pubsub class of 0 0 0 (no limit) cannot be given at start.
		for _, c := range []struct {
			name string
			l    cache.OutputLimit
		}{{"replica", o.Replica}, {"slave", o.Replica}, {"pubsub", o.Pubsub}} {
			if c.l == (cache.OutputLimit{}) && strings.Contains(strings.ToLower(set.outputLimits), c.name) {
				return cfg, fmt.Errorf("--client-output-buffer-limit: %s 0 0 0 (no limit) can only be set with CONFIG SET", c.name)
			}
		}
		cfg.OutputLimits = o
	}
	return cfg, nil
}

// parseBytes reads a redis.conf memory size: 1024, 1k (1000), 1kb (1024), mb, gb.
func parseBytes(s string) (int64, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(l, u.suffix) {
			l, mul = strings.TrimSuffix(l, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mul {
		return 0, fmt.Errorf("%q is not a size (like 100mb)", s)
	}
	return n * mul, nil
}

// cacheDirectives are the redis.conf names a --config file may use.
var cacheDirectives = map[string]bool{
	"maxmemory": true, "maxmemory-policy": true, "appendonly": true, "appendfsync": true,
	"requirepass": true, "timeout": true, "maxclients": true, "databases": true, "dir": true,
	"client-output-buffer-limit": true,
}

// readCacheConfig reads a redis.conf-style file: one "directive value" per line,
// # comments. An unknown directive is an error that names the file and line.
func readCacheConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		name = strings.ToLower(name)
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if !cacheDirectives[name] {
			return nil, fmt.Errorf("%s:%d: unknown directive %q (known: maxmemory, maxmemory-policy, appendonly, appendfsync, requirepass, timeout, maxclients, databases, dir, client-output-buffer-limit)", path, n, name)
		}
		if name == "client-output-buffer-limit" {
			// redis.conf gives one line per class: they add up.
			if _, err := cache.ParseOutputLimits(cache.OutputLimits{}, val); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			val = strings.TrimSpace(out[name] + " " + val)
		}
		out[name] = val
	}
	return out, sc.Err()
}
