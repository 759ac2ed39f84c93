package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// -event-loops N runs every test of the package with N event loops as the default
// (go test ./proxy -args -event-loops=-1 checks the goroutine path alone; the default,
// one loop per core, checks the loop).
var _ = registerLoopsFlag()

func registerLoopsFlag() bool {
	flag.Func("event-loops", "default event loops for every test's proxy", func(v string) error {
		n, err := strconv.Atoi(v)
		defaultEventLoops = n
		return err
	})
	return true
}

// checkFDs fails the test when it leaves more file descriptors open than it found.
// Call it first, beside checkLeaks, so its cleanup runs after the others.
func checkFDs(t *testing.T) {
	t.Helper()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	base := count()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for n := count(); n > base; n = count() {
			if time.Now().After(deadline) {
				t.Errorf("file descriptor leak: %d open, %d before the test", n, base)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// loopProxy runs a proxy with one event loop.
func loopProxy(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.EventLoops = 1
	return start(t, cfg)
}

// shapes answers by path: sizes and framings on both sides of what a loop buffers.
func shapes(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
	w.Header().Set("X-Seen-Via", r.Header.Get("Via"))
	w.Header().Set("X-Seen-Hop", r.Header.Get("X-Hop"))
	switch r.URL.Path {
	case "/big": // buffered whole by the loop
		io.WriteString(w, strings.Repeat("b", 48<<10))
	case "/huge": // streamed by a goroutine
		io.WriteString(w, strings.Repeat("h", 200<<10))
	case "/chunked":
		for i := range 3 {
			fmt.Fprintf(w, "part%d.", i)
			w.(http.Flusher).Flush()
		}
	case "/empty":
		w.WriteHeader(204)
	case "/echo":
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	default:
		io.WriteString(w, r.URL.Path)
	}
}

// TestLoopServesHTTPClients: concurrent net/http clients through a loop get their
// answers, with the headers the goroutine path writes, and bodies of every size and
// framing (the loop buffers up to 64 KiB; larger and chunked ones stream from a goroutine).
func TestLoopServesHTTPClients(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	s, addr := loopProxy(t, onePool(backend(t, shapes)))
	c := client(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				resp, err := c.Get("http://" + addr + path)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != path {
					t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
				}
			}
		})
	}
	wg.Wait()
	req, _ := http.NewRequest("GET", "http://"+addr+"/hdr", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header; h.Get("X-Seen-XFF") != "127.0.0.1" || !strings.Contains(h.Get("X-Seen-Via"), "1.1 gantry-") ||
		h.Get("X-Seen-Hop") != "" || !strings.Contains(h.Get("Via"), "1.1 gantry-") {
		t.Errorf("headers: %v", h)
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/big", strings.Repeat("b", 48<<10)},
		{"/huge", strings.Repeat("h", 200<<10)},
		{"/chunked", "part0.part1.part2."},
		{"/empty", ""},
	} {
		if code, body, _ := get(t, c, "http://"+addr+tc.path); body != tc.want || (code != 200 && code != 204) {
			t.Errorf("GET %s: %d, %d bytes", tc.path, code, len(body))
		}
	}
	resp, err = c.Head("http://" + addr + "/head")
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 5 {
		t.Errorf("HEAD /head: %v %v", resp, err)
	}
	if n := s.loopAnswers.Load(); n < 200 {
		t.Errorf("the loop answered %d requests, want at least 200", n)
	}
}

// TestLoopsUnderChurn: four loops serve keep-alive and one-request clients at once,
// through upstream connections that the host closes now and then (so they leave the
// idle lists, are dialed again, and their descriptors are reused while the loops run);
// every answer is the right one, and the loops serve them all themselves.
func TestLoopsUnderChurn(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	host := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/close") {
			w.Header().Set("Connection", "close")
		}
		if strings.HasSuffix(r.URL.Path, "/slow") {
			time.Sleep(time.Millisecond)
		}
		io.WriteString(w, r.URL.Path)
	})
	cfg := onePool(host, backend(t, shapes))
	cfg.EventLoops = 4
	s, addr := start(t, cfg)
	keepAlive := client(t)
	oneShot := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	const clients, requests = 12, 30
	for g := range clients {
		c := keepAlive
		if g%4 == 3 {
			c = oneShot
		}
		wg.Go(func() {
			for i := range requests {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				switch i % 5 {
				case 1:
					path += "/close"
				case 3:
					path += "/slow"
				}
				if !getEcho(t, c, addr, path) {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := s.loopAnswers.Load(); n != clients*requests {
		t.Errorf("the loop answered %d requests, want %d", n, clients*requests)
	}
	if n := s.loopHandOffs.Load(); n != 0 {
		t.Errorf("%d hand-offs, want none", n)
	}
}

// getEcho GETs path through the proxy at addr from a host that answers with the path,
// and reports whether the answer was that; it fails the test if not.
func getEcho(t *testing.T, c *http.Client, addr, path string) bool {
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(b) != path {
		t.Errorf("GET %s: %d %q %v", path, resp.StatusCode, b, err)
		return false
	}
	return true
}

// TestLoopPipelining: requests written back to back in one segment, as wrk's pipelined
// scripts and HTTP/1.1 clients may send them, are answered in order, and a head that
// arrives in pieces is put together.
func TestLoopPipelining(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	s, addr := loopProxy(t, onePool(backend(t, shapes)))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	const n = 40
	for i := range n {
		fmt.Fprintf(&b, "GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	io.WriteString(nc, b.String())
	br := bufio.NewReader(nc)
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if want := fmt.Sprintf("/p%d", i); string(body) != want {
			t.Fatalf("response %d: %q, want %q", i, body, want)
		}
	}
	for _, piece := range []string{"GET /pie", "ces HTTP/1.1\r\nHo", "st: a\r\n", "\r\n"} {
		io.WriteString(nc, piece)
		time.Sleep(20 * time.Millisecond) // each piece its own segment
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "/pieces" {
		t.Fatalf("a head in pieces: %q", body)
	}
	if got := s.loopHandOffs.Load(); got != 0 {
		t.Errorf("%d hand-offs, want none", got)
	}
}

// TestLoopHandOffs: what the loop does not serve goes to the goroutine path with the
// bytes already read, which serves it and the connection's later requests.
func TestLoopHandOffs(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	b := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			nc, brw, _ := http.NewResponseController(w).Hijack()
			defer nc.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			io.Copy(nc, brw)
			return
		}
		shapes(w, r)
	})
	s, addr := loopProxy(t, onePool(b))
	for _, tc := range []struct {
		name, req, want string
	}{
		{"chunked body", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "POST hello"},
		{"length body", "PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "PUT abc"},
		{"100-continue", "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "POST hi"},
		{"not idempotent", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST "},
		{"absolute form", "GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n", "/abs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			// A request the loop serves first, then the one handed off, then one more.
			io.WriteString(nc, "GET /before HTTP/1.1\r\nHost: a\r\n\r\n")
			br := bufio.NewReader(nc)
			for i, want := range []string{"/before", tc.want, "/after"} {
				switch i {
				case 1:
					io.WriteString(nc, tc.req)
				case 2:
					io.WriteString(nc, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
				}
				resp, err := http.ReadResponse(br, nil)
				if err == nil && resp.StatusCode == 100 {
					resp, err = http.ReadResponse(br, nil)
				}
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if string(body) != want {
					t.Fatalf("answer %d: %d %q, want %q", i, resp.StatusCode, body, want)
				}
			}
		})
	}
	t.Run("upgrade", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		io.WriteString(nc, "ping")
		got := make([]byte, 4)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
			t.Fatalf("tunnel echo: %q %v", got, err)
		}
	})
	t.Run("smuggling shape", func(t *testing.T) {
		got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		h := dialH2(t, addr, []http2.Setting{})
		h.get(1, "/h2c")
		if code, body := h.response(1); code != 200 || body != "/h2c" {
			t.Fatalf("h2c: %d %q", code, body)
		}
	})
	if s.loopHandOffs.Load() < 7 {
		t.Errorf("%d hand-offs, want at least 7", s.loopHandOffs.Load())
	}
}

// TestLoopTLSListener: a TLS listener's connections never go to a loop, which speaks
// plain TCP only; they are served as before.
func TestLoopTLSListener(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	cert, authority := testCert(t)
	cfg := onePool(backend(t, shapes))
	cfg.TLS = []CertConfig{cert}
	s, addr := loopProxy(t, cfg)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: authority.Pool()}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/tls")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "/tls" || s.loopAnswers.Load() != 0 || s.loopConns.Load() != 0 {
		t.Fatalf("%q; loop answers %d", body, s.loopAnswers.Load())
	}
}

// TestLoopUpstreamTimeout: a host silent past the read timeout gets 504, or with a second
// host the idempotent request is retried there, as on the goroutine path.
func TestLoopUpstreamTimeout(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	slow := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	})
	fast := backend(t, shapes)
	cfg := onePool(slow)
	cfg.Pools[0].ReadTimeout = 150 * time.Millisecond
	cfg.Pools[0].Retries = -1
	_, addr := loopProxy(t, cfg)
	begin := time.Now()
	if code, body, _ := get(t, client(t), "http://"+addr+"/slow"); code != 504 {
		t.Fatalf("slow host: %d %q", code, body)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("504 after %v", d)
	}

	cfg = onePool(slow, fast)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].ReadTimeout = 150 * time.Millisecond
	cfg.Pools[0].RetryBackoff = -1
	s, addr := loopProxy(t, cfg)
	c := client(t)
	for i := range 4 {
		if code, body, _ := get(t, c, "http://"+addr+"/x"); code != 200 || body != "/x" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if p := s.table.Load().pools[0]; p.retries.Load() == 0 {
		t.Error("no retry counted")
	}
}

// downHost accepts connections and closes each after reading a head, or after sending
// the start of an answer when partial is set.
func downHost(t *testing.T, partial string) string {
	return rawUpstream(t, partial)
}

// TestLoopUpstreamCloses: a host that hangs up before answering gets 502 (or a retry on
// another host for an idempotent request); one that hangs up in the middle of a body
// leaves the client with a short body and counts as the host's failure.
func TestLoopUpstreamCloses(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	dead := downHost(t, "")
	cfg := onePool(dead)
	_, addr := loopProxy(t, cfg)
	c := client(t)
	if code, body, _ := get(t, c, "http://"+addr+"/"); code != 502 {
		t.Fatalf("dead host: %d %q", code, body)
	}

	cut := downHost(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
	s, addr := loopProxy(t, onePool(cut))
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err == nil || string(b) != "only ten b" {
		t.Errorf("cut body: %q %v", b, err)
	}
	resp.Body.Close()
	u := s.table.Load().pools[0].all[0]
	waitFor(t, func() bool { return u.failures.Load() == 1 }, "the host's failure to be counted")

	cfg = onePool(dead, backend(t, shapes))
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].RetryBackoff = -1
	_, addr = loopProxy(t, cfg)
	for i := range 4 {
		if code, body, _ := get(t, c, "http://"+addr+"/ok"); code != 200 || body != "/ok" {
			t.Fatalf("request %d with one dead host: %d %q", i, code, body)
		}
	}

	// A host that closes every connection after one answer: the loop's keep-alive
	// connection is found closed, and the request goes on a fresh one without a retry.
	once := downHost(t, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce")
	s, addr = loopProxy(t, onePool(once))
	for i := range 5 {
		if code, body, _ := get(t, c, "http://"+addr+"/"); code != 200 || body != "once" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if p := s.table.Load().pools[0]; p.retries.Load() != 0 || p.all[0].failures.Load() != 0 {
		t.Errorf("retries %d, failures %d; want none", p.retries.Load(), p.all[0].failures.Load())
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoopClientTimeouts: a loop closes a connection idle past idle_timeout, and answers
// 408 to a head that is not whole within header_timeout, as the goroutine path does.
func TestLoopClientTimeouts(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	cfg := onePool(backend(t, shapes))
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.HeaderTimeout = 200 * time.Millisecond
	_, addr := loopProxy(t, cfg)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(nc)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	io.ReadAll(br) // the proxy's close ends it
	got := rawExchange(t, addr, "GET /slow HTTP/1.1\r\nHo")
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Fatalf("a slow head: %q", got)
	}
}

// TestLoopShutdownDrains: Shutdown closes a loop's idle connections at once and lets the
// request in flight finish, answered with Connection: close.
func TestLoopShutdownDrains(t *testing.T) {
	checkFDs(t)
	checkLeaks(t)
	started, release := make(chan struct{}), make(chan struct{})
	b := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(started)
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})
	cfg := onePool(b)
	cfg.EventLoops = 1
	s, addr, served := serveOwn(t, cfg)
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		return nc, bufio.NewReader(nc)
	}
	idle, idleR := dial()
	io.WriteString(idle, "GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	io.ReadAll(resp.Body)
	busy, busyR := dial()
	io.WriteString(busy, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	var once sync.Once
	defer once.Do(func() { close(release) })
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	if n, err := idleR.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
	}
	once.Do(func() { close(release) })
	resp, err = http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "/hold" || !resp.Close {
		t.Errorf("in flight: %q, close %v", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestLoopKeepsItsThread: each loop serves from the one thread it locked (a loop that
// moved between the runtime's threads slept through every hand-off; docs/benchmarks.md,
// "Loops on their threads"), and passes through the scheduler as it goes (yield).
func TestLoopKeepsItsThread(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(backend(t, shapes))
	cfg.EventLoops = 2
	s, addr, served := serveOwn(t, cfg)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	until := time.Now().Add(200 * time.Millisecond) // 40 of the loops' 5 ms yields
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for n := 0; time.Now().Before(until) || n < 20; n++ {
				if !getEcho(t, c, addr, fmt.Sprintf("/small/%d/%d", g, n)) {
					return
				}
			}
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil { // the loops have exited: their fields are ours
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if len(s.loops) != 2 {
		t.Fatalf("%d loops, want 2", len(s.loops))
	}
	for i, l := range s.loops {
		if l.lastYield.IsZero() {
			t.Errorf("loop %d never yielded", i)
		}
		if l.moved != 0 {
			t.Errorf("loop %d was found on another thread %d times", i, l.moved)
		}
	}
	if n := s.loopAnswers.Load(); n < 6*20 {
		t.Errorf("the loops answered %d requests, want at least %d", n, 6*20)
	}
}
