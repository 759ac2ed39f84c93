package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CONFIG GET and SET client-output-buffer-limit parse and show the classes as
// Redis 7 does (the replies were taken from redis-server 7.0), and a refused
// value changes nothing.
func TestConfigOutputBufferLimit(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	get := func() string {
		t.Helper()
		m, err := rdb.ConfigGet(ctx, "client-output-buffer-limit").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m["client-output-buffer-limit"]
	}
	if got, want := get(), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"; got != want {
		t.Fatalf("default = %q, want %q", got, want)
	}
	const prefix = "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "
	for _, tc := range []struct{ set, err, want string }{
		{"normal 1mb 512kb 10", "", "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"},
		{"pubsub 1k 2", "Wrong number of arguments in buffer limit configuration.", ""},
		{"bogus 1 2 3", "Invalid client class specified in buffer limit configuration.", ""},
		{"master 1 2 3", "Invalid client class specified in buffer limit configuration.", ""},
		{"normal x 2 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration.", ""},
		{"normal 1 2 -3", "Error in hard, soft or soft_seconds setting in buffer limit configuration.", ""},
		{"normal 0 0 0 pubsub 1 2 3 bogus 1 2 3", "Invalid client class specified in buffer limit configuration.", ""},
		{"replica 1 2 3", "", "normal 1048576 524288 10 slave 1 2 3 pubsub 33554432 8388608 60"},
		{"", "", "normal 1048576 524288 10 slave 1 2 3 pubsub 33554432 8388608 60"},
		{"NORMAL 1GB 2 3", "", "normal 1073741824 2 3 slave 1 2 3 pubsub 33554432 8388608 60"},
		{"normal 0 0 0 pubsub 32mb 8mb 60 normal 5 5 5", "", "normal 5 5 5 slave 1 2 3 pubsub 33554432 8388608 60"},
	} {
		err := rdb.ConfigSet(ctx, "client-output-buffer-limit", tc.set).Err()
		if tc.err != "" {
			if err == nil || err.Error() != prefix+tc.err {
				t.Fatalf("CONFIG SET %q: err %v, want %q", tc.set, err, prefix+tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("CONFIG SET %q: %v", tc.set, err)
		}
		if got := get(); got != tc.want {
			t.Fatalf("after CONFIG SET %q: %q, want %q", tc.set, got, tc.want)
		}
	}
}

// A normal client that does not read its replies is disconnected once what the
// socket has not taken passes the hard limit (here one 1 MB reply), or stays above
// the soft limit for longer than its seconds; in the event loop and with a
// goroutine per connection alike. Another client goes on.
func TestOutputLimitNormalClient(t *testing.T) {
	for _, tc := range []struct {
		name, limit string
		goroutine   bool
		atLeast     time.Duration
	}{
		{"hard/loop", "normal 512kb 0 0", false, 0},
		{"hard/goroutine", "normal 512kb 0 0", true, 0},
		{"soft/loop", "normal 0 256kb 1", false, time.Second},
		{"soft/goroutine", "normal 0 256kb 1", true, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the soft limit's cases wait for its second
			srv, addr := startServer(t, Config{GoroutinePerConn: tc.goroutine})
			other := dialRaw(t, addr)
			if got := other.do("CONFIG", "SET", "client-output-buffer-limit", tc.limit); got != "+OK\r\n" {
				t.Fatal(got)
			}
			if got := other.do("SET", "big", strings.Repeat("v", 1<<20)); got != "+OK\r\n" {
				t.Fatal(got)
			}
			r := dialRaw(t, addr)
			if got := r.do("PING"); got != "+PONG\r\n" {
				t.Fatal(got)
			}
			var req []byte
			for range 64 { // 64 MB of replies: far more than loopback's socket buffers hold
				req = append(req, encodeCommand([]string{"GET", "big"})...)
			}
			start := time.Now()
			r.c.SetWriteDeadline(start.Add(10 * time.Second))
			if _, err := r.c.Write(req); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the client that does not read disconnected", func() bool { return srv.Stats().Clients == 1 })
			if took := time.Since(start); took < tc.atLeast {
				t.Fatalf("disconnected after %v, before the soft limit's %v", took, tc.atLeast)
			}
			if got := other.do("GET", "nokey"); got != "$-1\r\n" {
				t.Fatalf("the other client's GET = %q", got)
			}
		})
	}
}

// Under a normal limit a client that reads gets replies larger than the limit's
// soft part, and one that stalls briefly, well within the soft seconds, stays.
func TestOutputLimitReaderStays(t *testing.T) {
	srv, addr := startServer(t, Config{OutputLimits: OutputLimits{Normal: OutputLimit{Soft: 64 << 10, SoftSeconds: 5}}})
	r := dialRaw(t, addr)
	big := strings.Repeat("v", 4<<20)
	if got := r.do("SET", "big", big); got != "+OK\r\n" {
		t.Fatal(got)
	}
	for range 3 {
		if got := r.do("GET", "big"); len(got) != len(big)+len("$4194304\r\n\r\n") {
			t.Fatalf("GET big: %d bytes", len(got))
		}
	}
	if n := srv.Stats().Clients; n != 1 {
		t.Fatalf("clients = %d, want 1", n)
	}
}

// A subscriber that does not read is disconnected past the pubsub class's hard
// limit set by CONFIG SET; the publisher is not held up.
func TestOutputLimitPubsubConfigSet(t *testing.T) {
	srv, addr := startServer(t, Config{})
	pub := dialRaw(t, addr)
	if got := pub.do("CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 0 0"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	sub := dialRaw(t, addr)
	sub.do("SUBSCRIBE", "c") // and never read again
	msg := strings.Repeat("x", 64<<10)
	waitFor(t, "slow subscriber dropped", func() bool {
		pub.do("PUBLISH", "c", msg)
		return srv.pubsub.numSub("c") == 0
	})
	waitFor(t, "client gone", func() bool { return srv.Stats().Clients == 1 })
}
