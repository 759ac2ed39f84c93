package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BZPOPMIN and BZPOPMAX wait without a lock and are served by a ZADD from another
// client in arrival order, through go-redis; a timeout answers nil; what they
// popped stays popped after a restart (the AOF logs the pops).
func TestBZPop(t *testing.T) {
	dir := t.TempDir()
	srv, addr := aofServer(t, dir, "always")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rdb.Close()

	if _, err := rdb.BZPopMin(ctx, 20*time.Millisecond, "nokey").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("BZPOPMIN timeout: %v, want redis.Nil", err)
	}
	type res struct {
		z   *redis.ZWithKey
		err error
	}
	first, second := make(chan res, 1), make(chan res, 1)
	a := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer a.Close()
	b := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer b.Close()
	go func() {
		z, err := a.BZPopMin(ctx, 10*time.Second, "other", "q").Result()
		first <- res{z, err}
	}()
	waitFor(t, "the first client blocked", func() bool { return srv.blocked.Load() == 1 })
	go func() {
		z, err := b.BZPopMax(ctx, 10*time.Second, "q").Result()
		second <- res{z, err}
	}()
	waitFor(t, "the second client blocked", func() bool { return srv.blocked.Load() == 2 })
	// A list push on the key does not serve sorted-set waiters.
	if err := rdb.RPush(ctx, "other", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, "q", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 3, Member: "c"}).Err(); err != nil {
		t.Fatal(err)
	}
	r1, r2 := <-first, <-second
	if r1.err != nil || r1.z.Key != "q" || r1.z.Member != "a" || r1.z.Score != 1 {
		t.Fatalf("first waiter got %+v, %v; want q a 1", r1.z, r1.err)
	}
	if r2.err != nil || r2.z.Member != "c" || r2.z.Score != 3 {
		t.Fatalf("second waiter got %+v, %v; want q c 3", r2.z, r2.err)
	}
	if got := rdb.ZRange(ctx, "q", 0, -1).Val(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("q after the pops: %v", got)
	}
	if got := rdb.LRange(ctx, "other", 0, -1).Val(); len(got) != 1 {
		t.Fatalf("the list pushed meanwhile: %v", got)
	}
	shutdown(t, srv)
	_, addr2 := aofServer(t, dir, "always")
	r := redis.NewClient(&redis.Options{Addr: addr2, DisableIdentity: true})
	defer r.Close()
	if got := r.ZRange(ctx, "q", 0, -1).Val(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("q after a restart: %v", got)
	}
}
