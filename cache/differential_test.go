package cache

import (
	goflag "flag"
	"math/rand/v2"
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
// and sets empty out, and counters meet non-numbers. Commands whose reply depends
// on chance or hash order (SPOP, RANDOMKEY, SCAN, SMEMBERS of non-integers) are left
// out; set members are integers, so SMEMBERS has Redis's intset order.
func TestDifferential(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	redis, gantry := dialRaw(t, redisAddr), dialRaw(t, gantryAddr)
	seed := uint64(*diffSeed)
	rng := rand.New(rand.NewPCG(seed, 2))
	key := func() string { return "k" + strconv.Itoa(rng.IntN(6)) }
	extremes := []string{"9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e308",
		"-1e308", "inf", "-inf", "+inf", "nan", "", " 1", "1 ", "0x10", "1e", "-0", "00", "+5", "3.0", "(1", "[a"}
	val := func() string {
		if rng.IntN(12) == 0 {
			return extremes[rng.IntN(len(extremes))]
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
			return extremes[rng.IntN(3)]
		}
		return strconv.Itoa(rng.IntN(9) - 4)
	}
	member := func() string { return strconv.Itoa(rng.IntN(8)) }
	gens := []func() []string{
		func() []string { return []string{"SET", key(), val()} },
		func() []string { return []string{"GET", key()} },
		func() []string { return []string{"APPEND", key(), val()} },
		func() []string { return []string{"INCR", key()} },
		func() []string { return []string{"INCRBY", key(), val()} },
		func() []string { return []string{"DECR", key()} },
		func() []string { return []string{"INCRBYFLOAT", key(), val()} },
		func() []string { return []string{"STRLEN", key()} },
		func() []string { return []string{"GETRANGE", key(), idx(), idx()} },
		func() []string { return []string{"SETRANGE", key(), member(), val()} },
		func() []string { return []string{"MSET", key(), val(), key(), val()} },
		func() []string { return []string{"MGET", key(), key(), key()} },
		func() []string { return []string{"GETSET", key(), val()} },
		func() []string { return []string{"GETDEL", key()} },
		func() []string { return []string{"SETNX", key(), val()} },
		func() []string { return []string{"DEL", key(), key()} },
		func() []string { return []string{"EXISTS", key(), key()} },
		func() []string { return []string{"TYPE", key()} },
		func() []string { return []string{"RENAME", key(), key()} },
		func() []string { return []string{"RENAMENX", key(), key()} },
		func() []string { return []string{"EXPIRE", key(), "100"} },
		func() []string { return []string{"PERSIST", key()} },
		func() []string { return []string{"TTL", key()} },
		func() []string { return []string{"LPUSH", key(), val(), val()} },
		func() []string { return []string{"RPUSH", key(), val()} },
		func() []string { return []string{"LPOP", key()} },
		func() []string { return []string{"RPOP", key(), member()} },
		func() []string { return []string{"LRANGE", key(), idx(), idx()} },
		func() []string { return []string{"LINDEX", key(), idx()} },
		func() []string { return []string{"LLEN", key()} },
		func() []string { return []string{"LREM", key(), idx(), val()} },
		func() []string { return []string{"LINSERT", key(), "BEFORE", val(), val()} },
		func() []string { return []string{"LSET", key(), idx(), val()} },
		func() []string { return []string{"LTRIM", key(), idx(), idx()} },
		func() []string { return []string{"LMOVE", key(), key(), "LEFT", "RIGHT"} },
		func() []string { return []string{"HSET", key(), "f" + member(), val()} },
		func() []string { return []string{"HGET", key(), "f" + member()} },
		func() []string { return []string{"HDEL", key(), "f" + member()} },
		func() []string { return []string{"HGETALL", key()} },
		func() []string { return []string{"HINCRBY", key(), "f" + member(), val()} },
		func() []string { return []string{"HLEN", key()} },
		func() []string { return []string{"HMGET", key(), "f" + member(), "f" + member()} },
		func() []string { return []string{"SADD", key(), member(), member()} },
		func() []string { return []string{"SREM", key(), member()} },
		func() []string { return []string{"SMEMBERS", key()} },
		func() []string { return []string{"SISMEMBER", key(), member()} },
		func() []string { return []string{"SCARD", key()} },
		func() []string { return []string{"SINTER", key(), key()} },
		func() []string { return []string{"SUNION", key(), key()} },
		func() []string { return []string{"SDIFF", key(), key()} },
		func() []string { return []string{"SUNIONSTORE", key(), key(), key()} },
		func() []string { return []string{"ZADD", key(), val(), "m" + member()} },
		func() []string { return []string{"ZINCRBY", key(), val(), "m" + member()} },
		func() []string { return []string{"ZREM", key(), "m" + member()} },
		func() []string { return []string{"ZSCORE", key(), "m" + member()} },
		func() []string { return []string{"ZRANGE", key(), idx(), idx(), "WITHSCORES"} },
		func() []string { return []string{"ZRANGEBYSCORE", key(), val(), "+inf"} },
		func() []string { return []string{"ZRANK", key(), "m" + member()} },
		func() []string { return []string{"ZCOUNT", key(), "-inf", val()} },
		func() []string { return []string{"ZPOPMIN", key()} },
		func() []string { return []string{"ZCARD", key()} },
		func() []string { return []string{"ZREMRANGEBYSCORE", key(), val(), val()} },
		func() []string { return []string{"ZREMRANGEBYRANK", key(), idx(), idx()} },
		func() []string { return []string{"ZREMRANGEBYLEX", key(), "[m" + member(), "(m" + member()} },
		func() []string { return []string{"ZRANGEBYLEX", key(), "[m" + member(), "(m" + member()} },
		func() []string { return []string{"ZREVRANGEBYLEX", key(), "+", "[m" + member(), "LIMIT", idx(), idx()} },
		func() []string { return []string{"ZLEXCOUNT", key(), "-", "(m" + member()} },
		func() []string { return []string{"ZRANGESTORE", key(), key(), idx(), idx()} },
		func() []string {
			return []string{"ZRANGESTORE", key(), key(), "+inf", val(), "BYSCORE", "REV", "LIMIT", "0", idx()}
		},
		func() []string { return []string{"BZPOPMIN", key(), key(), "0.001"} },
		func() []string { return []string{"BZPOPMAX", key(), "0.001"} },
		func() []string { return []string{"SMOVE", key(), key(), member()} },
		func() []string { return []string{"SINTERCARD", "2", key(), key(), "LIMIT", member()} },
		func() []string { return []string{"LPOS", key(), val(), "RANK", idx()} },
		func() []string { return []string{"LPOS", key(), val(), "COUNT", member(), "MAXLEN", member()} },
		func() []string { return []string{"LMPOP", "2", key(), key(), "RIGHT", "COUNT", idx()} },
		// The collections stay small (listpack, intset): a scan answers whole.
		func() []string { return append([]string{"HSCAN", key(), "0"}, scanOpts(rng)...) },
		func() []string { return append([]string{"SSCAN", key(), "0"}, scanOpts(rng)...) },
		func() []string { return append([]string{"ZSCAN", key(), "0"}, scanOpts(rng)...) },
	}
	for i := range *diffN {
		args := gens[rng.IntN(len(gens))]()
		want, got := redis.do(args...), gantry.do(args...)
		if got != want {
			t.Fatalf("command %d of seed %d: %s\n redis:  %q\n gantry: %q\n(after it, TYPE and DUMP-like view of %s: redis %q %q, gantry %q %q)",
				i, seed, strings.Join(args, " "), want, got, args[1],
				redis.do("TYPE", args[1]), redis.do("GET", args[1]), gantry.do("TYPE", args[1]), gantry.do("GET", args[1]))
		}
	}
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
