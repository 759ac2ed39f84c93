package cache

import (
	goflag "flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	diffN    = goflag.Int("diff.n", 3000, "commands in the differential test's seeded stream")
	diffSeed = goflag.Int("diff.seed", 1, "the differential test's seed")
)

// TestDifferential sends the same seeded stream of random commands over a small
// keyspace to a real redis-server and to gantry cache and compares every reply
// byte for byte. The keys collide on purpose, so types clash (WRONGTYPE), lists
// and sets empty out, and counters meet non-numbers. One command in twelve is
// mangled (cut short, given an extra argument, or one argument replaced by an
// extreme value) for arity, syntax and range errors. Each command goes at random
// to one of two pairs of connections, one speaking RESP2 and one RESP3 (HELLO 3),
// so both protocols' reply types are compared for every family. Commands whose
// reply depends on chance or hash order (SPOP and SRANDMEMBER below the set's size,
// RANDOMKEY, SCAN, KEYS, SMEMBERS of non-integers) are left out; set members are
// integers, so SMEMBERS has Redis's intset order. Every size a command can grow
// is bounded: values are short, counts come from the collections' few members, and
// offsets and timeouts are either small or refused by both servers.
func TestDifferential(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	type pair struct{ redis, gantry *rawConn }
	pairs := [2]pair{{dialRaw(t, redisAddr), dialRaw(t, gantryAddr)}, {dialRaw(t, redisAddr), dialRaw(t, gantryAddr)}}
	for _, c := range []*rawConn{pairs[1].redis, pairs[1].gantry} {
		if r := c.do("HELLO", "3"); !strings.HasPrefix(r, "%7") {
			t.Fatalf("HELLO 3 = %q", r)
		}
	}
	seed := uint64(*diffSeed)
	rng := rand.New(rand.NewPCG(seed, 2))
	g := newDiffGen(rng)
	var recent [2][]string // each pair's last commands, shown when a reply differs
	var inMulti [2]bool
	for i := range *diffN {
		args := g.next()
		pi := rng.IntN(2)
		p := pairs[pi]
		if inMulti[pi] && isStringObjectView(args) {
			args[1] = "FREQ" // its reply would be compared within EXEC's
		}
		recent[pi] = append(recent[pi][max(0, len(recent[pi])-59):], strings.Join(args, " "))
		want, got := p.redis.do(args...), p.gantry.do(args...)
		if want == "" {
			t.Fatalf("command %d of seed %d: %s: no reply from redis-server", i, seed, strings.Join(args, " "))
		}
		switch strings.ToUpper(args[0]) {
		case "MULTI":
			inMulti[pi] = inMulti[pi] || want == "+OK\r\n"
		case "EXEC", "DISCARD":
			inMulti[pi] = inMulti[pi] && want == "+QUEUED\r\n"
		}
		if got != want && !stringObjectView(args, p.redis, p.gantry) && !hashTableOrder(args, want, got, p.redis) {
			proto := 2
			if p == pairs[1] {
				proto = 3
			}
			k := "k0"
			if len(args) > 1 {
				k = args[1]
			}
			t.Fatalf("command %d of seed %d (RESP%d): %s\n redis:  %.2000q\n gantry: %.2000q\n(after it, TYPE and GET of %s: redis %q %q, gantry %q %q)\nthis connection's last commands:\n%s",
				i, seed, proto, strings.Join(args, " "), want, got, k,
				p.redis.do("TYPE", k), p.redis.do("GET", k), p.gantry.do("TYPE", k), p.gantry.do("GET", k),
				strings.Join(recent[pi], "\n"))
		}
	}
}

// stringObjectView reports whether args asks OBJECT ENCODING or OBJECT REFCOUNT
// of a key holding a string on both servers: gantry derives a string's encoding
// from its value, where Redis keeps raw after APPEND and SETRANGE and embstr after
// INCRBYFLOAT even for an integer (a listed difference), so those replies are
// not compared.
func stringObjectView(args []string, redis, gantry *rawConn) bool {
	return isStringObjectView(args) &&
		redis.do("TYPE", args[2]) == "+string\r\n" && gantry.do("TYPE", args[2]) == "+string\r\n"
}

func isStringObjectView(args []string) bool {
	return len(args) == 3 && strings.EqualFold(args[0], "object") &&
		(strings.EqualFold(args[1], "encoding") || strings.EqualFold(args[1], "refcount"))
}

// hashTableOrder reports whether args reads a whole hash that Redis keeps as a hash
// table (a value past 64 bytes, from HINCRBYFLOAT's long results), and the two
// replies hold the same lines in another order: gantry keeps insertion order, Redis
// its table's (a listed difference).
func hashTableOrder(args []string, want, got string, redis *rawConn) bool {
	switch strings.ToUpper(args[0]) {
	case "HGETALL", "HKEYS", "HVALS":
	default:
		return false
	}
	if redis.do("OBJECT", "ENCODING", args[1]) != "$9\r\nhashtable\r\n" {
		return false
	}
	w, g := strings.Split(want, "\r\n"), strings.Split(got, "\r\n")
	slices.Sort(w)
	slices.Sort(g)
	return slices.Equal(w, g)
}

// diffGen makes TestDifferential's commands.
type diffGen struct {
	rng  *rand.Rand
	gens []func() []string
}

// diffExtremes are the arguments that meet parsers at their edges: the int64
// bounds and just past them, floats at and past theirs, blanks, hex, signs.
var diffExtremes = []string{"9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e308",
	"-1e308", "inf", "-inf", "+inf", "nan", "", " 1", "1 ", "0x10", "1e", "-0", "00", "+5", "3.0", "(1", "[a",
	"-9223372036854775809", "4294967296", "2147483648", "-1", "1e400", "0.5", "abc"}

// diffTimeouts are blocking timeouts that never block for long on either server:
// tiny ones, refused ones, and ones that overflow to "negative" in both.
var diffTimeouts = []string{"0.001", "0.001", "0.002", "-1", "abc", "inf", "1e300", "nan", "9223372036854775807", "-0.5", ""}

func newDiffGen(rng *rand.Rand) *diffGen {
	g := &diffGen{rng: rng}
	key := func() string { return "k" + strconv.Itoa(rng.IntN(6)) }
	val := func() string {
		if rng.IntN(12) == 0 {
			return diffExtremes[rng.IntN(len(diffExtremes))]
		}
		switch rng.IntN(4) {
		case 0:
			return strconv.Itoa(rng.IntN(20) - 5)
		case 1:
			return "v" + strconv.Itoa(rng.IntN(5))
		case 2:
			return strconv.FormatFloat(float64(rng.IntN(100))/8, 'f', -1, 64)
		}
		return strconv.Itoa(rng.IntN(5))
	}
	idx := func() string {
		if rng.IntN(20) == 0 {
			return diffExtremes[rng.IntN(3)]
		}
		return strconv.Itoa(rng.IntN(9) - 4)
	}
	// count is a count argument: mostly small, sometimes zero, negative, huge or no number.
	count := func() string {
		switch rng.IntN(10) {
		case 0:
			return []string{"0", "-1", "-5", "9223372036854775807", "-9223372036854775808", "4294967297", "x", "1.5", ""}[rng.IntN(9)]
		}
		return strconv.Itoa(1 + rng.IntN(4))
	}
	timeout := func() string { return diffTimeouts[rng.IntN(len(diffTimeouts))] }
	member := func() string { return strconv.Itoa(rng.IntN(8)) }
	field := func() string { return "f" + member() }
	zmember := func() string { return "m" + member() }
	side := func() string {
		if rng.IntN(10) == 0 {
			return []string{"left", "UP", ""}[rng.IntN(3)]
		}
		return []string{"LEFT", "RIGHT"}[rng.IntN(2)]
	}
	// ttlOpts are SET's and GETEX's expiry options: seconds that stay far away
	// (so TTL reads the same on both), or refused ones.
	ttl := func() []string {
		switch rng.IntN(8) {
		case 0:
			return []string{"EX", []string{"0", "-1", "x", "9223372036854775807", "1.5", ""}[rng.IntN(6)]}
		case 1:
			return []string{"PX", "100000"}
		case 2:
			return []string{"EX", "1000"}
		case 3:
			return []string{"EXAT", "99999999999"}
		case 4:
			return []string{"PXAT", []string{"0", "-1", "99999999999999"}[rng.IntN(3)]}
		case 5:
			return []string{"KEEPTTL"}
		case 6:
			return []string{"PERSIST"}
		}
		return nil
	}
	setOpts := func() []string {
		var out []string
		for range rng.IntN(3) {
			switch rng.IntN(5) {
			case 0:
				out = append(out, "NX")
			case 1:
				out = append(out, "XX")
			case 2:
				out = append(out, "GET")
			case 3:
				out = append(out, ttl()...)
			default:
				out = append(out, "EX")
			}
		}
		return out
	}
	zaddOpts := func() []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, []string{"NX", "XX", "GT", "LT", "CH", "INCR"}[rng.IntN(6)])
		}
		return out
	}
	expOpt := func() []string {
		if rng.IntN(3) == 0 {
			return []string{[]string{"NX", "XX", "GT", "LT", "nx", "ZZ"}[rng.IntN(6)]}
		}
		return nil
	}
	seconds := func() string {
		return []string{"100", "200", "1000", "-1", "0", "x", "9223372036854775807", "9223372036854775", "1.5"}[rng.IntN(9)]
	}
	score := func() string {
		if rng.IntN(6) == 0 {
			return []string{"-inf", "+inf", "(1", "(", "x", "(inf", "1e400", "nan"}[rng.IntN(8)]
		}
		return strconv.Itoa(rng.IntN(8) - 2)
	}
	lex := func() string {
		switch rng.IntN(8) {
		case 0:
			return "-"
		case 1:
			return "+"
		case 2:
			return "m" + member() // no bracket: a syntax error
		case 3:
			return "(m" + member()
		}
		return "[m" + member()
	}
	limit := func() []string {
		if rng.IntN(3) == 0 {
			return []string{"LIMIT", idx(), idx()}
		}
		return nil
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	s := func(a ...string) []string { return a }
	g.gens = []func() []string{
		// strings
		func() []string { return s("SET", key(), val()) },
		func() []string { return cat(s("SET", key(), val()), setOpts()) },
		func() []string { return s("GET", key()) },
		func() []string { return cat(s("GETEX", key()), ttl()) },
		func() []string { return s("APPEND", key(), val()) },
		func() []string { return s("INCR", key()) },
		func() []string { return s("INCRBY", key(), val()) },
		func() []string { return s("DECR", key()) },
		func() []string { return s("DECRBY", key(), val()) },
		func() []string { return s("INCRBYFLOAT", key(), val()) },
		func() []string { return s("STRLEN", key()) },
		func() []string { return s("GETRANGE", key(), idx(), idx()) },
		func() []string { return s("SUBSTR", key(), idx(), idx()) },
		func() []string {
			off := member()
			if rng.IntN(10) == 0 {
				off = []string{"-1", "536870912", "536870911x", "9223372036854775807"}[rng.IntN(4)]
			}
			return s("SETRANGE", key(), off, val())
		},
		func() []string { return s("MSET", key(), val(), key(), val()) },
		func() []string { return s("MSETNX", key(), val(), key(), val()) },
		func() []string { return s("MGET", key(), key(), key()) },
		func() []string { return s("GETSET", key(), val()) },
		func() []string { return s("GETDEL", key()) },
		func() []string { return s("SETNX", key(), val()) },
		func() []string { return s("SETEX", key(), seconds(), val()) },
		func() []string { return s("PSETEX", key(), seconds()+"000", val()) },
		// keys
		func() []string { return s("DEL", key(), key()) },
		func() []string { return s("UNLINK", key()) },
		func() []string { return s("EXISTS", key(), key()) },
		func() []string { return s("TOUCH", key(), key()) },
		func() []string { return s("TYPE", key()) },
		func() []string { return s("RENAME", key(), key()) },
		func() []string { return s("RENAMENX", key(), key()) },
		func() []string { return cat(s("EXPIRE", key(), seconds()), expOpt()) },
		func() []string { return cat(s("PEXPIRE", key(), seconds()+"000"), expOpt()) },
		func() []string {
			return cat(s("EXPIREAT", key(), []string{"99999999999", "1", "-1", "x"}[rng.IntN(4)]), expOpt())
		},
		func() []string { return s("PERSIST", key()) },
		func() []string { return s("TTL", key()) },
		func() []string { return cat(s("COPY", key(), key()), []string{"REPLACE", "DB", "1"}[:rng.IntN(4)]) },
		func() []string { return s("MOVE", key(), []string{"1", "0", "16", "-1", "x"}[rng.IntN(5)]) },
		func() []string { return s("OBJECT", "ENCODING", key()) },
		func() []string { return s("OBJECT", []string{"FREQ", "REFCOUNT", "NOPE"}[rng.IntN(3)], key()) },
		func() []string { return s("SELECT", []string{"0", "0", "1", "16", "-1", "x"}[rng.IntN(6)]) },
		func() []string { return s("DBSIZE") },
		// lists
		func() []string { return s("LPUSH", key(), val(), val()) },
		func() []string { return s("RPUSH", key(), val()) },
		func() []string { return s([]string{"LPUSHX", "RPUSHX"}[rng.IntN(2)], key(), val()) },
		func() []string { return s("LPOP", key()) },
		func() []string { return s("RPOP", key(), member()) },
		func() []string { return s([]string{"LPOP", "RPOP"}[rng.IntN(2)], key(), count()) },
		func() []string { return s("LRANGE", key(), idx(), idx()) },
		func() []string { return s("LINDEX", key(), idx()) },
		func() []string { return s("LLEN", key()) },
		func() []string { return s("LREM", key(), idx(), val()) },
		func() []string {
			return s("LINSERT", key(), []string{"BEFORE", "AFTER", "after", "MIDDLE"}[rng.IntN(4)], val(), val())
		},
		func() []string { return s("LSET", key(), idx(), val()) },
		func() []string { return s("LTRIM", key(), idx(), idx()) },
		func() []string { return s("LMOVE", key(), key(), side(), side()) },
		func() []string { return s("RPOPLPUSH", key(), key()) },
		func() []string { return s("LPOS", key(), val(), "RANK", idx()) },
		func() []string { return s("LPOS", key(), val(), "COUNT", count(), "MAXLEN", count()) },
		func() []string { return s("LMPOP", count(), key(), key(), side(), "COUNT", count()) },
		func() []string { return s([]string{"BLPOP", "BRPOP"}[rng.IntN(2)], key(), key(), timeout()) },
		func() []string { return s("BLMOVE", key(), key(), side(), side(), timeout()) },
		// hashes
		func() []string { return s("HSET", key(), field(), val()) },
		func() []string { return s("HMSET", key(), field(), val(), field(), val()) },
		func() []string { return s("HSETNX", key(), field(), val()) },
		func() []string { return s("HGET", key(), field()) },
		func() []string { return s("HDEL", key(), field(), field()) },
		func() []string { return s("HGETALL", key()) },
		func() []string { return s([]string{"HKEYS", "HVALS", "HLEN"}[rng.IntN(3)], key()) },
		func() []string { return s("HINCRBY", key(), field(), val()) },
		func() []string { return s("HINCRBYFLOAT", key(), field(), val()) },
		func() []string { return s([]string{"HEXISTS", "HSTRLEN"}[rng.IntN(2)], key(), field()) },
		func() []string { return s("HMGET", key(), field(), field()) },
		// sets
		func() []string { return s("SADD", key(), member(), member()) },
		func() []string { return s("SREM", key(), member()) },
		func() []string { return s("SMEMBERS", key()) },
		func() []string { return s("SISMEMBER", key(), member()) },
		func() []string { return s("SMISMEMBER", key(), member(), member()) },
		func() []string { return s("SCARD", key()) },
		func() []string { return s([]string{"SINTER", "SUNION", "SDIFF"}[rng.IntN(3)], key(), key()) },
		func() []string {
			return s([]string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}[rng.IntN(3)], key(), key(), key())
		},
		func() []string { return s("SMOVE", key(), key(), member()) },
		func() []string { return s("SINTERCARD", count(), key(), key(), "LIMIT", count()) },
		// Counts of 8 and more take the whole set (members are 0-7), in intset order.
		func() []string {
			return s("SPOP", key(), []string{"8", "100", "9223372036854775807", "0", "-1", "x"}[rng.IntN(6)])
		},
		func() []string {
			return s("SRANDMEMBER", key(), []string{"8", "100", "9223372036854775807", "0", "-9223372036854775808", "x"}[rng.IntN(6)])
		},
		// sorted sets
		func() []string { return s("ZADD", key(), val(), zmember()) },
		func() []string {
			return cat(s("ZADD", key()), zaddOpts(), s(score(), zmember()), []string{score(), zmember()}[:2*rng.IntN(2)])
		},
		func() []string { return s("ZINCRBY", key(), val(), zmember()) },
		func() []string { return s("ZREM", key(), zmember()) },
		func() []string { return s("ZSCORE", key(), zmember()) },
		func() []string { return s("ZMSCORE", key(), zmember(), zmember()) },
		func() []string { return s("ZRANGE", key(), idx(), idx(), "WITHSCORES") },
		func() []string { return cat(s("ZRANGE", key(), score(), score(), "BYSCORE"), limit()) },
		func() []string { return cat(s("ZRANGE", key(), lex(), lex(), "BYLEX", "REV"), limit()) },
		func() []string { return s("ZREVRANGE", key(), idx(), idx(), "WITHSCORES") },
		func() []string { return s("ZRANGEBYSCORE", key(), val(), "+inf") },
		func() []string { return cat(s("ZREVRANGEBYSCORE", key(), score(), score(), "WITHSCORES"), limit()) },
		func() []string { return s([]string{"ZRANK", "ZREVRANK"}[rng.IntN(2)], key(), zmember()) },
		func() []string { return s("ZCOUNT", key(), score(), score()) },
		func() []string { return s("ZPOPMIN", key()) },
		func() []string { return s([]string{"ZPOPMIN", "ZPOPMAX"}[rng.IntN(2)], key(), count()) },
		func() []string { return s("ZCARD", key()) },
		func() []string { return s("ZREMRANGEBYSCORE", key(), score(), score()) },
		func() []string { return s("ZREMRANGEBYRANK", key(), idx(), idx()) },
		func() []string { return s("ZREMRANGEBYLEX", key(), lex(), lex()) },
		func() []string { return cat(s("ZRANGEBYLEX", key(), lex(), lex()), limit()) },
		func() []string { return s("ZREVRANGEBYLEX", key(), "+", lex(), "LIMIT", idx(), idx()) },
		func() []string { return s("ZLEXCOUNT", key(), lex(), lex()) },
		func() []string { return s("ZRANGESTORE", key(), key(), idx(), idx()) },
		func() []string {
			return s("ZRANGESTORE", key(), key(), "+inf", val(), "BYSCORE", "REV", "LIMIT", "0", idx())
		},
		func() []string { return s("BZPOPMIN", key(), key(), timeout()) },
		func() []string { return s("BZPOPMAX", key(), timeout()) },
		// The collections stay small (listpack, intset): a scan answers whole.
		func() []string { return append(s("HSCAN", key(), "0"), scanOpts(rng)...) },
		func() []string { return append(s("SSCAN", key(), "0"), scanOpts(rng)...) },
		func() []string { return append(s("ZSCAN", key(), "0"), scanOpts(rng)...) },
		// connection, transactions, pub/sub
		func() []string { return s("PING", "x")[:1+rng.IntN(2)] },
		func() []string { return s("ECHO", val()) },
		func() []string { return s("MULTI") },
		func() []string { return s("EXEC") },
		func() []string { return s("DISCARD") },
		func() []string { return s("WATCH", key()) },
		func() []string { return s("UNWATCH") },
		func() []string { return s("PUBLISH", "ch", val()) },
		func() []string { return s("PUBSUB", []string{"NUMSUB", "NUMPAT", "CHANNELS"}[rng.IntN(3)]) },
		func() []string { return s("COMMAND", "GETKEYS", "SET", key(), val()) },
		func() []string { return s("NOSUCH", key()) },
	}
	return g
}

// next returns the next command, one in twelve mangled.
func (g *diffGen) next() []string {
	rng := g.rng
	args := g.gens[rng.IntN(len(g.gens))]()
	if rng.IntN(12) != 0 || args[0] == "COMMAND" { // COMMAND alone lists every command
		return args
	}
	switch rng.IntN(3) {
	case 0: // cut short: wrong arity, or an option without its value
		return args[:1+rng.IntN(len(args))]
	case 1: // one more argument
		return append(args, []string{"x", "1", "NX", "LIMIT", "WITHSCORES", "COUNT"}[rng.IntN(6)])
	}
	n := len(args) - 1 // the arguments that may be replaced
	switch {
	case strings.HasPrefix(args[0], "B"):
		n-- // a blocking command's timeout stays one of diffTimeouts: "00" would block for good
	case args[0] == "SADD":
		// Members stay integers: a set of other strings is a hash table in
		// Redis, listed in its hash order.
		n = 1
	case args[0] == "SMOVE":
		n = 2
	}
	if n > 0 {
		args[1+rng.IntN(n)] = diffExtremes[rng.IntN(len(diffExtremes))]
	}
	return args
}

// scanOpts picks MATCH and COUNT options for a collection scan, now and then wrong.
func scanOpts(rng *rand.Rand) []string {
	switch rng.IntN(6) {
	case 0:
		return []string{"MATCH", "*1*"}
	case 1:
		return []string{"COUNT", strconv.Itoa(rng.IntN(4) - 1)}
	case 2:
		return []string{"MATCH", "m[0-3]", "COUNT", "2"}
	case 3:
		return []string{"COUNT"}
	}
	return nil
}
