package cache_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"gantry/cache"
)

// A cache server on a loopback port, used through go-redis as Redis would be.
func Example() {
	srv, err := cache.New(cache.Config{MaxMemory: 64 << 20, MaxMemoryPolicy: "allkeys-lru"})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(context.Background(), ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), DisableIdentity: true})
	defer rdb.Close()
	rdb.Set(ctx, "greeting", "hello", time.Minute)
	fmt.Println(rdb.Get(ctx, "greeting").Val())
	fmt.Println(rdb.Incr(ctx, "visits").Val(), rdb.Incr(ctx, "visits").Val())
	// Output:
	// hello
	// 1 2
}
