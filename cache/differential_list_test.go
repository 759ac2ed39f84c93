package cache

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestDifferentialLongLists is TestDifferential for long lists: two keys grown to
// thousands of elements by pushes of up to 300 at a time (some elements longer
// than a chunk's buffer), so that every list command meets lists of many chunks,
// elements at and across chunk boundaries, chunks made at both ends and chunks
// emptied by pops. Every reply is compared with a real redis-server's.
func TestDifferentialLongLists(t *testing.T) {
	redisAddr := startRedis(t)
	_, gantryAddr := startServer(t, Config{})
	redis, gantry := dialRaw(t, redisAddr), dialRaw(t, gantryAddr)
	rng := rand.New(rand.NewPCG(uint64(*diffSeed), 7))
	key := func() string { return "list" + strconv.Itoa(rng.IntN(2)) }
	val := func() string {
		if rng.IntN(400) == 0 {
			return strings.Repeat("x", 9000+rng.IntN(100))
		}
		return "v" + strconv.Itoa(rng.IntN(40))
	}
	vals := func(cmd, k string) []string {
		args := []string{cmd, k}
		for range 1 + rng.IntN(300) {
			args = append(args, val())
		}
		return args
	}
	idx := func() string {
		if rng.IntN(2) == 0 {
			return strconv.Itoa(-rng.IntN(3000))
		}
		return strconv.Itoa(rng.IntN(3000))
	}
	count := func() string { return strconv.Itoa(rng.IntN(200)) }
	gens := []func() []string{
		func() []string { return vals("LPUSH", key()) },
		func() []string { return vals("RPUSH", key()) },
		func() []string { return vals("LPUSH", key()) },
		func() []string { return vals("RPUSH", key()) },
		func() []string { return []string{"LPOP", key(), count()} },
		func() []string { return []string{"RPOP", key(), count()} },
		func() []string { return []string{"LPOP", key()} },
		func() []string { return []string{"RPOP", key()} },
		func() []string { return []string{"LLEN", key()} },
		func() []string { return []string{"LINDEX", key(), idx()} },
		func() []string { return []string{"LSET", key(), idx(), val()} },
		func() []string { return []string{"LRANGE", key(), idx(), idx()} },
		func() []string { return []string{"LINSERT", key(), "AFTER", val(), val()} },
		func() []string { return []string{"LREM", key(), strconv.Itoa(rng.IntN(7) - 3), val()} },
		func() []string {
			return []string{"LPOS", key(), val(), "RANK", strconv.Itoa(rng.IntN(9) - 4 | 1), "COUNT", strconv.Itoa(rng.IntN(4))}
		},
		func() []string { return []string{"LPOS", key(), val(), "MAXLEN", count()} },
		func() []string { return []string{"LMOVE", key(), key(), "LEFT", "RIGHT"} },
		func() []string { return []string{"LMOVE", key(), key(), "RIGHT", "LEFT"} },
		func() []string {
			if rng.IntN(10) == 0 {
				return []string{"LTRIM", key(), strconv.Itoa(rng.IntN(100)), strconv.Itoa(-1 - rng.IntN(100))}
			}
			return []string{"LLEN", key()}
		},
	}
	for i := range *diffN / 3 {
		args := gens[rng.IntN(len(gens))]()
		want, got := redis.do(args...), gantry.do(args...)
		if got != want {
			t.Fatalf("command %d: %.200s\n redis:  %.300q\n gantry: %.300q", i, strings.Join(args, " "), want, got)
		}
	}
	for _, k := range []string{"list0", "list1"} {
		want, got := redis.do("LRANGE", k, "0", "-1"), gantry.do("LRANGE", k, "0", "-1")
		if got != want {
			t.Fatalf("%s at the end differs: redis %d bytes, gantry %d", k, len(want), len(got))
		}
		t.Logf("%s: %s elements", k, strings.TrimSpace(redis.do("LLEN", k)))
	}
}
