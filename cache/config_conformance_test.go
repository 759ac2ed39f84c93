package cache

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CONFIG GET and SET in the shapes clients send, byte for byte against
// redis-server 7.0. (Replies with several parameters are left out: Redis orders
// them by its hash table, differently in every process; gantry sorts them.)
var configScripts = []script{
	{"get", `
CONFIG GET MAXMEMORY
CONFIG GET MaxMemory maxmemory
CONFIG GET maxmemory MAXMEMORY
CONFIG GET MAXMEMORY-POLICY maxmemory-polic?
CONFIG GET maxmemory-polic? MAXMEMORY-POLICY
CONFIG GET maxmem?ry MAXMEMORY
CONFIG GET Timeout
CONFIG GET tim*
CONFIG GET *PPENDONL*
CONFIG GET APPENDFSYNC
CONFIG GET [a]ppendfsync
CONFIG GET requirepass
CONFIG GET MAXCLIENTS
CONFIG GET databases
CONFIG GET save
CONFIG GET client-output-buffer-limit
CONFIG GET CLIENT-OUTPUT-BUFFER-LIMIT
CONFIG GET set-max-intset-entries
CONFIG GET SET-MAX-INTSET-ENTRIES
CONFIG GET zset-max-ziplist-entries
CONFIG GET zset-max-listpack-entries
CONFIG GET zset-max-ziplist-value
CONFIG GET hash-max-listpack-value
CONFIG GET HASH-MAX-ZIPLIST-VALUE
CONFIG GET maxmemory-samples
CONFIG GET lfu-log-factor
CONFIG GET hz
CONFIG GET nosuch
CONFIG GET nosuch*
CONFIG GET nosuch nosuch2
CONFIG GET
CONFIG HELP x
`},
	{"set", `
CONFIG SET MAXMEMORY 1mb
CONFIG GET maxmemory
CONFIG SET maxmemory 0
CONFIG SET Timeout x
CONFIG SET TIMEOUT 1 timeout 2
CONFIG SET timeout 1 TIMEOUT 2
CONFIG SET maxmemory 1 maxmemory-policy noeviction MAXMEMORY 2
CONFIG GET maxmemory
CONFIG SET databases 4
CONFIG SET DATABASES 4
CONFIG SET dir /tmp
CONFIG SET Dir /tmp
CONFIG SET databases 1 nosuch 1
CONFIG SET nosuch 1 databases 1
CONFIG SET maxmemory bad databases 1
CONFIG SET maxmemory 1mb maxmemory-policy bad
CONFIG GET maxmemory
CONFIG GET maxmemory-policy
CONFIG SET maxmemory-policy ALLKEYS-LRU timeout 5
CONFIG GET maxmemory-policy
CONFIG GET timeout
CONFIG SET maxmemory-policy noeviction timeout 0
CONFIG SET save ""
CONFIG GET save
CONFIG SET requirepass ""
CONFIG SET appendfsync always appendfsync no
CONFIG SET client-output-buffer-limit normal\s1\s2
CONFIG SET client-output-buffer-limit NORMAL\s1mb\s512kb\s10
CONFIG GET client-output-buffer-limit
CONFIG SET client-output-buffer-limit normal\s0\s0\s0
CONFIG SET maxmemory
CONFIG SET maxmemory 1 timeout
`},
}

func TestConformanceConfig(t *testing.T) { runScripts(t, configScripts) }

// What redis-server allows and gantry refuses, or answers with its own values:
// the parameters built into gantry are shown but cannot be set, and save takes
// only "".
func TestConfigGantryParameters(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	for _, tc := range []struct{ cmd, want string }{
		{"CONFIG SET hz 100", "-ERR CONFIG SET failed (possibly related to argument 'hz') - can't set immutable config\r\n"},
		{"CONFIG SET HASH-MAX-ZIPLIST-ENTRIES 10", "-ERR CONFIG SET failed (possibly related to argument 'HASH-MAX-ZIPLIST-ENTRIES') - can't set immutable config\r\n"},
		{"CONFIG SET save 900\\s1", `-ERR CONFIG SET failed (possibly related to argument 'save') - gantry writes no RDB snapshots: only "" (none) can be set` + "\r\n"},
		{"CONFIG GET lfu-decay-time", "*2\r\n$14\r\nlfu-decay-time\r\n$1\r\n0\r\n"},
		{"CONFIG GET hash-max-ziplist-entries", "*2\r\n$24\r\nhash-max-ziplist-entries\r\n$3\r\n512\r\n"},
		// Globs see aliases and names alike, in gantry's sorted order.
		{"CONFIG GET zset-max-*", "*8\r\n$25\r\nzset-max-listpack-entries\r\n$3\r\n128\r\n$23\r\nzset-max-listpack-value\r\n$2\r\n64\r\n" +
			"$24\r\nzset-max-ziplist-entries\r\n$3\r\n128\r\n$22\r\nzset-max-ziplist-value\r\n$2\r\n64\r\n"},
	} {
		if got := r.do(splitScriptLine(tc.cmd)...); got != tc.want {
			t.Errorf("%s\n got:  %q\n want: %q", tc.cmd, got, tc.want)
		}
	}
	// CONFIG GET * lists every name once, each with a value.
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rdb.Close()
	all, err := rdb.ConfigGet(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(params) + len(paramAliases); len(all) != want {
		t.Errorf("CONFIG GET * gave %d parameters, want %d: %v", len(all), want, all)
	}
}

// The encoding sizes CONFIG GET shows are those at which OBJECT ENCODING names
// the larger encoding, and at which HSCAN, SSCAN and ZSCAN start to page.
func TestConfigEncodingThresholds(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rdb.Close()
	get := func(name string) int {
		v, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(v[name])
		if err != nil {
			t.Fatalf("CONFIG GET %s = %v", name, v)
		}
		return n
	}
	enc := func(key string) string { return rdb.ObjectEncoding(ctx, key).Val() }
	check := func(what, key, want string) {
		t.Helper()
		if got := enc(key); got != want {
			t.Errorf("%s: OBJECT ENCODING %s = %q, want %q", what, key, got, want)
		}
	}
	// One call of HSCAN/SSCAN/ZSCAN with COUNT 1 returns everything exactly when
	// the collection is in its compact encoding.
	whole := func(scan func() (uint64, error)) bool {
		cur, err := scan()
		if err != nil {
			t.Fatal(err)
		}
		return cur == 0
	}

	n, size := get("hash-max-listpack-entries"), get("hash-max-listpack-value")
	for i := range n {
		rdb.HSet(ctx, "h", "f"+strconv.Itoa(i), "v")
	}
	check("hash at the entries limit", "h", "listpack")
	if !whole(func() (uint64, error) { _, c, err := rdb.HScan(ctx, "h", 0, "", 1).Result(); return c, err }) {
		t.Error("HSCAN of a listpack hash did not answer whole")
	}
	rdb.HSet(ctx, "h", "one-more", "v")
	check("hash past the entries limit", "h", "hashtable")
	if whole(func() (uint64, error) { _, c, err := rdb.HScan(ctx, "h", 0, "", 1).Result(); return c, err }) {
		t.Error("HSCAN of a hashtable hash answered whole")
	}
	rdb.HSet(ctx, "hv", "f", strings.Repeat("v", size))
	check("hash value at the size limit", "hv", "listpack")
	rdb.HSet(ctx, "hv", "g", strings.Repeat("v", size+1))
	check("hash value past the size limit", "hv", "hashtable")
	rdb.HDel(ctx, "hv", "g")
	check("hash after the long value went (Redis never converts back)", "hv", "hashtable")

	n = get("set-max-intset-entries")
	for i := range n {
		rdb.SAdd(ctx, "s", i)
	}
	check("integer set at the entries limit", "s", "intset")
	rdb.SAdd(ctx, "s", n)
	check("integer set past the entries limit", "s", "hashtable")
	rdb.SAdd(ctx, "s2", 1, 2, "x")
	check("set with a non-integer", "s2", "hashtable")

	n, size = get("zset-max-listpack-entries"), get("zset-max-listpack-value")
	for i := range n {
		rdb.ZAdd(ctx, "z", redis.Z{Score: float64(i), Member: "m" + strconv.Itoa(i)})
	}
	check("sorted set at the entries limit", "z", "listpack")
	if !whole(func() (uint64, error) { _, c, err := rdb.ZScan(ctx, "z", 0, "", 1).Result(); return c, err }) {
		t.Error("ZSCAN of a listpack sorted set did not answer whole")
	}
	rdb.ZAdd(ctx, "z", redis.Z{Score: -1, Member: "one-more"})
	check("sorted set past the entries limit", "z", "skiplist")
	rdb.ZAdd(ctx, "zv", redis.Z{Score: 1, Member: strings.Repeat("m", size)})
	check("sorted set member at the size limit", "zv", "listpack")
	rdb.ZAdd(ctx, "zv2", redis.Z{Score: 1, Member: strings.Repeat("m", size+1)})
	check("sorted set member past the size limit", "zv2", "skiplist")
}

// OBJECT ENCODING against redis-server 7.0, per type, small and large. Where
// gantry keeps no trace of how a value was made (a string APPEND or SETRANGE
// changed is raw in Redis however short), or where its thresholds differ, the
// line is marked "!" and the difference is listed in docs/cache.md.
var encodingScripts = []script{
	{"strings", `
SET i 123
OBJECT ENCODING i
SET i -9223372036854775808
OBJECT ENCODING i
SET i 9223372036854775807
OBJECT ENCODING i
SET i 9223372036854775808
OBJECT ENCODING i
SET i 0123
OBJECT ENCODING i
SET i +1
OBJECT ENCODING i
SET i -0
OBJECT ENCODING i
SET i 1.5
OBJECT ENCODING i
INCR n
OBJECT ENCODING n
SET e 12345678901234567890123456789012345678901234
OBJECT ENCODING e
SET r 123456789012345678901234567890123456789012345
OBJECT ENCODING r
APPEND new 12
OBJECT ENCODING new
APPEND new 3
!OBJECT ENCODING new
SETRANGE sr 0 abc
!OBJECT ENCODING sr
INCRBYFLOAT f 1.5
OBJECT ENCODING f
INCRBYFLOAT f 1.5
!OBJECT ENCODING f
GETSET g 42
GETSET g 42
OBJECT ENCODING g
`},
	{"collections", `
RPUSH l a
OBJECT ENCODING l
HSET h f v
OBJECT ENCODING h
HSET hl f 1234567890123456789012345678901234567890123456789012345678901234567890
OBJECT ENCODING hl
SADD s 1 2 3
OBJECT ENCODING s
SADD s x
OBJECT ENCODING s
SREM s x
OBJECT ENCODING s
SADD s2 1 007
OBJECT ENCODING s2
ZADD z 1 a
OBJECT ENCODING z
ZADD z 2 1234567890123456789012345678901234567890123456789012345678901234567890
OBJECT ENCODING z
ZREM z 1234567890123456789012345678901234567890123456789012345678901234567890
!OBJECT ENCODING z
ZADD zm 1 1234567890123456789012345678901234567890123456789012345678901234567890 2 a 3 b 4 c 5 d 6 e 7 f
OBJECT ENCODING zm
OBJECT ENCODING nokey
OBJECT HELP x
`},
}

func TestConformanceObjectEncoding(t *testing.T) { runScripts(t, encodingScripts) }

// OBJECT ENCODING of large values against redis-server 7.0: up to every limit both
// name the compact encoding, past it the larger one.
func TestConformanceObjectEncodingLarge(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	seq := func(cmd, key string, n int, each func(i int) []string) []string {
		args := []string{cmd, key}
		for i := range n {
			args = append(args, each(i)...)
		}
		return args
	}
	long := strings.Repeat("x", 65)
	cases := []struct {
		key  string
		make []string
	}{
		{"str1000", []string{"SET", "str1000", strings.Repeat("v", 1000)}},
		{"list1000", seq("RPUSH", "list1000", 1000, func(i int) []string { return []string{strconv.Itoa(i)} })},
		{"listlong", seq("RPUSH", "listlong", 10, func(i int) []string { return []string{long} })},
		{"hash129", seq("HSET", "hash129", 129, func(i int) []string { return []string{"f" + strconv.Itoa(i), "v"} })},
		{"hash512", seq("HSET", "hash512", 512, func(i int) []string { return []string{"f" + strconv.Itoa(i), "v"} })},
		{"hash513", seq("HSET", "hash513", 513, func(i int) []string { return []string{"f" + strconv.Itoa(i), "v"} })},
		{"hashlong", []string{"HSET", "hashlong", "f", long}},
		{"set512", seq("SADD", "set512", 512, func(i int) []string { return []string{strconv.Itoa(i)} })},
		{"set513", seq("SADD", "set513", 513, func(i int) []string { return []string{strconv.Itoa(i)} })},
		{"setbig", seq("SADD", "setbig", 3, func(i int) []string { return []string{strconv.Itoa(i) + "9223372036854775807"} })},
		{"zset128", seq("ZADD", "zset128", 128, func(i int) []string { return []string{strconv.Itoa(i), "m" + strconv.Itoa(i)} })},
		{"zset129", seq("ZADD", "zset129", 129, func(i int) []string { return []string{strconv.Itoa(i), "m" + strconv.Itoa(i)} })},
		{"zsetlong", []string{"ZADD", "zsetlong", "1", long}},
	}
	rc, gc := dialRaw(t, redisAddr), dialRaw(t, gantryAddr)
	for _, tc := range cases {
		if want, got := rc.do(tc.make...), gc.do(tc.make...); got != want {
			t.Fatalf("%s %s ...: redis %q, gantry %q", tc.make[0], tc.key, want, got)
		}
		want, got := rc.do("OBJECT", "ENCODING", tc.key), gc.do("OBJECT", "ENCODING", tc.key)
		if got != want {
			t.Errorf("OBJECT ENCODING %s: redis %q, gantry %q", tc.key, want, got)
		}
	}
}

// Config.OutputLimits is checked by New, and ParseOutputLimits reads the
// redis.conf form class by class, with errors that name the setting.
func TestConfigOutputLimits(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{OutputLimits: OutputLimits{Normal: OutputLimit{Hard: -1}}}, "cache: OutputLimits.Normal.Hard must not be negative, not -1"},
		{Config{OutputLimits: OutputLimits{Pubsub: OutputLimit{Hard: 1, SoftSeconds: -5}}}, "cache: OutputLimits.Pubsub.SoftSeconds must not be negative, not -5"},
		{Config{OutputLimits: OutputLimits{Replica: OutputLimit{Soft: -1}}}, "cache: OutputLimits.Replica.Soft must not be negative, not -1"},
		{Config{OutputBufferLimit: -1}, "cache: OutputBufferLimit must not be negative, not -1"},
	} {
		if _, err := New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg.OutputLimits, err, tc.want)
		}
	}
	base, err := ParseOutputLimits(OutputLimits{}, "normal 1mb 512kb 10 pubsub 32mb 8mb 60")
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOutputLimits(base, "REPLICA 2gb 1gb 5 Pubsub 1 2 3")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.String(), "normal 1048576 524288 10 slave 2147483648 1073741824 5 pubsub 1 2 3"; got != want {
		t.Errorf("limits = %q, want %q", got, want)
	}
	for v, want := range map[string]string{
		"normal 1 2":          `client-output-buffer-limit "normal 1 2": Wrong number of arguments in buffer limit configuration.`,
		"master 1 2 3":        `client-output-buffer-limit "master 1 2 3": Invalid client class specified in buffer limit configuration.`,
		"normal 1 2 x":        `client-output-buffer-limit "normal 1 2 x": Error in hard, soft or soft_seconds setting in buffer limit configuration.`,
		"normal 1 2 3 pubsub": `client-output-buffer-limit "normal 1 2 3 pubsub": Wrong number of arguments in buffer limit configuration.`,
	} {
		got, err := ParseOutputLimits(base, v)
		if err == nil || err.Error() != want {
			t.Errorf("ParseOutputLimits(%q) = %v, want %q", v, err, want)
		}
		if got != base {
			t.Errorf("ParseOutputLimits(%q) changed the limits to %v", v, got)
		}
	}
	// Limits given in Config are what CONFIG GET shows.
	_, addr := startServer(t, Config{OutputLimits: o})
	if got := dialRaw(t, addr).do("CONFIG", "GET", "client-output-buffer-limit"); !strings.HasSuffix(got, "$"+strconv.Itoa(len(o.String()))+"\r\n"+o.String()+"\r\n") {
		t.Errorf("CONFIG GET client-output-buffer-limit = %q, want %q", got, o.String())
	}
}
