package cache

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// HSCAN, SSCAN and ZSCAN walk a large collection by cursor, through go-redis:
// every element present throughout is returned (exactly once, in gantry), while
// another client adds and removes other elements; pages follow COUNT; MATCH
// filters; a small collection comes back whole in one call, as Redis answers.
func TestCollectionScan(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rdb.Close()
	const n = 2000
	type scanFn func(cursor uint64, match string, count int64) ([]string, uint64, error)
	kinds := []struct {
		name  string
		key   string
		add   func(c redis.Cmdable, m string) error
		rem   func(c redis.Cmdable, m string) error
		scan  scanFn
		pairs bool // the reply alternates element and value
	}{
		{"hash", "h",
			func(c redis.Cmdable, m string) error { return c.HSet(ctx, "h", m, "v").Err() },
			func(c redis.Cmdable, m string) error { return c.HDel(ctx, "h", m).Err() },
			func(cur uint64, match string, count int64) ([]string, uint64, error) {
				return rdb.HScan(ctx, "h", cur, match, count).Result()
			}, true},
		{"set", "s",
			func(c redis.Cmdable, m string) error { return c.SAdd(ctx, "s", m).Err() },
			func(c redis.Cmdable, m string) error { return c.SRem(ctx, "s", m).Err() },
			func(cur uint64, match string, count int64) ([]string, uint64, error) {
				return rdb.SScan(ctx, "s", cur, match, count).Result()
			}, false},
		{"zset", "z",
			func(c redis.Cmdable, m string) error { return c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: m}).Err() },
			func(c redis.Cmdable, m string) error { return c.ZRem(ctx, "z", m).Err() },
			func(cur uint64, match string, count int64) ([]string, uint64, error) {
				return rdb.ZScan(ctx, "z", cur, match, count).Result()
			}, true},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			// Small: whole in one call with cursor 0, whatever COUNT says
			// (integer members: a set is then an intset).
			for i := range 5 {
				if err := k.add(rdb, strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			if got, cur, err := k.scan(0, "", 1); err != nil || cur != 0 || len(got) != 5*(1+boolInt(k.pairs)) {
				t.Fatalf("small collection: %d items, cursor %d, %v; want all 5 at once", len(got), cur, err)
			}
			pipe := rdb.Pipeline()
			for i := range n {
				k.add(pipe, "s"+strconv.Itoa(i))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			// Churn: another client adds and removes other elements meanwhile.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
				defer c.Close()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k.add(c, "tmp"+strconv.Itoa(i))
					if i >= 50 {
						k.rem(c, "tmp"+strconv.Itoa(i-50))
					}
				}
			}()
			walk := func(match string, count int64) (seen map[string]int, calls, biggest int) {
				seen = map[string]int{}
				var cur uint64
				for {
					got, next, err := k.scan(cur, match, count)
					if err != nil {
						t.Fatal(err)
					}
					calls++
					step := 1 + boolInt(k.pairs)
					biggest = max(biggest, len(got)/step)
					for i := 0; i < len(got); i += step {
						seen[got[i]]++
					}
					if next == 0 {
						return seen, calls, biggest
					}
					if calls > 10*n {
						t.Fatal("the scan does not end")
					}
					cur = next
				}
			}
			seen, calls, biggest := walk("", 10)
			for i := range n {
				if m := "s" + strconv.Itoa(i); seen[m] != 1 {
					t.Fatalf("%s returned %d times by a full scan", m, seen[m])
				}
			}
			// At least COUNT and a sixteenth of the collection per call: about
			// sixteen calls, none much larger than that.
			if calls < 8 || biggest > (n+200)/16+20 {
				t.Fatalf("COUNT 10 over %d elements: %d calls, the largest page %d", n, calls, biggest)
			}
			_, fewer, big := walk("", 1000)
			if fewer >= calls || big < 1000 {
				t.Fatalf("COUNT 1000: %d calls (COUNT 10: %d), the largest page %d", fewer, calls, big)
			}
			seen, _, _ = walk("s1*", 10)
			for m := range seen {
				if !strings.HasPrefix(m, "s1") {
					t.Fatalf("MATCH s1* returned %q", m)
				}
			}
			if len(seen) != 1111 { // s1, s10-s19, s100-s199, s1000-s1999
				t.Fatalf("MATCH s1* returned %d elements, want 1111", len(seen))
			}
			close(stop)
			wg.Wait()
		})
	}
}
