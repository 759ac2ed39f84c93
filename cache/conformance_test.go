package cache

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The conformance test runs the same command scripts over raw TCP against a real
// redis-server and against gantry cache, and compares every reply byte for byte.
// A line starting with "!" runs on both but is not compared, because its reply
// legitimately differs (a client id, a time, a random pick); each such line says why.
// Fields are split on spaces; "" is an empty argument and \s a space inside one.
var conformance = []script{
	{"connection", `
PING
PING hello
PING a b
ECHO hi
ECHO
SELECT 15
SELECT 16
SELECT -1
SELECT x
SELECT 0
AUTH pass
AUTH user pass
AUTH a b c
HELLO 4
HELLO x
HELLO 2 FOO
NOSUCH a b c
nosuch
GET
SET k
CLIENT
CLIENT NOSUCH
CLIENT SETNAME my-conn
CLIENT GETNAME
CLIENT SETNAME bad\sname
CLIENT SETNAME ""
CLIENT GETNAME
CONFIG FOO
CONFIG GET
CONFIG GET maxmemory
CONFIG GET maxmemory-policy
CONFIG SET nosuch 1
CONFIG SET appendfsync bogus
CONFIG SET appendfsync ALWAYS
CONFIG GET appendfsync
CONFIG SET appendfsync everysec
CONFIG SET maxmemory-policy bogus
CONFIG SET maxmemory bogus
CONFIG SET timeout -1
CONFIG SET timeout 2147483648
CONFIG SET timeout abc
CONFIG SET maxclients 0
CONFIG SET maxclients 4294967296
CONFIG SET maxclients x
OBJECT
OBJECT ENCODING nokey
DBSIZE
`},
	{"strings", `
GET nokey
SET k v
GET k
SET k v2 NX
SET k v3 XX
GET k
SET new v XX
SET new v NX
SET k v NX XX
SET k v EX
SET k v EX 0
SET k v EX -5
SET k v EX abc
SET k v PX 100000 EX 100
SET k v KEEPTTL EX 100
SET k v FOO
SET k v2 GET
SET nokey2 v GET
SET k v EX 100
TTL k
SET k v2 KEEPTTL
TTL k
SET k v3
TTL k
SET k v EXAT 1
GET k
SETNX k v
SETNX k v
SETEX k 0 v
SETEX k x v
SETEX k 100 v
PSETEX k 0 v
GETSET k new
GETSET nokey3 x
GETDEL k
GETDEL k
SET k v
GETEX k EX 100
TTL k
GETEX k PERSIST
TTL k
GETEX k EX 0
GETEX k FOO
GETEX nokey4
MSET a 1 b 2 c 3
MSET a 1 b
MGET a b c nokey
MSETNX a 1 z 2
MSETNX y 1 z 2
MGET y z
STRLEN a
STRLEN nokey
APPEND a 23
APPEND ap hello
GET a
GETRANGE ap 0 -1
GETRANGE ap 1 3
GETRANGE ap -3 -1
GETRANGE ap -1 -3
GETRANGE ap 10 20
GETRANGE ap 0 100
GETRANGE nokey 0 -1
GETRANGE ap x 1
SETRANGE ap 1 EL
GET ap
SETRANGE sr 3 xx
GET sr
SETRANGE ap -1 x
SETRANGE nokey5 0 ""
EXISTS nokey5
SUBSTR ap 0 1
`},
	{"counters", `
INCR n
INCR n
INCRBY n 10
DECR n
DECRBY n 5
INCRBY n x
INCRBY n 1.5
INCRBY n 007
SET s abc
INCR s
SET big 9223372036854775807
INCR big
SET small -9223372036854775808
DECR small
DECRBY n -9223372036854775808
INCRBY n 9223372036854775808
INCRBYFLOAT f 0.1
INCRBYFLOAT f 0.2
INCRBYFLOAT f 1e3
INCRBYFLOAT f -1000.3
INCRBYFLOAT f abc
INCRBYFLOAT s 1
SET e 1.5e2
INCRBYFLOAT e 1
INCRBYFLOAT ff 3.0
INCRBYFLOAT ff 0.00000001
INCRBYFLOAT fi inf
INCRBYFLOAT fi infinity
INCRBYFLOAT fi -INFINITY
OBJECT ENCODING n
OBJECT ENCODING s
SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
OBJECT ENCODING long
`},
	{"keys", `
MSET a 1 b 2 c 3
DEL a nokey
DEL a
EXISTS b b c nokey
TYPE b
TYPE nokey
EXPIRE b 100
TTL b
EXPIRE b 50 NX
EXPIRE b 200 XX
TTL b
EXPIRE b 100 GT
EXPIRE b 300 GT
TTL b
EXPIRE b 400 LT
EXPIRE b 100 LT
TTL b
EXPIRE c 100 XX
EXPIRE c 100 GT
EXPIRE c 100 LT
TTL c
PERSIST c
EXPIRE b 10 NX XX
EXPIRE b 10 GT LT
EXPIRE b 10 FOO
EXPIRE b abc
EXPIRE b 9223372036854775807
EXPIRE nokey 10
PERSIST b
PERSIST b
TTL b
PTTL nokey
PTTL c
EXPIRETIME c
EXPIRETIME nokey
PEXPIREAT b 1
EXISTS b
SET b 2
EXPIRE b -1
EXISTS b
EXPIREAT c 99999999999
EXPIRETIME c
PEXPIRETIME c
RENAME nokey x
RENAME c d
GET d
EXPIRETIME d
RENAME d d
SET e 5
RENAMENX d e
RENAMENX d f
RENAMENX f f
COPY f g
GET g
COPY f g
COPY f g REPLACE
COPY f f
COPY f h DB 16
COPY f h DB 1
COPY f h FOO
MOVE g 1
MOVE g 1
MOVE g 0
MOVE e 99
SELECT 1
GET g
GET h
SELECT 0
KEYS nomatch*
TOUCH e f nokey
UNLINK e f
OBJECT ENCODING g
OBJECT FOO g
`},
	{"lists", `
LPUSH l a b c
RPUSH l d e
LRANGE l 0 -1
LRANGE l 1 2
LRANGE l -2 -1
LRANGE l 5 10
LRANGE l 3 1
LRANGE l x 1
LLEN l
LLEN nokey
LINDEX l 0
LINDEX l -1
LINDEX l 99
LINDEX l x
LSET l 0 C
LSET l 99 x
LSET nokey 0 x
LPOP l
RPOP l
LPOP l 2
LPOP l 0
LPOP l -1
LPOP nokey
LPOP nokey 2
LPOP l 1 2
LRANGE l 0 -1
RPUSH r 1 2 1 3 1 4
LREM r 2 1
LRANGE r 0 -1
LREM r -1 1
LRANGE r 0 -1
LREM r 0 9
LTRIM r 1 -1
LRANGE r 0 -1
LTRIM r 5 10
EXISTS r
RPUSH i a b c
LINSERT i BEFORE b x
LINSERT i AFTER c y
LINSERT i AFTER nope y
LINSERT i MIDDLE b y
LRANGE i 0 -1
LPUSHX nokey a
RPUSHX i z
LMOVE i dst LEFT RIGHT
LMOVE i dst RIGHT LEFT
LMOVE i dst UP LEFT
LRANGE dst 0 -1
RPOPLPUSH i dst
LMOVE nokey dst LEFT LEFT
SET str x
LPUSH str a
LRANGE str 0 -1
LMOVE i str LEFT LEFT
BLPOP nokey str 0.01
BLPOP i 0
BLPOP i -1
BLPOP i x
BRPOP i 0
BLPOP nokey 1e5000
BLPOP nokey 1e-5000
BLPOP nokey 1e4932
BLPOP nokey 1e-400
BLPOP nokey 0.0000001
BLPOP nokey inf
BLPOP nokey -Infinity
BZPOPMIN nokey 1e5000
BZPOPMAX nokey 1e-400
`},
	{"hashes", `
HSET h f1 v1 f2 v2
HSET h f1 x f3 v3
HGET h f1
HGET h nope
HGET nokey f
HMGET h f1 nope f3
HGETALL h
HKEYS h
HVALS h
HLEN h
HEXISTS h f2
HEXISTS h nope
HSTRLEN h f3
HDEL h f2 nope
HGETALL h
HSET h f
HSETNX h f1 y
HSETNX h f9 y
HINCRBY h n 5
HINCRBY h n -10
HINCRBY h f1 1
HINCRBY h n x
HINCRBYFLOAT h fl 0.1
HINCRBYFLOAT h fl 0.2
HINCRBYFLOAT h f1 1
HMSET h a 1 b 2
HGETALL h
HDEL h f1 f3 f9 n fl a b
EXISTS h
SET s x
HGET s f
HSET s f v
HGETALL nokey
`},
	{"sets", `
SADD s 3 1 2
SADD s 2 4
SMEMBERS s
SCARD s
SISMEMBER s 3
SISMEMBER s 9
SMISMEMBER s 1 9 4
SREM s 1 9
SMEMBERS s
SADD t 4 5 6
SINTER s t
SUNION s t
SDIFF s t
SINTERSTORE dst s t
SMEMBERS dst
SUNIONSTORE dst s t
SMEMBERS dst
SDIFFSTORE dst s nokey
SMEMBERS dst
SINTER s nokey
SCARD nokey
SMEMBERS nokey
SET str x
SADD str a
SMEMBERS str
SPOP nokey
SPOP nokey 3
SPOP s -1
SRANDMEMBER nokey
SRANDMEMBER s x
SADD one 7
SPOP one
EXISTS one
OBJECT ENCODING s
SADD s abc
OBJECT ENCODING s
`},
	{"sorted sets", `
ZADD z 1 a 2 b 3 c
ZADD z 1.5 a
ZADD z 1e400 x
ZADD z -1e400 x
ZADD z 1e-400 x
ZADD z 0x1p-2000 x
ZADD z 0x1p5000 x
ZINCRBY z 1e400 a
ZINCRBY z 1e-400 a
ZADD tiny 1e-310 x 0.0e-999 y 2.5e-324 z
ZRANGE tiny 0 -1 WITHSCORES
ZADD tiny 2e-324 w
ZCOUNT tiny 1e-400 1
ZCOUNT tiny (1e-400 1
ZRANGEBYSCORE tiny -1e400 1e400
ZRANGE tiny 1e400 -1e400 BYSCORE REV
DEL tiny
ZSCORE z a
ZSCORE z nope
ZADD z NX 9 a 4 d
ZADD z XX 9 a 5 e
ZADD z XX NX 1 a
ZADD z GT LT 1 a
ZADD z GT NX 1 a
ZADD z INCR 1 a 2 b
ZADD z 1 a 2
ZADD z x a
ZADD z CH 10 a 1 b 0 zz
ZADD z INCR 5 a
ZADD z NX INCR 5 a
ZADD z GT 1 a
ZADD z LT 1 a
ZRANGE z 0 -1 WITHSCORES
ZRANGE z 0 -1
ZRANGE z 1 2
ZRANGE z -2 -1 WITHSCORES
ZREVRANGE z 0 1 WITHSCORES
ZRANGE z 0 -1 REV
ZRANGEBYSCORE z 1 4
ZRANGEBYSCORE z (1 4 WITHSCORES
ZRANGEBYSCORE z -inf +inf LIMIT 1 2
ZRANGEBYSCORE z x 1
ZREVRANGEBYSCORE z 4 1
ZRANGE z 4 1 BYSCORE REV WITHSCORES
ZRANGE z 0 -1 LIMIT 0 1
ZRANGE z (0 +inf BYSCORE LIMIT 0 2
ZCARD z
ZCARD nokey
ZCOUNT z 1 3
ZCOUNT z (1 (3
ZCOUNT z x 1
ZRANK z a
ZRANK z d
ZREVRANK z d
ZRANK z nope
ZINCRBY z 2.5 d
ZINCRBY z x d
ZMSCORE z a nope d
ZREM z a nope
ZPOPMIN z
ZPOPMAX z 2
ZPOPMIN z -1
ZPOPMIN nokey
ZRANGE z 0 -1 WITHSCORES
ZADD f 1.1 x 1e20 y -0.5 w 3 v
ZRANGE f 0 -1 WITHSCORES
ZADD f +inf i -inf j
ZRANGE f 0 -1 WITHSCORES
SET str x
ZADD str 1 a
ZSCORE str a
ZADD lex 0 a 0 b 0 c 0 d 0 e
ZRANGEBYLEX lex - +
ZRANGEBYLEX lex [b (d
ZRANGEBYLEX lex (b [d LIMIT 1 5
ZREVRANGEBYLEX lex + -
ZREVRANGEBYLEX lex [d [b LIMIT 0 1
ZRANGE lex [b + BYLEX
ZRANGE lex + [b BYLEX REV LIMIT 1 2
ZRANGE lex - + BYLEX WITHSCORES
ZRANGE lex - + BYLEX BYSCORE
ZRANGEBYLEX lex a b
ZRANGEBYLEX lex - + WITHSCORES
ZLEXCOUNT lex [b +
ZLEXCOUNT lex x +
ZLEXCOUNT nokey - +
ZRANGEBYLEX str - +
`},
	{"transactions", `
EXEC
DISCARD
MULTI
MULTI
SET a 1
INCR a
GET a
EXEC
MULTI
SET a 2
DISCARD
GET a
MULTI
SET a 3
NOSUCH
EXEC
GET a
MULTI
SET a x
INCR a
GET a
EXEC
WATCH a
MULTI
WATCH b
EXEC
UNWATCH
`},
	{"collection scans", `
HSET h f1 v1 f2 v2 f3 v3 x1 1
HSCAN h 0
HSCAN h 0 COUNT 1
HSCAN h 0 MATCH f*
HSCAN h 0 MATCH f* COUNT 100
HSCAN h 0 MATCH *
HSCAN h 7
HSCAN h -1
HSCAN h +0
HSCAN h ""
HSCAN h 18446744073709551615
HSCAN h 18446744073709551616
HSCAN h x
HSCAN h \s1
HSCAN h 1\s
HSCAN h +
HSCAN h 0x1
HSCAN h 0 COUNT 0
HSCAN h 0 COUNT -1
HSCAN h 0 COUNT x
HSCAN h 0 MATCH
HSCAN h 0 COUNT
HSCAN h 0 FOO bar
HSCAN h 0 TYPE hash
HSCAN h 0 NOVALUES
HSCAN nokey 0
HSCAN nokey 0 COUNT 0
HSCAN nokey x
SET str v
HSCAN str 0
HSCAN str 0 COUNT 0
SSCAN str 0
ZSCAN str 0
HSCAN
HSCAN h
SADD s 5 -3 10 2
SSCAN s 0
SSCAN s 0 MATCH 1*
SSCAN s 0 COUNT 1
SSCAN s 99
SSCAN nokey 0
SSCAN s 0 COUNT 0
SSCAN s x
ZADD z 1.5 a 2 b -inf c 3 ab
ZSCAN z 0
ZSCAN z 0 MATCH a*
ZSCAN z 0 COUNT 1
ZSCAN nokey 0
ZSCAN z 0 COUNT 0
ZSCAN z -5
SCAN x
SCAN 1\s
`},
	{"more commands", `
ZADD z 1 a 2 b 3 c 4 d 5 e
ZREMRANGEBYSCORE z 2 (4
ZRANGE z 0 -1 WITHSCORES
ZREMRANGEBYSCORE z x 1
ZREMRANGEBYSCORE z -inf +inf
EXISTS z
ZREMRANGEBYSCORE nokey 0 1
ZADD z 1 a 2 b 3 c 4 d 5 e
ZREMRANGEBYRANK z 1 2
ZREMRANGEBYRANK z -1 -1
ZREMRANGEBYRANK z 5 10
ZREMRANGEBYRANK z 2 1
ZREMRANGEBYRANK z x 1
ZRANGE z 0 -1
ZREMRANGEBYRANK z 0 -1
EXISTS z
ZADD lz 0 a 0 b 0 c 0 d
ZREMRANGEBYLEX lz [b (d
ZREMRANGEBYLEX lz - +
ZREMRANGEBYLEX lz x y
ZREMRANGEBYLEX nokey - +
SET str v
ZREMRANGEBYSCORE str 0 1
ZREMRANGEBYRANK str 0 1
ZREMRANGEBYLEX str - +
ZREMRANGEBYSCORE str x 1
ZREMRANGEBYSCORE z 1
ZADD src 1 a 2 b 3 c 4 d
ZRANGESTORE dst src 0 1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst src 2 3 BYSCORE
ZRANGESTORE dst src (4 1 BYSCORE REV LIMIT 0 2
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst src [a [c BYLEX
ZRANGESTORE dst src 0 -1 REV
ZRANGESTORE dst src 0 1 WITHSCORES
ZRANGESTORE dst src 0 1 LIMIT 0 1
ZRANGESTORE dst src 0 1 BYSCORE BYLEX
ZRANGESTORE dst src x 1
ZRANGESTORE dst src x 1 BYSCORE
ZRANGESTORE dst src 5 6
EXISTS dst
ZRANGESTORE dst nokey 0 -1
ZRANGESTORE str src 0 0
TYPE str
ZRANGESTORE dst str 0 1
ZRANGESTORE src src 1 2
ZRANGE src 0 -1
ZRANGESTORE dst src
SADD s1 1 2 3
SADD s2 3
SMOVE s1 s2 1
SMOVE s1 s2 1
SMOVE s1 s2 3
SMEMBERS s2
SMOVE s1 s1 2
SMOVE s1 s1 99
SMOVE nokey s2 1
SMOVE nokey str 1
SMOVE s1 str 2
SMOVE str s1 2
SMOVE s1 new 2
EXISTS s1
SMEMBERS new
SADD i1 1 2 3 4 5
SADD i2 2 3 4 9
SADD i3 3 4 8
SINTERCARD 2 i1 i2
SINTERCARD 3 i1 i2 i3
SINTERCARD 3 i1 i2 i3 LIMIT 1
SINTERCARD 2 i1 i2 LIMIT 0
SINTERCARD 1 i1 LIMIT 2
SINTERCARD 2 i1 nokey
SINTERCARD 2 nokey str
SINTERCARD 2 i1 str
SINTERCARD 0 i1
SINTERCARD x i1
SINTERCARD -1 i1
SINTERCARD 3 i1 i2
SINTERCARD 2 i1 i2 LIMIT -1
SINTERCARD 2 i1 i2 LIMIT x
SINTERCARD 2 i1 i2 LIMIT
SINTERCARD 2 i1 i2 FOO 1
SINTERCARD 1
RPUSH l a b c a b c a
LPOS l a
LPOS l c
LPOS l zz
LPOS l a RANK 2
LPOS l a RANK -1
LPOS l a RANK -2
LPOS l a RANK 9
LPOS l a COUNT 0
LPOS l a COUNT 2
LPOS l a COUNT 2 RANK -1
LPOS l a COUNT 0 MAXLEN 4
LPOS l c MAXLEN 2
LPOS l a RANK 0
LPOS l a RANK x
LPOS l a RANK -9223372036854775808
LPOS l a COUNT -1
LPOS l a COUNT x
LPOS l a MAXLEN -1
LPOS l a MAXLEN x
LPOS l a FOO
LPOS l a COUNT
LPOS nokey a
LPOS nokey a COUNT 1
LPOS str a
LPOS str a RANK 0
RPUSH m1 1 2 3
RPUSH m2 4 5
LMPOP 2 nokey m1 LEFT
LMPOP 2 nokey m1 RIGHT COUNT 5
EXISTS m1
LMPOP 2 m1 m2 left COUNT 1
LMPOP 1 nokey LEFT
LMPOP 2 str m2 LEFT
LMPOP 2 nokey str LEFT
LMPOP 0 m2 LEFT
LMPOP x m2 LEFT
LMPOP 3 m2 LEFT
LMPOP 2 m2 LEFT
LMPOP 1 m2 UP
LMPOP 1 m2 LEFT COUNT 0
LMPOP 1 m2 LEFT COUNT x
LMPOP 1 m2 LEFT COUNT 1 COUNT 1
LMPOP 1 m2 LEFT FOO
LMPOP 1 m2
LRANGE m2 0 -1
LPOP m2 0
LPOP m2 2
EXISTS m2
ZADD bz 1 a 2 b 3 c
BZPOPMIN nokey bz 0
BZPOPMAX bz 0
BZPOPMIN bz 1.5
EXISTS bz
BZPOPMIN nokey 0.01
SET str2 v
BZPOPMIN str2 0
BZPOPMIN nokey str2 0
BZPOPMIN bz x
BZPOPMIN bz -1
BZPOPMIN bz inf
BZPOPMIN bz 1e300
BZPOPMIN bz nan
BZPOPMIN bz
MULTI
BZPOPMAX nokey 0
EXEC
`},
	{"resp3", `
!HELLO 3
GET nokey
SET k v
GET k
HSET h a 1 b 2
HGETALL h
HGETALL nokey
SADD s 1 2
SMEMBERS s
ZADD z 1.5 a 2 b
ZSCORE z a
ZRANGE z 0 -1 WITHSCORES
ZPOPMIN z
ZADD z 1 c 3 d
ZPOPMAX z 2
ZMSCORE z c nope
LPOP nokey
LPOP nokey 2
MGET k nokey
CONFIG GET maxmemory
BLPOP nokey 0.01
EXISTS k
INCRBYFLOAT fl 1.5
ZSCAN z 0
HSCAN h 0
SSCAN s 0
LPOS nokey a
LPOS nokey a COUNT 1
RPUSH l a
LMPOP 1 nokey LEFT
LMPOP 1 l LEFT
ZRANGESTORE dst z 0 -1
ZADD bz 1.5 a
BZPOPMIN bz 0
BZPOPMAX nokey 0.01
`},
}

func splitScriptLine(line string) []string {
	fields := strings.Fields(line)
	for i, f := range fields {
		if f == `""` {
			f = ""
		}
		fields[i] = strings.ReplaceAll(f, `\s`, " ")
	}
	return fields
}

func TestConformance(t *testing.T) { runScripts(t, conformance) }

// script is a named conformance script: one command per line, as conformance's are.
type script struct {
	name   string
	script string
}

// runScripts runs each script against a real redis-server and gantry, line by line on
// one connection to each, after a FLUSHALL, and compares every reply byte for byte.
func runScripts(t *testing.T, scripts []script) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	for _, tc := range scripts {
		t.Run(tc.name, func(t *testing.T) {
			redis, gantry := dialRaw(t, redisAddr), dialRaw(t, gantryAddr)
			redis.do("FLUSHALL")
			gantry.do("FLUSHALL")
			for _, line := range strings.Split(tc.script, "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				skip := strings.HasPrefix(line, "!")
				args := splitScriptLine(strings.TrimPrefix(line, "!"))
				want, got := redis.do(args...), gantry.do(args...)
				if want == "" {
					t.Fatalf("%s: no reply from redis-server within 10 s: a script must not block", line)
				}
				if !skip && got != want {
					t.Errorf("%s\n redis:  %q\n gantry: %q", line, want, got)
				}
			}
		})
	}
}

// Malformed input gets Redis's protocol error, and the connection is closed.
func TestConformanceProtocolErrors(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	for _, tc := range []struct {
		in      string
		replies int
	}{
		{"*1\r\n$x\r\n", 1},
		{"*x\r\n", 1},
		{"*1\r\n:5\r\n", 1},
		{"*1\r\n$-5\r\n", 1},
		{"*2\r\n$3\r\nGET\r\n$600000000\r\n", 1},
		{"ECHO \"unbalanced\r\n", 1},
		{"ECHO 'a'b\r\n", 1},
		{"PING\r\n*1\r\n$x\r\n", 2},
		{"*0\r\n*-1\r\nPING\r\n", 1},
		{"  \r\nECHO \"a\\x41\\n\" 'b\\'c'\r\n", 1},
	} {
		in := tc.in
		t.Run(strings.ReplaceAll(in, "\r\n", " "), func(t *testing.T) {
			want, got := rawExchange(t, redisAddr, in, tc.replies), rawExchange(t, gantryAddr, in, tc.replies)
			if got != want {
				t.Errorf("input %q\n redis:  %q\n gantry: %q", in, want, got)
			}
		})
	}
}

// Before AUTH, Redis refuses long commands and big bulks with its own errors.
func TestConformanceUnauthenticated(t *testing.T) {
	redisAddr := startRedis(t, "--requirepass", "pw")
	_, gantryAddr := startServer(t, Config{RequirePass: "pw"})
	for _, tc := range []struct {
		in      string
		replies int
	}{
		{"*11\r\n", 1},
		{"*2\r\n$4\r\nECHO\r\n$16385\r\n", 1},
		{"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\nx\r\n", 1},
		{"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nMGET\r\n" + strings.Repeat("$1\r\nk\r\n", 10), 2},
	} {
		in := tc.in
		name := strings.ReplaceAll(in, "\r\n", " ")
		t.Run(name[:min(30, len(name))], func(t *testing.T) {
			want, got := rawExchange(t, redisAddr, in, tc.replies), rawExchange(t, gantryAddr, in, tc.replies)
			if got != want {
				t.Errorf("input %q\n redis:  %q\n gantry: %q", in, want, got)
			}
		})
	}
}

// rawExchange sends in and reads n replies, or what comes before the server closes
// the connection, within 10 s; then whatever else arrives within 50 ms, so that a
// reply too many shows as a difference. (It used to read until the server had
// been quiet for 300 ms, which a busy machine could cut short.)
func rawExchange(t *testing.T, addr, in string, n int) string {
	r := dialRaw(t, addr)
	r.c.SetDeadline(timeNow().Add(10 * time.Second))
	if _, err := r.c.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for range n {
		if err := readReply(r.br, &b); err != nil {
			return b.String()
		}
	}
	r.c.SetReadDeadline(timeNow().Add(50 * millisecond))
	rest, _ := io.ReadAll(r.br)
	return b.String() + string(rest)
}

// Extreme numbers get errors, never a crash or a hang.
func TestExtremeArguments(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	for _, tt := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"SETRANGE", "k", "9223372036854775807", "a"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"SETRANGE", "k", "536870911", "ab"}, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "9223372036854775807gb"}, ""},
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
		{[]string{"SADD", "s", "a"}, ":1\r\n"},
		{[]string{"SRANDMEMBER", "s", "-100000000"}, "-ERR value is out of range\r\n"}, // gantry bounds the reply: a listed difference
		{[]string{"BLPOP", "nokey", "1e300"}, "-ERR timeout is negative\r\n"},          // as Redis 7.0: the long long overflows
		{[]string{"BLPOP", "nokey", "9200000000000000"}, ""},
	} {
		if tt.cmd[0] == "BLPOP" && tt.want == "" {
			// Blocks for ever (a huge timeout): it must not come back at once.
			r.c.Write(encodeCommand(tt.cmd))
			r.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, _ := r.br.Read(make([]byte, 16)); n != 0 {
				t.Fatalf("BLPOP with a huge timeout returned at once")
			}
			continue
		}
		got := r.do(tt.cmd...)
		if tt.want == "" {
			if !strings.HasPrefix(got, "-ERR") {
				t.Errorf("%v = %q, want an error", tt.cmd, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%v = %q, want %q", tt.cmd, got, tt.want)
		}
	}
}
