package cache

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Eviction picks its victims as the policy says. Sampling five keys (Redis's
// maxmemory-samples) makes the choice approximate, as in Redis, so the test
// checks rates with a margin: the keys the policy protects survive far more
// often than the others. A policy that chose at random fails every case.
//
// 1000 keys are loaded; maxmemory is then set to what they use, and new keys
// written past it make the server evict. For volatile-* every other key has a
// TTL, and a key without one must never go.
func TestEvictionVictims(t *testing.T) {
	const (
		keys = 1000
		hot  = 10 // every tenth key is protected (touched, frequent, long-lived)
	)
	for _, tc := range []struct {
		policy string
		fill   int // keys written past the limit
	}{
		{"allkeys-lru", 300},
		{"allkeys-lfu", 300},
		{"volatile-lru", 200},
		{"volatile-lfu", 200},
		{"volatile-ttl", 200},
		{"volatile-random", 200},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			srv, addr := startServer(t, Config{MaxMemoryPolicy: tc.policy})
			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
			defer rdb.Close()
			volatile := strings.HasPrefix(tc.policy, "volatile-")
			val := strings.Repeat("v", 200)
			// In volatile-* only even keys have a TTL: an hour plus i seconds,
			// so that for volatile-ttl the low keys expire first.
			hasTTL := func(i int) bool { return !volatile || i%2 == 0 }
			isHot := func(i int) bool { return i%hot == 0 }
			pipe := rdb.Pipeline()
			for i := range keys {
				k := "old:" + strconv.Itoa(i)
				pipe.Set(ctx, k, val, 0)
				if hasTTL(i) {
					pipe.Do(ctx, "EXPIRE", k, 3600+i)
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasSuffix(tc.policy, "lru"):
				// The LRU clock has Redis's one-second resolution: let it move
				// on past the last key written (on a loaded machine the writes
				// can straddle a second), then touch the hot keys.
				waitForLong(t, "the LRU clock", 5e9, func() bool {
					idle, err := rdb.ObjectIdleTime(ctx, "old:"+strconv.Itoa(keys-1)).Result()
					return err == nil && idle >= 1e9
				})
				for i := 0; i < keys; i += hot {
					pipe.Get(ctx, "old:"+strconv.Itoa(i))
				}
			case strings.HasSuffix(tc.policy, "lfu"):
				// Many reads raise the hot keys' logarithmic counter.
				for range 30 {
					for i := 0; i < keys; i += hot {
						pipe.Get(ctx, "old:"+strconv.Itoa(i))
					}
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}

			limit := srv.ks.usedMemory()
			if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err(); err != nil {
				t.Fatal(err)
			}
			worst := int64(0)
			for i := range tc.fill {
				if err := rdb.Set(ctx, "new:"+strconv.Itoa(i), val, 0).Err(); err != nil {
					t.Fatalf("write %d past the limit: %v", i, err)
				}
				worst = max(worst, srv.ks.usedMemory())
			}
			// A write lands after making room, so memory may pass the limit by
			// at most the one key just written.
			if slack := int64(len(val)) + 400; worst > limit+slack {
				t.Fatalf("used memory reached %d, limit %d", worst, limit)
			}
			evicted := srv.Stats().Evicted
			if evicted < int64(tc.fill)/2 {
				t.Fatalf("%d keys evicted for %d written past the limit", evicted, tc.fill)
			}

			// Survival rates of the groups.
			exists := make([]bool, keys)
			for i := range keys {
				pipe.Exists(ctx, "old:"+strconv.Itoa(i))
			}
			res, err := pipe.Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				exists[i] = r.(*redis.IntCmd).Val() == 1
			}
			rate := func(in func(i int) bool) float64 {
				n, alive := 0, 0
				for i := range keys {
					if in(i) {
						n++
						if exists[i] {
							alive++
						}
					}
				}
				return float64(alive) / float64(n)
			}
			report := fmt.Sprintf("%s: %d evicted; survival", tc.policy, evicted)
			if volatile {
				if r := rate(func(i int) bool { return !hasTTL(i) }); r != 1 {
					t.Fatalf("%s evicted keys without a TTL (%.0f%% survive)", tc.policy, 100*r)
				}
			}
			switch {
			case strings.HasSuffix(tc.policy, "lru"), strings.HasSuffix(tc.policy, "lfu"):
				hotRate := rate(isHot)
				coldRate := rate(func(i int) bool { return hasTTL(i) && !isHot(i) })
				t.Logf("%s: hot %.0f%%, cold %.0f%%", report, 100*hotRate, 100*coldRate)
				// At random both would be near 77% (allkeys: 300 of 1300 go)
				// or 60% (volatile: 200 of the 500 keys with a TTL go).
				minHot, margin := 0.9, 0.1
				if volatile {
					minHot, margin = 0.75, 0.2
				}
				if hotRate < minHot || hotRate-coldRate < margin {
					t.Fatalf("%s kept %.0f%% of the hot keys and %.0f%% of the cold ones", tc.policy, 100*hotRate, 100*coldRate)
				}
			case tc.policy == "volatile-ttl":
				// The TTL keys are the even ones, their TTL growing with i.
				soon := rate(func(i int) bool { return hasTTL(i) && i < keys/4 })
				late := rate(func(i int) bool { return hasTTL(i) && i >= keys*3/4 })
				t.Logf("%s: nearest expiry quarter %.0f%%, farthest quarter %.0f%%", report, 100*soon, 100*late)
				if late < 0.75 || late-soon < 0.4 { // at random both near 60%
					t.Fatalf("volatile-ttl kept %.0f%% of the keys expiring first and %.0f%% of those expiring last", 100*soon, 100*late)
				}
			default:
				t.Logf("%s: keys with a TTL %.0f%%", report, 100*rate(hasTTL))
			}
		})
	}
}
