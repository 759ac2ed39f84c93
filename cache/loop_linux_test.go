package cache

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// connModes counts the server's clients served by an event loop and by
// goroutines of their own.
func connModes(srv *Server) (inLoop, goroutine int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, c := range srv.clients {
		sk, ok := c.conn.(*sock)
		if !ok {
			goroutine++
			continue
		}
		sk.mu.Lock()
		if sk.nc == nil {
			inLoop++
		} else {
			goroutine++
		}
		sk.mu.Unlock()
	}
	return inLoop, goroutine
}

func waitModes(t *testing.T, srv *Server, inLoop, goroutine int) {
	t.Helper()
	waitFor(t, "clients in loop "+strconv.Itoa(inLoop)+" and goroutines "+strconv.Itoa(goroutine), func() bool {
		l, g := connModes(srv)
		return l == inLoop && g == goroutine
	})
}

// A pipeline longer than the read buffer is served over several passes of the
// loop, every reply in order, and the clients stay in the loop.
func TestLoopServesPipelines(t *testing.T) {
	srv, addr := startServer(t, Config{EventLoops: 2})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	const n = 5000
	var req []byte
	for i := range n {
		req = append(req, encodeCommand([]string{"SET", "k" + strconv.Itoa(i), strconv.Itoa(i)})...)
	}
	for i := range n {
		req = append(req, encodeCommand([]string{"GET", "k" + strconv.Itoa(i)})...)
	}
	a.c.SetDeadline(time.Now().Add(20 * time.Second))
	go a.c.Write(req) // replies are read while the request is still being written
	for i := range n {
		if got := a.reply(); got != "+OK\r\n" {
			t.Fatalf("SET %d: %q", i, got)
		}
	}
	for i := range n {
		v := strconv.Itoa(i)
		if got, want := a.reply(), "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n"; got != want {
			t.Fatalf("GET %d = %q, want %q", i, got, want)
		}
	}
	if got := b.do("DBSIZE"); got != ":5000\r\n" {
		t.Fatalf("DBSIZE = %q", got)
	}
	waitModes(t, srv, 2, 0)
}

// A client that does not read its replies is handed from the loop to a
// goroutine when the socket stops taking them; it gets every byte later.
func TestLoopHandsSlowReaderToGoroutine(t *testing.T) {
	srv, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	big := strings.Repeat("v", 1<<20)
	if got := r.do("SET", "big", big); got != "+OK\r\n" {
		t.Fatal(got)
	}
	waitModes(t, srv, 1, 0)
	const gets = 32 // 32 MB of replies: more than loopback's socket buffers hold
	var req []byte
	for range gets {
		req = append(req, encodeCommand([]string{"GET", "big"})...)
	}
	req = append(req, encodeCommand([]string{"PING"})...)
	r.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(req); err != nil {
		t.Fatal(err)
	}
	waitModes(t, srv, 0, 1)
	want := "$" + strconv.Itoa(len(big)) + "\r\n" + big + "\r\n"
	for i := range gets {
		if got := r.reply(); got != want {
			t.Fatalf("GET %d: %d bytes, want %d", i, len(got), len(want))
		}
	}
	if got := r.reply(); got != "+PONG\r\n" {
		t.Fatalf("PING after the big replies = %q", got)
	}
	if got := r.do("GET", "nokey"); got != "$-1\r\n" {
		t.Fatalf("GET after the hand-over = %q", got)
	}
}

// A blocking command leaves the loop for a goroutine before it runs, so the loop
// goes on serving others while it waits; replies buffered before it keep their order.
func TestLoopHandsBlockingPopToGoroutine(t *testing.T) {
	srv, addr := startServer(t, Config{})
	waiter, pusher := dialRaw(t, addr), dialRaw(t, addr)
	waiter.c.SetDeadline(time.Now().Add(10 * time.Second))
	waiter.c.Write(append(encodeCommand([]string{"PING"}), encodeCommand([]string{"BLPOP", "q", "0"})...))
	if got := waiter.reply(); got != "+PONG\r\n" {
		t.Fatalf("PING before BLPOP = %q", got)
	}
	waitModes(t, srv, 1, 1)
	if got := pusher.do("RPUSH", "q", "x"); got != ":1\r\n" {
		t.Fatalf("RPUSH = %q", got)
	}
	if got := waiter.reply(); got != "*2\r\n$1\r\nq\r\n$1\r\nx\r\n" {
		t.Fatalf("BLPOP = %q", got)
	}
	if got := waiter.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after BLPOP = %q", got)
	}
}

// With GoroutinePerConn every connection has its own goroutine, and pipelines,
// subscriptions, CLIENT KILL and the idle timeout work as in the loop.
func TestGoroutinePerConn(t *testing.T) {
	// The idle timeout must outlast a stall of the whole test process between the dial
	// and the first command (seen at 300 ms on a loaded machine).
	srv, addr := startServer(t, Config{GoroutinePerConn: true, Timeout: 2 * time.Second})
	a, sub := dialRaw(t, addr), dialRaw(t, addr)
	a.c.SetDeadline(time.Now().Add(10 * time.Second))
	a.c.Write(append(encodeCommand([]string{"SET", "k", "v"}), encodeCommand([]string{"GET", "k"})...))
	if got := a.reply() + a.reply(); got != "+OK\r\n$1\r\nv\r\n" {
		t.Fatalf("pipeline = %q", got)
	}
	if got := sub.do("SUBSCRIBE", "ch"); !strings.HasPrefix(got, "*3\r\n$9\r\nsubscribe\r\n") {
		t.Fatalf("SUBSCRIBE = %q", got)
	}
	waitModes(t, srv, 0, 2)
	if got := a.do("PUBLISH", "ch", "hi"); got != ":1\r\n" {
		t.Fatalf("PUBLISH = %q", got)
	}
	if got := sub.reply(); got != "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n" {
		t.Fatalf("message = %q", got)
	}
	// a goes idle past the timeout and is closed.
	a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle client read: %v, want EOF", err)
	}
}

// Shutdown closes the loops' connections and a handed-over one, and returns.
func TestLoopShutdown(t *testing.T) {
	srv, err := New(Config{EventLoops: 3})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	addr := ln.Addr().String()
	var conns []*rawConn
	for range 8 {
		r := dialRaw(t, addr)
		if got := r.do("PING"); got != "+PONG\r\n" {
			t.Fatal(got)
		}
		conns = append(conns, r)
	}
	conns[0].c.Write(encodeCommand([]string{"BLPOP", "q", "0"}))
	waitModes(t, srv, 7, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for i, r := range conns {
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(r.br); err != nil || (i > 0 && len(b) > 0) {
			t.Fatalf("client %d after Shutdown: %q, %v", i, b, err)
		}
	}
	if len(srv.loops) != 3 {
		t.Fatalf("%d loops, want 3", len(srv.loops))
	}
	for _, l := range srv.loops {
		if !l.exited {
			t.Fatal("a loop did not exit")
		}
	}
}

// A subscription queued in MULTI also takes the client out of the loop, so that
// EXEC does not subscribe in it: publishers write to a subscriber from their own
// goroutines.
func TestLoopHandsSubscribeInExecToGoroutine(t *testing.T) {
	srv, addr := startServer(t, Config{})
	sub, pub := dialRaw(t, addr), dialRaw(t, addr)
	for _, cmd := range [][]string{{"MULTI"}, {"SUBSCRIBE", "ch"}} {
		if got := sub.do(cmd...); got != "+OK\r\n" && got != "+QUEUED\r\n" {
			t.Fatalf("%v = %q", cmd, got)
		}
	}
	waitModes(t, srv, 1, 1)
	if got := sub.do("EXEC"); got != "*1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	waitModes(t, srv, 1, 1)
	for i := range 20 {
		if got := pub.do("PUBLISH", "ch", strconv.Itoa(i)); got != ":1\r\n" {
			t.Fatalf("PUBLISH = %q", got)
		}
	}
	for i := range 20 {
		v := strconv.Itoa(i)
		want := "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
		if got := sub.reply(); got != want {
			t.Fatalf("message %d = %q, want %q", i, got, want)
		}
	}
}

// CONFIG SET timeout applies to a loop's clients that are already idle.
func TestLoopIdleTimeoutSetLater(t *testing.T) {
	srv, addr := startServer(t, Config{})
	idle, admin := dialRaw(t, addr), dialRaw(t, addr)
	if got := idle.do("PING"); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	if got := admin.do("CONFIG", "SET", "timeout", "1"); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET timeout = %q", got)
	}
	// admin keeps talking; idle says nothing more and is closed after about 1 s.
	waitFor(t, "idle client closed", func() bool {
		admin.do("PING")
		return srv.Stats().Clients == 1
	})
	idle.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle client read: %v, want EOF", err)
	}
}

// With the append-only file on, clients stay in their loop: the replies of a pass
// go out after one write (and fsync) of the log, and a restart finds every write
// they acknowledged.
func TestLoopKeepsAOFClients(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			dir := t.TempDir()
			srv, addr := startServer(t, Config{AppendOnly: true, AppendFsync: fsync, Dir: dir})
			a, b := dialRaw(t, addr), dialRaw(t, addr)
			const n = 300
			var req []byte
			for i := range n {
				req = append(req, encodeCommand([]string{"INCR", "n"})...)
				req = append(req, encodeCommand([]string{"SET", "k" + strconv.Itoa(i), strconv.Itoa(i)})...)
			}
			for _, r := range []*rawConn{a, b} {
				if _, err := r.c.Write(req); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []*rawConn{a, b} {
				for range n {
					if got := r.reply(); got[0] != ':' {
						t.Fatalf("INCR = %q", got)
					}
					if got := r.reply(); got != "+OK\r\n" {
						t.Fatalf("SET = %q", got)
					}
				}
			}
			waitModes(t, srv, 2, 0)
			shutdown(t, srv)
			_, addr2 := startServer(t, Config{AppendOnly: true, AppendFsync: fsync, Dir: dir})
			c := dialRaw(t, addr2)
			if got, want := c.do("GET", "n"), "$3\r\n600\r\n"; got != want {
				t.Fatalf("GET n after restart = %q, want %q", got, want)
			}
			if got, want := c.do("DBSIZE"), ":"+strconv.Itoa(n+1)+"\r\n"; got != want {
				t.Fatalf("DBSIZE after restart = %q, want %q", got, want)
			}
		})
	}
}

// A client handed to a goroutine for a blocking command goes back to a loop once
// the command is done, and is served there as before; one that subscribed stays.
func TestLoopTakesBackBlockedClient(t *testing.T) {
	srv, addr := startServer(t, Config{})
	waiter, pusher, sub := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
	waiter.c.SetDeadline(time.Now().Add(10 * time.Second))
	sub.do("SUBSCRIBE", "ch")
	for round := range 3 {
		waiter.c.Write(encodeCommand([]string{"BLPOP", "q", "0"}))
		waitModes(t, srv, 1, 2)
		if got := pusher.do("RPUSH", "q", "x"); got != ":1\r\n" {
			t.Fatalf("round %d: RPUSH = %q", round, got)
		}
		if got := waiter.reply(); got != "*2\r\n$1\r\nq\r\n$1\r\nx\r\n" {
			t.Fatalf("round %d: BLPOP = %q", round, got)
		}
		waitModes(t, srv, 2, 1)
		if got := waiter.do("SET", "k", "v"); got != "+OK\r\n" {
			t.Fatalf("round %d: SET back in the loop = %q", round, got)
		}
	}
	// A blocking command that times out comes back too.
	if got := waiter.do("BLPOP", "none", "0.01"); got != "*-1\r\n" {
		t.Fatalf("BLPOP timing out = %q", got)
	}
	waitModes(t, srv, 2, 1)
	if got := pusher.do("PUBLISH", "ch", "m"); got != ":1\r\n" {
		t.Fatalf("PUBLISH = %q", got)
	}
}

// With a P to spare, each loop serves from the one thread it is locked to: under
// load from several clients, across many of the loop's Gosched calls, it is
// never found on another thread.
func TestLoopKeepsItsThread(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // two Ps to spare
	srv, addr := startServer(t, Config{EventLoops: 2})
	const clients = 6
	done := make(chan error, clients)
	until := time.Now().Add(200 * time.Millisecond) // 40 of the loops' 5 ms yields
	for i := range clients {
		r := dialRaw(t, addr)
		go func() {
			key := "k" + strconv.Itoa(i)
			r.c.SetDeadline(time.Now().Add(10 * time.Second))
			incr := encodeCommand([]string{"INCR", key})
			for n := 0; time.Now().Before(until) || n < 100; n++ {
				if _, err := r.c.Write(incr); err != nil {
					done <- err
					return
				}
				if got := r.reply(); got != ":"+strconv.Itoa(n+1)+"\r\n" {
					done <- errors.New("INCR " + key + " = " + strconv.Quote(got))
					return
				}
			}
			done <- nil
		}()
	}
	for range clients {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil { // the loops have exited: their fields are ours
		t.Fatalf("Shutdown: %v", err)
	}
	for i, l := range srv.loops {
		if l.poller != nil {
			t.Fatalf("loop %d parks in the network poller with Ps to spare", i)
		}
		if l.lastYield == 0 {
			t.Fatalf("loop %d never yielded", i)
		}
		if l.moved != 0 {
			t.Fatalf("loop %d was found on another thread %d times", i, l.moved)
		}
	}
}

// With Config.GoMaxProcs the runtime has no P to spare: GOMAXPROCS is the number
// of loops while the server runs, and Shutdown puts it back. The loop then parks
// in the network poller between passes; it serves, sweeps idle clients (its park
// has a deadline once CONFIG SET gives a timeout) and stops at Shutdown.
func TestLoopParksWithoutSpareP(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // set or not where the test runs: it is ours here
	before := runtime.GOMAXPROCS(0)
	srv, addr := startServer(t, Config{EventLoops: 1, GoMaxProcs: true})
	r := dialRaw(t, addr)
	for n := 1; n <= 200; n++ {
		if got := r.do("INCR", "k"); got != ":"+strconv.Itoa(n)+"\r\n" {
			t.Fatalf("INCR %d = %q", n, got)
		}
		if n%50 == 0 {
			time.Sleep(time.Millisecond) // the loop parks meanwhile
		}
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS = %d while one loop serves, want 1", got)
	}
	srv.mu.Lock()
	parked := srv.loops[0].poller != nil
	srv.mu.Unlock()
	if !parked {
		t.Fatal("the loop waits in epoll_wait with no P to spare")
	}

	idle := dialRaw(t, addr)
	if got := idle.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
	if got := r.do("CONFIG", "SET", "timeout", "1"); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET timeout = %q", got)
	}
	idle.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle client past the timeout: read = %v, want EOF", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS = %d after Shutdown, want %d back", got, before)
	}
}
