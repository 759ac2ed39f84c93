package cache

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"gantry/internal/testenv"
)

func goRedis(t *testing.T, addr string, proto int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// go-redis, in RESP2 and RESP3, through every command family.
func TestGoRedis(t *testing.T) {
	_, addr := startServer(t, Config{})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := context.Background()
			rdb := goRedis(t, addr, proto)
			rdb.FlushAll(ctx)
			check := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			check("set", rdb.Set(ctx, "k", "v", time.Minute).Err())
			if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
				t.Fatalf("GET = %q, %v", v, err)
			}
			if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
				t.Fatalf("GET missing: %v, want redis.Nil", err)
			}
			if ttl := rdb.TTL(ctx, "k").Val(); ttl <= 58*time.Second || ttl > time.Minute {
				t.Fatalf("TTL = %v", ttl)
			}
			if n := rdb.IncrBy(ctx, "n", 5).Val(); n != 5 {
				t.Fatalf("INCRBY = %d", n)
			}
			if f := rdb.IncrByFloat(ctx, "f", 0.1).Val(); f != 0.1 {
				t.Fatalf("INCRBYFLOAT = %v", f)
			}
			if err := rdb.LPush(ctx, "k", "x").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
				t.Fatalf("LPUSH on a string: %v", err)
			}
			if err := rdb.Do(ctx, "GET").Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'get' command" {
				t.Fatalf("GET without key: %v", err)
			}
			check("hset", rdb.HSet(ctx, "h", "a", "1", "b", "2").Err())
			if m := rdb.HGetAll(ctx, "h").Val(); m["a"] != "1" || m["b"] != "2" || len(m) != 2 {
				t.Fatalf("HGETALL = %v", m)
			}
			check("rpush", rdb.RPush(ctx, "l", "a", "b", "c").Err())
			if l := rdb.LRange(ctx, "l", 0, -1).Val(); strings.Join(l, ",") != "a,b,c" {
				t.Fatalf("LRANGE = %v", l)
			}
			check("sadd", rdb.SAdd(ctx, "s", "x", "y").Err())
			if !rdb.SIsMember(ctx, "s", "x").Val() || rdb.SCard(ctx, "s").Val() != 2 {
				t.Fatal("set membership")
			}
			check("zadd", rdb.ZAdd(ctx, "z", redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 1, Member: "a"}).Err())
			zs := rdb.ZRangeWithScores(ctx, "z", 0, -1).Val()
			if len(zs) != 2 || zs[0].Member != "a" || zs[1].Score != 2 {
				t.Fatalf("ZRANGE WITHSCORES = %v", zs)
			}
			if s := rdb.ZScore(ctx, "z", "b").Val(); s != 2 {
				t.Fatalf("ZSCORE = %v", s)
			}
			if r := rdb.ZRank(ctx, "z", "b").Val(); r != 1 {
				t.Fatalf("ZRANK = %v", r)
			}
			// A pipeline of 100 commands: every reply in order.
			pipe := rdb.Pipeline()
			for i := range 100 {
				pipe.Set(ctx, fmt.Sprintf("p%d", i), i, 0)
				pipe.Incr(ctx, "counter")
			}
			cmds, err := pipe.Exec(ctx)
			check("pipeline", err)
			if last := cmds[len(cmds)-1].(*redis.IntCmd).Val(); last != 100 {
				t.Fatalf("last INCR of the pipeline = %d", last)
			}
			keys, cursor := []string{}, uint64(0)
			for {
				var batch []string
				batch, cursor, err = rdb.Scan(ctx, cursor, "p*", 10).Result()
				check("scan", err)
				keys = append(keys, batch...)
				if cursor == 0 {
					break
				}
			}
			if len(keys) != 100 {
				t.Fatalf("SCAN MATCH p* found %d keys, want 100", len(keys))
			}
			if n := rdb.DBSize(ctx).Val(); n != 108 {
				t.Fatalf("DBSIZE = %d", n)
			}
			// MULTI/EXEC through TxPipelined.
			_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "tx")
				p.Incr(ctx, "tx")
				return nil
			})
			check("tx", err)
			if v := rdb.Get(ctx, "tx").Val(); v != "2" {
				t.Fatalf("tx = %s", v)
			}
		})
	}
}

// Two clients race to increment one key with WATCH/MULTI/EXEC: with optimistic
// concurrency every increment lands exactly once.
func TestWatchRace(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	const workers, each = 4, 50
	var wg sync.WaitGroup
	var conflicts sync.Map
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := goRedis(t, addr, 2)
			for range each {
				for {
					err := rdb.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, "counter").Int()
						if err != nil && err != redis.Nil {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "counter", n+1, 0)
							return nil
						})
						return err
					}, "counter")
					if err == nil {
						break
					}
					if err != redis.TxFailedErr {
						t.Error(err)
						return
					}
					conflicts.Store(w, true)
				}
			}
		}()
	}
	wg.Wait()
	rdb := goRedis(t, addr, 2)
	if n, _ := rdb.Get(ctx, "counter").Int(); n != workers*each {
		t.Fatalf("counter = %d, want %d", n, workers*each)
	}
}

// Blocked clients are served first come, first served, and a timeout answers nil.
func TestBlockingPops(t *testing.T) {
	srv, addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := goRedis(t, addr, 2)
	if got := dialRaw(t, addr).do("BLPOP", "empty", "0.05"); got != "*-1\r\n" {
		t.Fatalf("BLPOP timeout = %q, want a null array", got)
	}
	const n = 3
	results := make(chan string, n)
	for i := range n {
		c := goRedis(t, addr, 2)
		go func() {
			v, err := c.BLPop(ctx, 10*time.Second, "q").Result()
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- fmt.Sprintf("%d:%s", i, v[1])
		}()
		// Wait until this client is blocked, so the order of arrival is known.
		waitFor(t, "client blocked", func() bool { return srv.blocked.Load() == int64(i+1) })
	}
	for i := range n {
		if err := rdb.RPush(ctx, "q", fmt.Sprintf("e%d", i)).Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := <-results, fmt.Sprintf("%d:e%d", i, i); got != want {
			t.Fatalf("pop %d = %q, want %q (first blocked, first served)", i, got, want)
		}
	}
	if rdb.Exists(ctx, "q").Val() != 0 {
		t.Fatal("the list should be empty")
	}
	// BLMOVE woken by a push moves the element.
	done := make(chan string, 1)
	c := goRedis(t, addr, 3)
	go func() { done <- c.BLMove(ctx, "src", "dst", "LEFT", "RIGHT", 10*time.Second).Val() }()
	waitFor(t, "BLMOVE blocked", func() bool { return srv.blocked.Load() == 1 })
	rdb.RPush(ctx, "src", "m")
	if v := <-done; v != "m" {
		t.Fatalf("BLMOVE = %q", v)
	}
	if l := rdb.LRange(ctx, "dst", 0, -1).Val(); len(l) != 1 || l[0] != "m" {
		t.Fatalf("dst = %v", l)
	}
}

func TestPubSub(t *testing.T) {
	_, addr := startServer(t, Config{})
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			sub := goRedis(t, addr, proto).Subscribe(ctx, "news")
			defer sub.Close()
			if err := sub.PSubscribe(ctx, "n*"); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.Receive(ctx); err != nil { // subscribe confirmation
				t.Fatal(err)
			}
			pub := goRedis(t, addr, 2)
			waitFor(t, "subscriptions", func() bool {
				return pub.PubSubNumPat(ctx).Val() == 1 && pub.PubSubNumSub(ctx, "news").Val()["news"] == 1
			})
			if n := pub.Publish(ctx, "news", "hello").Val(); n != 2 {
				t.Fatalf("PUBLISH reached %d, want 2 (channel and pattern)", n)
			}
			got := map[string]bool{}
			for range 2 {
				m, err := sub.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got[m.Pattern+"|"+m.Channel+"|"+m.Payload] = true
			}
			if !got["|news|hello"] || !got["n*|news|hello"] {
				t.Fatalf("messages = %v", got)
			}
			if ch := pub.PubSubChannels(ctx, "*").Val(); len(ch) != 1 || ch[0] != "news" {
				t.Fatalf("PUBSUB CHANNELS = %v", ch)
			}
		})
	}
}

// In RESP2 a subscribed client may only run subscription commands, as in Redis.
func TestSubscribedModeRestrictsCommands(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	r.do("SUBSCRIBE", "c")
	if got := r.do("GET", "k"); !strings.HasPrefix(got, "-ERR Can't execute 'get'") {
		t.Fatalf("GET while subscribed = %q", got)
	}
	if got := r.do("PING"); got != "*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
		t.Fatalf("PING while subscribed = %q", got)
	}
	if got := r.do("UNSUBSCRIBE"); got != "*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n" {
		t.Fatalf("UNSUBSCRIBE = %q", got)
	}
	if got := r.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET after unsubscribing = %q", got)
	}
}

// Keys with a time to live are reclaimed by the active cycle without being read.
func TestActiveExpiry(t *testing.T) {
	srv, addr := startServer(t, Config{})
	ctx := context.Background()
	rdb := goRedis(t, addr, 2)
	pipe := rdb.Pipeline()
	for i := range 1000 {
		pipe.Set(ctx, fmt.Sprintf("k%d", i), "v", 50*time.Millisecond)
	}
	pipe.Set(ctx, "keep", "v", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, "expired keys reclaimed", func() bool { n, _ := srv.ks.counts(0); return n == 1 })
	t.Logf("1000 keys reclaimed %v after their expiry", time.Since(start)-50*time.Millisecond)
	if srv.Stats().Expired != 1000 {
		t.Fatalf("expired = %d", srv.Stats().Expired)
	}
}

// Each policy evicts the keys it should, and the limit holds.
func TestEviction(t *testing.T) {
	const limit = 200 << 10
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			srv, addr := startServer(t, Config{MaxMemory: limit, MaxMemoryPolicy: policy})
			ctx := context.Background()
			rdb := goRedis(t, addr, 2)
			val := strings.Repeat("x", 1000)
			// A quarter of the keys have no TTL.
			var oom error
			for i := range 400 {
				ttl := time.Duration(0)
				if i%4 != 1 {
					ttl = time.Hour + time.Duration(i)*time.Second
				}
				if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), val, ttl).Err(); err != nil {
					oom = err
					break
				}
				if i < 10 {
					rdb.Get(ctx, "k0") // k0 is hot
				}
			}
			used := srv.ks.usedMemory()
			switch policy {
			case "noeviction":
				if oom == nil || oom.Error() != errOOM {
					t.Fatalf("writes past maxmemory: %v, want %q", oom, errOOM)
				}
				if used > limit+2000 {
					t.Fatalf("used %d past the limit %d", used, limit)
				}
				return
			}
			if oom != nil {
				t.Fatalf("write failed under %s: %v", policy, oom)
			}
			// The write that crosses the limit lands; the next one evicts first.
			if used > limit+2000 {
				t.Fatalf("used %d past the limit %d", used, limit)
			}
			if srv.Stats().Evicted == 0 {
				t.Fatal("nothing evicted")
			}
			if strings.HasPrefix(policy, "volatile-") {
				// Only keys with a TTL may go: every persistent key is still there.
				for i := 1; i < 400; i += 4 {
					if rdb.Exists(ctx, fmt.Sprintf("k%d", i)).Val() != 1 {
						t.Fatalf("%s evicted persistent key k%d", policy, i)
					}
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	_, addr := startServer(t, Config{RequirePass: "s3cret"})
	r := dialRaw(t, addr)
	if got := r.do("GET", "k"); got != "-"+errNoAuth+"\r\n" {
		t.Fatalf("GET before AUTH = %q", got)
	}
	if got := r.do("AUTH", "wrong"); got != "-"+errWrongPass+"\r\n" {
		t.Fatalf("AUTH wrong = %q", got)
	}
	if got := r.do("AUTH", "s3cret"); got != "+OK\r\n" {
		t.Fatalf("AUTH = %q", got)
	}
	if got := r.do("GET", "k"); got != "$-1\r\n" {
		t.Fatalf("GET after AUTH = %q", got)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret", DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("go-redis with a password (HELLO 3 AUTH): %v", err)
	}
}

func TestMaxClients(t *testing.T) {
	_, addr := startServer(t, Config{MaxClients: 1})
	a := dialRaw(t, addr)
	if got := a.do("PING"); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	b := dialRaw(t, addr)
	if got := b.reply(); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("second client got %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv, addr := startServer(t, Config{Timeout: 100 * time.Millisecond})
	r := dialRaw(t, addr)
	r.do("PING")
	if got := r.reply(); got != "" {
		t.Fatalf("idle connection got %q", got)
	}
	waitFor(t, "idle client closed", func() bool { return srv.Stats().Clients == 0 })
}

func TestClientKill(t *testing.T) {
	_, addr := startServer(t, Config{})
	victim := dialRaw(t, addr)
	id := strings.TrimSpace(strings.TrimPrefix(victim.do("CLIENT", "ID"), ":"))
	killer := dialRaw(t, addr)
	if got := killer.do("CLIENT", "KILL", "ID", id); got != ":1\r\n" {
		t.Fatalf("CLIENT KILL = %q", got)
	}
	if got := victim.do("PING"); got != "" {
		t.Fatalf("killed client got %q", got)
	}
	waitFor(t, "killed client gone from CLIENT LIST", func() bool {
		return !strings.Contains(killer.do("CLIENT", "LIST"), "id="+id+" ")
	})
}

// redis-cli talks to gantry cache, inline and with its own command parsing.
func TestRedisCLI(t *testing.T) {
	_, addr := startServer(t, Config{})
	run := redisCLI(t, addr)
	if got := run("SET", "greeting", "hello world"); got != "OK" {
		t.Fatalf("SET = %q", got)
	}
	if got := run("GET", "greeting"); got != "hello world" {
		t.Fatalf("GET = %q", got)
	}
	if got := run("--no-raw", "HGETALL", "nokey"); got != "(empty array)" {
		t.Fatalf("HGETALL = %q", got)
	}
	if got := run("INFO", "keyspace"); !strings.Contains(got, "db0:keys=1") {
		t.Fatalf("INFO keyspace = %q", got)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(testenv.LookPath(t, "redis-cli"), "-h", host, "-p", port)
	cmd.Stdin = strings.NewReader("RPUSH l a b\nLRANGE l 0 -1\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "a\nb") {
		t.Fatalf("redis-cli from stdin: %v\n%s", err, out)
	}
}

func TestShutdownClosesClients(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr, served := testenv.ServeOwn(t, srv)
	r := dialRaw(t, addr)
	if got := r.do("PING"); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	if got := r.reply(); got != "" {
		t.Fatalf("client of a stopped server read %q", got)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal("second Shutdown:", err)
	}
}

// A client that leaves while blocked is withdrawn at once: an element pushed after
// it left stays in the list instead of going to the dead connection.
func TestBlockedClientLeaves(t *testing.T) {
	srv, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	r.c.Write(encodeCommand([]string{"BLPOP", "q", "0"}))
	waitFor(t, "client blocked", func() bool { return srv.blocked.Load() == 1 })
	r.c.Close()
	waitFor(t, "blocked client withdrawn", func() bool { return srv.blocked.Load() == 0 })
	other := dialRaw(t, addr)
	other.do("RPUSH", "q", "x")
	if got := other.do("LLEN", "q"); got != ":1\r\n" {
		t.Fatalf("LLEN after the blocked client left = %q, want the element kept", got)
	}
	// A blocked client that pipelines more commands gets their replies after.
	p := dialRaw(t, addr)
	p.c.Write(append(encodeCommand([]string{"BLPOP", "q2", "0"}), encodeCommand([]string{"PING"})...))
	waitFor(t, "client blocked", func() bool { return srv.blocked.Load() == 1 })
	other.do("RPUSH", "q2", "y")
	if got := p.reply(); got != "*2\r\n$2\r\nq2\r\n$1\r\ny\r\n" {
		t.Fatalf("BLPOP = %q", got)
	}
	if got := p.reply(); got != "+PONG\r\n" {
		t.Fatalf("PING after BLPOP = %q", got)
	}
}

// One command in sampleEvery per client is timed into the latency histogram.
func TestLatencySampling(t *testing.T) {
	srv, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	for range 2 * sampleEvery {
		r.do("PING")
	}
	var m dto.Metric
	if err := srv.latencyVec.WithLabelValues("ping").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 2 {
		t.Fatalf("ping latency samples = %d after %d PINGs, want 2", n, 2*sampleEvery)
	}
}

// A subscriber that does not read is disconnected once its queue passes the
// output limit; the publisher is never held up.
func TestSlowSubscriberDropped(t *testing.T) {
	srv, addr := startServer(t, Config{OutputBufferLimit: 1 << 20})
	sub := dialRaw(t, addr)
	sub.do("SUBSCRIBE", "c") // and never read again
	pub := dialRaw(t, addr)
	msg := strings.Repeat("x", 64<<10)
	waitFor(t, "slow subscriber dropped", func() bool {
		pub.do("PUBLISH", "c", msg)
		return srv.pubsub.numSub("c") == 0
	})
	waitFor(t, "client gone", func() bool { return srv.Stats().Clients == 1 })
}
