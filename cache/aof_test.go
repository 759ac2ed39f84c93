package cache

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gantry/internal/testenv"
)

// restart stops srv's files by shutting it down and starts a new server on dir.
func aofServer(t *testing.T, dir, fsync string) (*Server, string) {
	t.Helper()
	return startServer(t, Config{AppendOnly: true, AppendFsync: fsync, Dir: dir})
}

func shutdown(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// Every data type survives a restart, and commands that depend on the clock or on
// chance replay to the same state.
func TestAOFReplay(t *testing.T) {
	dir := t.TempDir()
	srv, addr := aofServer(t, dir, "always")
	r := dialRaw(t, addr)
	script := []string{
		"SET s v EX 1000", "SET gone v PX 1", "INCRBYFLOAT f 0.1", "INCRBYFLOAT f 0.2",
		"RPUSH l a b c", "LPOP l", "HSET h a 1 b 2", "HINCRBYFLOAT h c 1.5", "SADD set 1 2 3 4 5",
		"SPOP set 2", "ZADD z 1 a 2 b", "ZINCRBY z 5 a", "SELECT 3", "SET other db3", "SELECT 0",
		"MULTI", "INCR n", "INCR n", "EXEC", "SET tmp x", "DEL tmp", "EXPIRE l 5000", "SET p v EX 100", "PERSIST p",
	}
	for _, line := range script {
		if got := r.do(strings.Fields(line)...); strings.HasPrefix(got, "-") {
			t.Fatalf("%s: %q", line, got)
		}
	}
	// Expiry times are compared absolute (PEXPIRETIME): the log keeps them as PEXPIREAT,
	// so they survive a restart to the millisecond, where a TTL would tick on meanwhile.
	dump := func(r *rawConn) string {
		var b strings.Builder
		for _, line := range []string{
			"GET s", "PEXPIRETIME s", "EXISTS gone", "GET f", "LRANGE l 0 -1", "PEXPIRETIME l", "HGETALL h", "SMEMBERS set",
			"ZRANGE z 0 -1 WITHSCORES", "GET n", "EXISTS tmp", "TTL p", "SELECT 3", "GET other", "SELECT 0", "DBSIZE",
		} {
			b.WriteString(line + " -> " + r.do(strings.Fields(line)...))
		}
		return b.String()
	}
	before := dump(r)
	shutdown(t, srv)
	_, addr2 := aofServer(t, dir, "always")
	after := dump(dialRaw(t, addr2))
	if before != after {
		t.Fatalf("state after restart differs\nbefore: %q\nafter:  %q", before, after)
	}
}

// A command cut off at the end of the file is dropped, the file truncated, and
// everything before it kept.
func TestAOFTornTail(t *testing.T) {
	dir := t.TempDir()
	srv, addr := aofServer(t, dir, "always")
	r := dialRaw(t, addr)
	r.do("SET", "a", "1")
	r.do("SET", "b", "2")
	shutdown(t, srv)
	path := filepath.Join(dir, aofName)
	good, _ := os.ReadFile(path)
	for _, tail := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nabc",                        // cut inside a value
		"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n", // a transaction without EXEC
		"*3\r\n$3\r\nSE",
	} {
		os.WriteFile(path, append(append([]byte(nil), good...), tail...), 0o644)
		srv, addr := aofServer(t, dir, "always")
		r := dialRaw(t, addr)
		if got := r.do("MGET", "a", "b", "c"); got != "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n" {
			t.Fatalf("after a torn tail %q: MGET = %q", tail, got)
		}
		shutdown(t, srv)
		if data, _ := os.ReadFile(path); string(data) != string(good) {
			t.Fatalf("file not truncated to its last whole command: %d bytes, want %d", len(data), len(good))
		}
	}
}

// startAOFChild re-executes the test binary as TestAOFChild: a server with appendfsync
// always in a fresh directory, on a loopback address, that the caller can SIGKILL.
func startAOFChild(t *testing.T) (dir, addr string, child *exec.Cmd) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	child = exec.Command(exe, "-test.run=^TestAOFChild$")
	child.Env = append(os.Environ(), "GANTRY_AOF_CHILD="+dir, "GANTRY_AOF_ADDR="+addr)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	return dir, addr, child
}

// With appendfsync always, no write that was answered is lost when the process is
// killed with SIGKILL in the middle of writes.
func TestAOFCrash(t *testing.T) {
	if os.Getenv("GANTRY_AOF_CHILD") != "" {
		return // the child's work is in TestMain's helper below
	}
	dir, addr, child := startAOFChild(t)
	defer child.Process.Kill()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	waitFor(t, "child server", func() bool { return rdb.Ping(ctx).Err() == nil })

	const writers = 4
	var acked [writers]atomic.Int64 // the highest i each writer got OK for
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
			defer c.Close()
			for i := 1; ; i++ {
				if err := c.Set(ctx, fmt.Sprintf("w%d:%d", w, i), i, 0).Err(); err != nil {
					errs <- err
					return
				}
				acked[w].Store(int64(i))
			}
		}()
	}
	waitFor(t, "writes under way", func() bool { return acked[writers-1].Load() > 200 })
	child.Process.Kill() // SIGKILL
	child.Wait()
	for range writers {
		<-errs
	}
	_, addr2 := aofServer(t, dir, "always")
	r := redis.NewClient(&redis.Options{Addr: addr2, DisableIdentity: true})
	defer r.Close()
	for w := range writers {
		n := acked[w].Load()
		for i := int64(1); i <= n; i++ {
			if v, err := r.Get(ctx, fmt.Sprintf("w%d:%d", w, i)).Result(); err != nil || v != strconv.FormatInt(i, 10) {
				t.Fatalf("acknowledged write w%d:%d lost after SIGKILL (%q, %v); writer acked %d", w, i, v, err, n)
			}
		}
	}
	t.Logf("acknowledged writes all present after SIGKILL: %d, %d, %d, %d", acked[0].Load(), acked[1].Load(), acked[2].Load(), acked[3].Load())
}

// TestAOFChild is the server process TestAOFCrash kills; it does nothing in a
// normal run.
func TestAOFChild(t *testing.T) {
	dir := os.Getenv("GANTRY_AOF_CHILD")
	if dir == "" {
		t.Skip("run by TestAOFCrash")
	}
	serveAOFUntilKilled(t, dir, "always", os.Getenv("GANTRY_AOF_ADDR"))
}

// serveAOFUntilKilled is the body of a crash test's child process: a server with an
// append-only file in dir, serving addr until the parent kills it.
func serveAOFUntilKilled(t *testing.T, dir, fsync, addr string) {
	srv, err := New(Config{AppendOnly: true, AppendFsync: fsync, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(context.Background(), ln) // until SIGKILL
}

// BGREWRITEAOF replaces a long log with one command per key; writes after it are
// appended to the new file, and a restart gives back the same dataset.
func TestAOFRewrite(t *testing.T) {
	dir := t.TempDir()
	srv, addr := aofServer(t, dir, "always")
	r := dialRaw(t, addr)
	for range 500 {
		r.do("INCR", "n")
		r.do("RPUSH", "l", "x")
	}
	r.do("HSET", "h", "a", "1", "b", "2")
	r.do("SADD", "s", "1", "2") // integers: SMEMBERS order is fixed (intset)
	r.do("ZADD", "z", "1.5", "a", "-inf", "b")
	r.do("SET", "t", "v", "EX", "1000")
	r.do("SELECT", "2")
	r.do("SET", "in2", "v")
	r.do("SELECT", "0")
	path := filepath.Join(dir, aofName)
	before, _ := os.Stat(path)
	if got := r.do("BGREWRITEAOF"); got != "+Background append only file rewriting started\r\n" {
		t.Fatalf("BGREWRITEAOF = %q", got)
	}
	waitFor(t, "rewrite", func() bool { return srv.aof.Load().rewrites.Load() == 1 })
	after, _ := os.Stat(path)
	if after.Size() >= before.Size()/4 {
		t.Fatalf("file %d bytes after the rewrite, %d before", after.Size(), before.Size())
	}
	r.do("INCR", "n") // appended to the new file
	dump := func(r *rawConn) string {
		var b strings.Builder
		for _, line := range []string{"GET n", "LLEN l", "HGETALL h", "SMEMBERS s", "ZRANGE z 0 -1 WITHSCORES", "TTL t", "SELECT 2", "GET in2", "SELECT 0", "DBSIZE"} {
			b.WriteString(line + " -> " + r.do(strings.Fields(line)...))
		}
		return b.String()
	}
	want := dump(r)
	shutdown(t, srv)
	_, addr2 := aofServer(t, dir, "always")
	if got := dump(dialRaw(t, addr2)); got != want {
		t.Fatalf("after rewrite and restart\n got:  %q\n want: %q", got, want)
	}
}

// The file is rewritten by itself once it has doubled past the minimum size.
func TestAOFAutoRewrite(t *testing.T) {
	dir := t.TempDir()
	srv, addr := startServer(t, Config{AppendOnly: true, AppendFsync: "everysec", Dir: dir, AOFRewriteMinSize: 4 << 10})
	r := dialRaw(t, addr)
	for range 300 {
		r.do("SET", "k", strings.Repeat("v", 50))
	}
	waitFor(t, "automatic rewrite", func() bool { return srv.aof.Load().rewrites.Load() >= 1 })
	if got := r.do("GET", "k"); got != "$50\r\n"+strings.Repeat("v", 50)+"\r\n" {
		t.Fatalf("GET after the rewrite = %q", got)
	}
}

// SAVE fsyncs the log and moves LASTSAVE; SHUTDOWN makes Serve return, and what
// was written before it is there after a restart.
func TestSaveAndShutdown(t *testing.T) {
	dir := t.TempDir()
	srv, err := New(Config{AppendOnly: true, AppendFsync: "no", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr, served := testenv.ServeOwn(t, srv)
	r := dialRaw(t, addr)
	r.do("SET", "k", "v")
	srv.lastSave.Store(1)
	if got := r.do("SAVE"); got != "+OK\r\n" {
		t.Fatalf("SAVE = %q", got)
	}
	if got := r.do("LASTSAVE"); got == ":1\r\n" {
		t.Fatal("LASTSAVE did not move after SAVE")
	}
	if got := r.do("SHUTDOWN", "BOGUS"); got != "-ERR syntax error\r\n" {
		t.Fatalf("SHUTDOWN BOGUS = %q", got)
	}
	r.do("SET", "k2", "v2")
	if got := r.do("SHUTDOWN", "NOSAVE"); got != "" {
		t.Fatalf("SHUTDOWN replied %q; Redis closes the connection", got)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after SHUTDOWN = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after SHUTDOWN")
	}
	shutdown(t, srv)
	_, addr = aofServer(t, dir, "no")
	if got := dialRaw(t, addr).do("MGET", "k", "k2"); got != "*2\r\n$1\r\nv\r\n$2\r\nv2\r\n" {
		t.Fatalf("after SHUTDOWN and restart: %q", got)
	}
	// Without appendonly there is nothing to save to.
	_, plain := startServer(t, Config{})
	if got := dialRaw(t, plain).do("SAVE"); !strings.HasPrefix(got, "-ERR gantry keeps no RDB") {
		t.Fatalf("SAVE without appendonly = %q", got)
	}
}

// CONFIG SET appendfsync changes the running log's mode; writes made in each
// mode are there after a restart.
func TestAOFConfigSetFsync(t *testing.T) {
	dir := t.TempDir()
	srv, addr := aofServer(t, dir, "no")
	r := dialRaw(t, addr)
	for i, mode := range []string{"always", "everysec", "no"} {
		if got := r.do("CONFIG", "SET", "appendfsync", mode); got != "+OK\r\n" {
			t.Fatalf("CONFIG SET appendfsync %s = %q", mode, got)
		}
		if got := srv.aof.Load().fsyncMode(); got != mode {
			t.Fatalf("the log's mode is %q after CONFIG SET %s", got, mode)
		}
		r.do("SET", "k"+strconv.Itoa(i), mode)
	}
	shutdown(t, srv)
	_, addr2 := aofServer(t, dir, "no")
	if got := dialRaw(t, addr2).do("MGET", "k0", "k1", "k2"); got != "*3\r\n$6\r\nalways\r\n$8\r\neverysec\r\n$2\r\nno\r\n" {
		t.Fatalf("after a restart: %q", got)
	}
}

// CONFIG SET appendonly yes writes the file from the dataset (a rewrite) while
// writes go on, and a restart finds every key; CONFIG SET appendonly no stops
// logging, and what is written afterwards is not in the file.
func TestAOFConfigSetAppendOnly(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, addr := startServer(t, Config{Dir: dir})
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "appendonly", "maybe").Err(); err == nil ||
		err.Error() != "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'" {
		t.Fatalf("CONFIG SET appendonly maybe: %v", err)
	}
	for i := range 200 {
		rdb.Set(ctx, "k"+strconv.Itoa(i), i, 0)
	}
	rdb.RPush(ctx, "l", "a", "b", "c")
	rdb.HSet(ctx, "h", "f", "v")
	rdb.ZAdd(ctx, "z", redis.Z{Score: 2, Member: "m"})
	rdb.Set(ctx, "ttl", "v", time.Hour)
	if err := rdb.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if v := rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"]; v != "yes" {
		t.Fatalf("CONFIG GET appendonly = %q after SET yes", v)
	}
	for i := range 100 { // during the rewrite, or after it
		rdb.Incr(ctx, "n")
		rdb.Set(ctx, "k"+strconv.Itoa(i), "new", 0)
	}
	waitFor(t, "the rewrite that writes the file", func() bool {
		return strings.Contains(rdb.Info(ctx, "persistence").Val(), "aof_rewrites:1")
	})
	rdb.SAdd(ctx, "s", "after-rewrite")
	dump := func(rdb *redis.Client) string {
		var b strings.Builder
		for i := range 200 {
			b.WriteString(rdb.Get(ctx, "k"+strconv.Itoa(i)).Val() + ",")
		}
		fmt.Fprint(&b, rdb.Get(ctx, "n").Val(), rdb.LRange(ctx, "l", 0, -1).Val(), rdb.HGetAll(ctx, "h").Val(),
			rdb.ZRangeWithScores(ctx, "z", 0, -1).Val(), rdb.TTL(ctx, "ttl").Val() > 59*time.Minute,
			rdb.SMembers(ctx, "s").Val(), rdb.DBSize(ctx).Val())
		return b.String()
	}
	want := dump(rdb)
	shutdown(t, srv)

	srv2, addr2 := aofServer(t, dir, "everysec")
	rdb2 := redis.NewClient(&redis.Options{Addr: addr2})
	defer rdb2.Close()
	if got := dump(rdb2); got != want {
		t.Fatalf("after CONFIG SET appendonly yes and a restart\n got:  %s\n want: %s", got, want)
	}
	if err := rdb2.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if v := rdb2.ConfigGet(ctx, "appendonly").Val()["appendonly"]; v != "no" {
		t.Fatalf("CONFIG GET appendonly = %q after SET no", v)
	}
	rdb2.Set(ctx, "not-logged", "v", 0)
	shutdown(t, srv2)
	_, addr3 := aofServer(t, dir, "everysec")
	rdb3 := redis.NewClient(&redis.Options{Addr: addr3})
	defer rdb3.Close()
	if n := rdb3.Exists(ctx, "not-logged").Val(); n != 0 {
		t.Fatal("a key written after CONFIG SET appendonly no was logged")
	}
	if got := dump(rdb3); got != want {
		t.Fatalf("after CONFIG SET appendonly no and a restart\n got:  %s\n want: %s", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left in the directory: %v", entries)
	}
}
