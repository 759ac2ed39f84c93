package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestAllBackendsDown(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(deadAddr(t), deadAddr(t)))
	c := client(t)
	begin := time.Now()
	code, body, hdr := get(t, c, "http://"+addr+"/")
	if code != 502 && code != 503 {
		t.Errorf("status %d, want 502 or 503", code)
	}
	if body != "upstream connection failed\n" {
		t.Errorf("body %q", body)
	}
	if time.Since(begin) > 2*time.Second {
		t.Errorf("answer took %v; it must be fast", time.Since(begin))
	}
	_ = hdr
}

func TestNoHealthyHostAnswers503(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(deadAddr(t))
	cfg.Pools[0].EjectAfter = 1
	cfg.Pools[0].MaxEjectPercent = 100
	_, addr := start(t, cfg)
	c := client(t)
	get(t, c, "http://"+addr+"/") // fails and ejects the only host
	code, body, hdr := get(t, c, "http://"+addr+"/")
	if code != 503 || body != "no healthy upstream host\n" || hdr.Get("Retry-After") == "" {
		t.Errorf("got %d %q %v; want 503, a clear body and Retry-After", code, body, hdr)
	}
}

func TestRetryAfterConnectFailure(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "alive") })
	cfg := onePool(deadAddr(t), up)
	cfg.Pools[0].Policy = "round_robin"
	_, addr := start(t, cfg)
	c := client(t)
	for i := 0; i < 6; i++ {
		// A POST too: a refused connection never reached the host, so retrying is safe.
		resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "alive" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
}

// TestPostNotRetried: a POST that reached a host which then failed is not sent again.
func TestPostNotRetried(t *testing.T) {
	checkLeaks(t)
	var hits atomic.Int32
	h := func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.ReadAll(r.Body)
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close() // die without answering
	}
	cfg := onePool(backend(t, h), backend(t, h))
	_, addr := start(t, cfg)
	c := client(t)
	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("pay once"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the POST reached backends %d times, want 1", n)
	}
	// A GET is idempotent: it is retried on the other host (and fails there too).
	hits.Store(0)
	code, _, _ := get(t, c, "http://"+addr+"/")
	if code != 502 || hits.Load() != 2 {
		t.Errorf("GET: status %d after %d attempts, want 502 after 2", code, hits.Load())
	}
}

func TestRetryBudget(t *testing.T) {
	checkLeaks(t)
	var hits atomic.Int32
	h := func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}
	cfg := onePool(backend(t, h), backend(t, h), backend(t, h))
	cfg.Pools[0].EjectAfter = -1
	cfg.Pools[0].RetryBudget = 0.1
	_, addr := start(t, cfg)
	c := client(t)
	const n = 200
	for i := 0; i < n; i++ {
		get(t, c, "http://"+addr+"/")
	}
	// Without a budget each request would make 3 attempts (600); with it, retries stay
	// near 10% of requests plus the initial burst of 10.
	if got := int(hits.Load()); got > n+n/10+10+2 {
		t.Errorf("%d attempts for %d requests: the retry budget did not hold", got, n)
	}
}

func TestSlowBackendTimesOut(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := onePool(up)
	cfg.Pools[0].ReadTimeout = 200 * time.Millisecond
	_, addr := start(t, cfg)
	c := client(t)
	begin := time.Now()
	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || string(b) != "upstream timed out\n" {
		t.Errorf("got %d %q, want 504", resp.StatusCode, b)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestBackupHostsOnlyWhenPrimariesDown(t *testing.T) {
	checkLeaks(t)
	name := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) }
	}
	primary := backend(t, name("primary"))
	backup := backend(t, name("backup"))
	cfg := Config{Pools: []PoolConfig{{Name: "p", EjectAfter: 1, MaxEjectPercent: 100, Hosts: []HostConfig{
		{Addr: primary}, {Addr: backup, Backup: true},
	}}}}
	s, addr := start(t, cfg)
	c := client(t)
	for i := 0; i < 5; i++ {
		if _, body, _ := get(t, c, "http://"+addr+"/"); body != "primary" {
			t.Fatalf("request %d went to %s", i, body)
		}
	}
	s.table.Load().pools[0].primary[0].drained.Store(true)
	if _, body, _ := get(t, c, "http://"+addr+"/"); body != "backup" {
		t.Fatalf("with the primary drained, request went to %s", body)
	}
	s.table.Load().pools[0].primary[0].drained.Store(false)
	if _, body, _ := get(t, c, "http://"+addr+"/"); body != "primary" {
		t.Fatalf("with the primary back, request went to %s", body)
	}
}

func TestOutlierEjection(t *testing.T) {
	checkLeaks(t)
	var badHits atomic.Int32
	bad := backend(t, func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		w.WriteHeader(500)
	})
	good := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	cfg := onePool(bad, good)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].EjectAfter = 3
	cfg.Pools[0].EjectBase = time.Hour
	s, addr := start(t, cfg)
	c := client(t)
	for i := 0; i < 40; i++ {
		get(t, c, "http://"+addr+"/")
	}
	if n := badHits.Load(); n != 3 {
		t.Errorf("the failing host got %d requests, want 3 before its ejection", n)
	}
	if s.table.Load().pools[0].all[0].ejected.Load() != 1 {
		t.Errorf("ejections = %d", s.table.Load().pools[0].all[0].ejected.Load())
	}
	// Never more than MaxEjectPercent (50%) of the pool: the good host stays.
	if !s.table.Load().pools[0].all[1].up(nowNano()) {
		t.Error("the healthy host was ejected")
	}
}

func TestServerSentEventsStream(t *testing.T) {
	checkLeaks(t)
	next := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for i := 0; i < 3; i++ {
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	_, addr := start(t, onePool(up))
	c := client(t)
	resp, err := c.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		// The next event is released only after the previous one arrived, so each one
		// must come through on its own, unbuffered.
		next <- struct{}{}
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			br.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if want := fmt.Sprintf("data: event %d\n", i); line != want {
				t.Fatalf("event %d: %q, want %q", i, line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive: the proxy buffered it", i)
		}
	}
}

// TestUpgradeTunnel: an HTTP/1.1 Upgrade (as WebSocket uses) is tunnelled both ways.
func TestUpgradeTunnel(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", 400)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo: " + line)
			brw.Flush()
		}
	})
	_, addr := start(t, onePool(up))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"one", "two"} {
		io.WriteString(c, msg+"\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "echo: "+msg+"\n" {
			t.Fatalf("got %q, %v", line, err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the client closed, read: %v; want EOF", err)
	}
}

func TestKilledBackendMidStream(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	})
	_, addr := start(t, onePool(up))
	c := client(t)
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("the client read %q without error; a cut body must not look complete", b)
	}
}

func TestAdminDrain(t *testing.T) {
	checkLeaks(t)
	name := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) }
	}
	a, b := backend(t, name("a")), backend(t, name("b"))
	s, addr := start(t, onePool(a, b))
	mux := http.NewServeMux()
	for pattern, h := range s.AdminHandlers() {
		mux.Handle(pattern, h)
	}
	call := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := call("POST", "/pools/app/hosts/"+a+"/drain"); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	c := client(t)
	for i := 0; i < 4; i++ {
		if _, body, _ := get(t, c, "http://"+addr+"/"); body != "b" {
			t.Fatalf("request went to the drained host")
		}
	}
	if _, body := call("GET", "/pools"); !strings.Contains(body, "app "+a+" drained") {
		t.Errorf("/pools = %q", body)
	}
	call("POST", "/pools/app/hosts/"+a+"/enable")
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		_, body, _ := get(t, c, "http://"+addr+"/")
		seen[body] = true
	}
	if !seen["a"] {
		t.Error("the re-enabled host got no request")
	}
	if code, _ := call("POST", "/pools/app/hosts/127.0.0.1:1/drain"); code != 404 {
		t.Errorf("unknown host: %d", code)
	}
	if _, body := call("GET", "/config"); !strings.Contains(body, "pools:") {
		t.Errorf("/config = %q", body)
	}
}

func TestBreakerAndShedding(t *testing.T) {
	checkLeaks(t)
	for _, tt := range []struct {
		name string
		set  func(*Config)
		body string
	}{
		{"breaker", func(c *Config) { c.Pools[0].MaxRequestsPerHost = 1 }, "upstream hosts at capacity\n"},
		{"shedding", func(c *Config) { c.MaxInFlight = 1 }, "proxy overloaded\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			release := make(chan struct{})
			up := backend(t, func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-release
			})
			cfg := onePool(up)
			tt.set(&cfg)
			_, addr := start(t, cfg)
			c := client(t)
			first := statusLater(c, "http://"+addr+"/slow")
			<-entered
			begin := time.Now()
			code, body, hdr := get(t, c, "http://"+addr+"/second")
			if code != 503 || body != tt.body || hdr.Get("Retry-After") == "" {
				t.Errorf("second request: %d %q %v", code, body, hdr)
			}
			if d := time.Since(begin); d > time.Second {
				t.Errorf("the 503 took %v; it must be immediate", d)
			}
			close(release)
			if code := <-first; code != 200 {
				t.Errorf("first request: %d", code)
			}
		})
	}
}

func TestActiveHealthCheck(t *testing.T) {
	checkLeaks(t)
	var sick atomic.Bool
	a := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "a")
	})
	b := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	cfg := onePool(a, b)
	cfg.Pools[0].HealthCheck = &HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, HealthyAfter: 2, UnhealthyAfter: 2}
	s, addr := start(t, cfg)
	host := s.table.Load().pools[0].all[0]
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sick.Store(true)
	waitFor("host a is unhealthy", host.unhealthy.Load)
	c := client(t)
	for i := 0; i < 6; i++ {
		if _, body, _ := get(t, c, "http://"+addr+"/"); body != "b" {
			t.Fatalf("request went to the unhealthy host")
		}
	}
	sick.Store(false)
	waitFor("host a is healthy again", func() bool { return !host.unhealthy.Load() })
}

// TestReloadUnderLoad swaps the pool while clients keep sending: no request fails, and
// after the reload the new host takes the traffic.
func TestReloadUnderLoad(t *testing.T) {
	checkLeaks(t)
	name := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Millisecond)
			io.WriteString(w, s)
		}
	}
	old, neu := backend(t, name("old")), backend(t, name("new"))
	s, addr := start(t, onePool(old))
	c := client(t)
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					errs <- err
					return
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let load build up before the reload
	if err := s.Reload(onePool(neu)); err != nil {
		t.Fatal(err)
	}
	bad := onePool(neu)
	bad.MaxHeaderBytes = 4096
	if err := s.Reload(bad); err == nil {
		t.Error("a reload that changes a listener setting was accepted")
	}
	if err := s.Reload(Config{}); err == nil {
		t.Error("an invalid configuration was accepted")
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Errorf("a request failed during the reload: %v", err)
		}
	}
	if _, body, _ := get(t, c, "http://"+addr+"/"); body != "new" {
		t.Errorf("after the reload the request went to %q", body)
	}
}

func TestRouteReadTimeout(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "done")
	})
	t.Cleanup(func() { close(release) })
	cfg := onePool(up)
	cfg.Routes = []Route{
		{Path: "/slow", ReadTimeout: 100 * time.Millisecond, Pool: "app"},
		{Pool: "app"},
	}
	_, addr := start(t, cfg)
	c := client(t)
	begin := time.Now()
	resp, err := c.Post("http://"+addr+"/slow", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 || time.Since(begin) > 3*time.Second {
		t.Errorf("slow route: %d after %v, want 504 after about 100ms", resp.StatusCode, time.Since(begin))
	}
	if code, body, _ := get(t, c, "http://"+addr+"/fast"); code != 200 || body != "done" {
		t.Errorf("other route: %d %q", code, body)
	}
}

// statusLater sends a GET for url on its own goroutine and delivers the answer's status
// code, or 0 when the request failed, so that a test can hold a request in flight while
// it sends others.
func statusLater(c *http.Client, url string) <-chan int {
	first := make(chan int, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	return first
}

// TestUpgradeToH2PoolRefused: a WebSocket upgrade routed to an HTTP/2 pool is answered
// 501 with a body that says why (an HTTP/2 request cannot carry an HTTP/1.1 Upgrade);
// an offer of h2c alone is ignored and the request served in HTTP/1.1.
func TestUpgradeToH2PoolRefused(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2Backend(t, nil, echoH2)
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	got := rawExchange(t, paddr, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 501 ") || !strings.Contains(got, "upgrade not supported: this route's pool speaks HTTP/2") {
		t.Errorf("WebSocket to an h2 pool: %q", got)
	}
	got = rawExchange(t, paddr, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
		"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, `HTTP/2.0 GET /x "" xff=true via=true`) {
		t.Errorf("h2c upgrade offer to an h2 pool: %q", got)
	}
}

// TestWebSocketEcho: a real WebSocket client and server (x/net/websocket) through the
// proxy: the handshake passes (Upgrade, Connection, Sec-WebSocket-* fields), the server's
// first message arrives unasked, and the client's messages are echoed back, both ways
// over the one tunnelled connection.
func TestWebSocketEcho(t *testing.T) {
	checkLeaks(t)
	up := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		websocket.Message.Send(ws, "hello from the server")
		var m string
		for websocket.Message.Receive(ws, &m) == nil {
			if websocket.Message.Send(ws, m) != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	cfg := onePool(up.Listener.Addr().String())
	cfg.Pools[0].Policy = "least_conn"
	_, addr := start(t, cfg)
	ws, err := websocket.Dial("ws://"+addr+"/ws", "", "http://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetDeadline(time.Now().Add(5 * time.Second))
	var msg string
	if err := websocket.Message.Receive(ws, &msg); err != nil || msg != "hello from the server" {
		t.Fatalf("first message: %q, %v", msg, err)
	}
	for _, m := range []string{"one", strings.Repeat("x", 70000), "three"} {
		if err := websocket.Message.Send(ws, m); err != nil {
			t.Fatal(err)
		}
		if err := websocket.Message.Receive(ws, &msg); err != nil || msg != m {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(msg), err)
		}
	}
}

// TestEjectionGrows: a host ejected again after coming back is ejected for twice as long
// each time in a row (eject_base, 2×, 4×...).
func TestEjectionGrows(t *testing.T) {
	checkLeaks(t)
	bad := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	good := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	cfg := onePool(bad, good)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].EjectAfter = 1
	cfg.Pools[0].EjectBase = 100 * time.Millisecond
	cfg.Pools[0].Retries = -1
	s, addr := start(t, cfg)
	u := s.table.Load().pools[0].all[0]
	c := client(t)
	for k := 0; k < 3; k++ {
		deadline := time.Now().Add(5 * time.Second)
		for !u.up(nowNano()) { // back from the last ejection
			if time.Now().After(deadline) {
				t.Fatal("the host never came back")
			}
			time.Sleep(10 * time.Millisecond)
		}
		before := nowNano()
		for i := 0; i < 4 && u.up(nowNano()); i++ {
			get(t, c, "http://"+addr+"/")
		}
		after := nowNano()
		want := int64(cfg.Pools[0].EjectBase) << k
		if until := u.ejectedUntil.Load(); until < before+want || until > after+want {
			t.Errorf("ejection %d: for %v; want %v", k+1, time.Duration(until-before), time.Duration(want))
		}
	}
}

// TestUpstreamPoolLimits: requests in a row share one keep-alive connection;
// concurrent requests open more, of which max_idle_per_host are kept when they end; the
// kept ones close after idle_timeout.
func TestUpstreamPoolLimits(t *testing.T) {
	checkLeaks(t)
	var conns, arrived atomic.Int32
	gate := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held" {
			if arrived.Add(1) == 6 {
				close(gate)
			}
			<-gate
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := onePool(srv.Listener.Addr().String())
	cfg.Pools[0].MaxIdlePerHost = 2
	cfg.Pools[0].IdleTimeout = 300 * time.Millisecond
	s, addr := start(t, cfg)
	u := s.table.Load().pools[0].all[0]
	c := client(t)
	for i := 0; i < 5; i++ {
		get(t, c, "http://"+addr+"/")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 requests in a row opened %d upstream connections; want 1", n)
	}
	done := make(chan int, 6)
	for i := 0; i < 6; i++ {
		go func() { done <- <-statusLater(c, "http://"+addr+"/held") }()
	}
	for i := 0; i < 6; i++ {
		if st := <-done; st != 200 {
			t.Fatalf("held request: %d", st)
		}
	}
	if n := conns.Load(); n != 6 {
		t.Errorf("6 concurrent requests: %d upstream connections opened in all; want 6", n)
	}
	if n := u.open.Load(); n != 2 {
		t.Errorf("after them %d connections open; want max_idle_per_host = 2", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for u.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections still open after idle_timeout", u.open.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLongPollOutlivesClientTimeouts: a response the upstream holds for longer than
// every client-side timeout (header, idle, body) still arrives: those bound reading
// from the client, not waiting for the answer. Only the pool's or route's read_timeout
// bounds the wait (TestRouteReadTimeout).
func TestLongPollOutlivesClientTimeouts(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(700 * time.Millisecond) // the long poll's wait
		fmt.Fprintf(w, "event after %s", b)
	})
	cfg := onePool(up)
	cfg.HeaderTimeout, cfg.IdleTimeout, cfg.BodyTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	_, addr := start(t, cfg)
	c := client(t)
	code, body, _ := get(t, c, "http://"+addr+"/poll")
	if code != 200 || body != "event after " {
		t.Errorf("GET long poll: %d %q", code, body)
	}
	resp, err := c.Post("http://"+addr+"/poll", "text/plain", strings.NewReader("cursor=7"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "event after cursor=7" {
		t.Errorf("POST long poll: %d %q", resp.StatusCode, b)
	}
}
