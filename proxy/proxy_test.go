package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gantry/internal/testenv"
)

// checkLeaks fails the test when goroutines started during it are still running after its
// other cleanups. Call it first, so its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", n, base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// backend starts a real net/http server on loopback and returns its address.
func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// start runs a proxy with cfg on a loopback port and returns its address.
func start(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, testenv.Serve(t, s)
}

// serveOwn runs a proxy on a loopback port, for a test that shuts it down itself and
// then reads what Serve returned from served.
func serveOwn(t *testing.T, cfg Config) (s *Server, addr string, served <-chan error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, served = testenv.ServeOwn(t, s)
	return s, addr, served
}

func onePool(addrs ...string) Config {
	p := PoolConfig{Name: "app"}
	for _, a := range addrs {
		p.Hosts = append(p.Hosts, HostConfig{Addr: a})
	}
	return Config{Pools: []PoolConfig{p}}
}

// client returns an HTTP/1.1 client whose idle connections are closed after the test.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestProxyForwards(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var seen *http.Request
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
	})
	_, addr := start(t, onePool(up))
	c := client(t)

	code, body, hdr := get(t, c, "http://"+addr+"/a/b?x=1")
	if code != 200 || body != "GET /a/b?x=1 " {
		t.Fatalf("got %d %q", code, body)
	}
	if hdr.Get("X-Backend") != "yes" || hdr.Get("Keep-Alive") != "" || !strings.HasPrefix(hdr.Get("Via"), "1.1 gantry-") {
		t.Errorf("response header = %v", hdr)
	}
	mu.Lock()
	if seen.Header.Get("X-Forwarded-For") != "127.0.0.1" || seen.Header.Get("X-Forwarded-Proto") != "http" ||
		seen.Header.Get("X-Forwarded-Host") != addr || !strings.HasPrefix(seen.Header.Get("Via"), "1.1 gantry-") ||
		seen.Host != addr {
		t.Errorf("upstream saw host %q header %v", seen.Host, seen.Header)
	}
	mu.Unlock()

	// A POST with a body of known length, and one sent chunked.
	resp, err := c.Post("http://"+addr+"/post", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /post hello" {
		t.Errorf("POST: %q", b)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("chunk-one "))
		pw.Write([]byte("chunk-two"))
		pw.Close()
	}()
	resp, err = c.Post("http://"+addr+"/chunked", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /chunked chunk-one chunk-two" {
		t.Errorf("chunked POST: %q", b)
	}
}

func TestHopByHopAndForwardedFor(t *testing.T) {
	checkLeaks(t)
	hdrs := make(chan http.Header, 1)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hdrs <- r.Header.Clone()
	})
	_, addr := start(t, onePool(up))
	c := client(t)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Connection", "X-Secret, keep-alive")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("TE", "trailers")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("X-Forwarded-Proto", "https") // spoofed: replaced
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-hdrs
	for _, name := range []string{"X-Secret", "Proxy-Connection", "Te", "Connection"} {
		if v := h.Get(name); v != "" {
			t.Errorf("%s = %q was forwarded", name, v)
		}
	}
	if got := h.Get("X-Forwarded-For"); got != "10.0.0.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
}

// rawExchange sends raw bytes to addr and returns everything the proxy answers until it
// closes the connection (or the deadline passes).
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, b)
	}
	return string(b)
}

func TestSmugglingShapesAndLimits(t *testing.T) {
	checkLeaks(t)
	hits := make(chan string, 100)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits <- r.Method + " " + r.URL.Path + " " + string(b)
		io.WriteString(w, "ok")
	})
	cfg := onePool(up)
	cfg.MaxHeaderBytes = 2048
	cfg.MaxBodyBytes = 100
	_, addr := start(t, cfg)

	big := strings.Repeat("a", 3000)
	tests := []struct {
		name string
		req  string
		code int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400},
		{"repeated CL equal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
		{"repeated CL differ", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", 400},
		{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\nx", 400},
		{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
		{"CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"TE repeated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE list", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501},
		{"TE space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"bare LF in head", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400},
		{"bad header name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400},
		{"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
		{"bad request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2.0 version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"target with space", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"bad target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n", 400},
		{"chunk without CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk size bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 120) + "\r\n", 431},
		{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
		{"chunked body too large", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + strings.Repeat("x", 101) + "\r\n0\r\n\r\n", 413},
		{"bad expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n", 417},
		{"loop", "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 LOOP\r\n\r\n", 508},
	}
	via := findVia(t, addr)
	<-hits
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := strings.Replace(tt.req, "LOOP", via, 1)
			got := rawExchange(t, addr, req)
			want := fmt.Sprintf("HTTP/1.1 %d ", tt.code)
			if !strings.HasPrefix(got, want) {
				t.Fatalf("answer = %q, want %q", got, want)
			}
			if !strings.Contains(got, "Connection: close\r\n") {
				t.Errorf("answer without Connection: close: %q", got)
			}
		})
	}
	// Only the chunked 413 reached the backend (its head had been sent when the limit
	// was crossed; the backend saw a body cut short).
	for len(hits) > 0 {
		h := <-hits
		if !strings.HasPrefix(h, "POST / ") {
			t.Errorf("a refused request reached the backend: %q", h)
		}
	}
}

// findVia asks the proxy at addr for its Via pseudonym.
func findVia(t *testing.T, addr string) string {
	t.Helper()
	got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, line := range strings.Split(got, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Via: 1.1 "); ok {
			return v
		}
	}
	t.Fatalf("no Via in %q", got)
	return ""
}

func TestValidRawRequests(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s|%s|%s", r.Method, r.Host, r.URL.RequestURI(), b)
	})
	_, addr := start(t, onePool(up))
	tests := []struct {
		name, req, body string
	}{
		{"leading empty line", "\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET|a|/x|"},
		{"absolute form", "GET http://b.example:81/y?z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET|b.example:81|/y?z|"},
		{"chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer-X: 1\r\n\r\n", "POST|a|/|abc"},
		{"HTTP/1.0 without Host", "GET /z HTTP/1.0\r\n\r\n", "GET|" + up + "|/z|"},
		{"expect 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", "POST|a|/|hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, addr, tt.req)
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") && !strings.HasPrefix(got, "HTTP/1.1 100 ") {
				t.Fatalf("answer = %q", got)
			}
			if !strings.HasSuffix(got, "\r\n\r\n"+tt.body) {
				t.Errorf("answer = %q, want body %q", got, tt.body)
			}
		})
	}
}

func TestPipelinedKeepAlive(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})
	_, addr := start(t, onePool(up))
	req := "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	got := rawExchange(t, addr, req)
	br := bufio.NewReader(strings.NewReader(got))
	for i := 1; i <= 3; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v in %q", i, err, got)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != fmt.Sprintf("/%d", i) {
			t.Errorf("response %d body %q", i, b)
		}
	}
}

func TestSlowlorisHeadTimeout(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	cfg := onePool(up)
	cfg.HeaderTimeout = 200 * time.Millisecond
	_, addr := start(t, cfg)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
		t.Fatalf("got %q, %v; want a 408 and a close", b, err)
	}
}

// TestExpectContinue: the proxy answers 100 Continue itself, and only then does the
// client send its body.
func TestExpectContinue(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	})
	_, addr := start(t, onePool(up))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue before the body", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "body")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "got body" {
		t.Errorf("got %d %q", resp.StatusCode, b)
	}
}

func TestAccessLog(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	var logs testenv.Buffer
	cfg := onePool(up)
	cfg.AccessLog = true
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	_, addr := start(t, cfg)
	get(t, client(t), "http://"+addr+"/logged?x=1")
	rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n")
	// The refusal is logged after the lingering close that follows it: poll.
	for _, want := range []string{
		`msg=access remote=127.0.0.1 method=GET target="/logged?x=1" status=201 upstream=` + up,
		`msg=access remote=127.0.0.1 status=400 error="invalid Content-Length"`,
	} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", want, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// rawUpstream answers every connection with resp after reading one request head, then
// closes.
func rawUpstream(t *testing.T, resp string) string {
	return tcpServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if n, _, err := readHead(br, nil); err == nil {
			br.Discard(n)
			io.WriteString(c, resp)
		}
	})
}

func TestResponseFramings(t *testing.T) {
	checkLeaks(t)
	for _, tt := range []struct {
		name, upstream, req string
		want                []string // substrings of the answer, in order
		not                 string
	}{
		{"until close to HTTP/1.1 is chunked",
			"HTTP/1.0 200 OK\r\n\r\nhello", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, ""},
		{"until close to HTTP/1.0 closes",
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", "GET / HTTP/1.0\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n", "Connection: close\r\n\r\nhello"}, "chunked"},
		{"chunked to HTTP/1.0 is decoded",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\n\r\n", "GET / HTTP/1.0\r\n\r\n",
			[]string{"Connection: close\r\n\r\nhello"}, "chunked"},
		{"trailers pass to HTTP/1.1",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 9\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"2\r\nhi\r\n0\r\nX-Sum: 9\r\n\r\n"}, ""},
		{"trailers that belong in the head are dropped",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nContent-Length: 7\r\nX-Sum: 9\r\nset-cookie: s=1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"2\r\nhi\r\n0\r\nX-Sum: 9\r\n\r\n"}, "Content-Length"},
		{"HEAD has no body",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"Content-Length: 5\r\n\r\n"}, "hello"},
		{"interim 103 passes",
			"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n", "HTTP/1.1 200 OK\r\n", "\r\n\r\nok"}, ""},
		{"CL and TE from upstream is 502",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			[]string{"HTTP/1.1 502 "}, ""},
		{"garbage from upstream is 502",
			"SSH-2.0-OpenSSH\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			[]string{"HTTP/1.1 502 "}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := onePool(rawUpstream(t, tt.upstream))
			cfg.Pools[0].Retries = -1
			_, addr := start(t, cfg)
			got := rawExchange(t, addr, tt.req)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("answer %q lacks %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
			if tt.not != "" && strings.Contains(got, tt.not) {
				t.Errorf("answer %q has %q", got, tt.not)
			}
		})
	}
}

// TestRequestTrailers: the trailer fields of a chunked request body reach a net/http
// backend through the proxy, sent by Go's client; fields that belong in the head
// (framing, routing, authentication) are dropped from the trailer section; a malformed
// trailer is 400 and the connection closed.
func TestRequestTrailers(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // trailers are read with the end of the body
		keys := slices.Sorted(maps.Keys(r.Trailer))
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%s;", k, r.Trailer.Get(k))
		}
		fmt.Fprintf(w, "body=%s", b)
	})
	_, addr := start(t, onePool(up))

	req, _ := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world")))
	req.ContentLength = -1 // chunked
	req.Trailer = http.Header{"X-Checksum": nil, "Grpc-Status": nil}
	req.Body = &trailerBody{r: req.Body, done: func() {
		req.Trailer.Set("X-Checksum", "abc123")
		req.Trailer.Set("Grpc-Status", "0")
	}}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "Grpc-Status=0;X-Checksum=abc123;body=hello world" {
		t.Errorf("Go client's trailers: %d %q", resp.StatusCode, b)
	}

	got := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Sum: 1\r\nHost: evil\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nAuthorization: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "X-Sum=1;body=abc") {
		t.Errorf("trailers that belong in the head: %q", got)
	}
	got = rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nbad trailer\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("malformed trailer: %q", got)
	}
}

// trailerBody calls done when its reader reaches EOF: Go's client sends req.Trailer's
// values after the body, so a test sets them then, as a streaming sender would.
type trailerBody struct {
	r    io.ReadCloser
	done func()
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.done()
	}
	return n, err
}

func (b *trailerBody) Close() error { return b.r.Close() }

// TestHTTP10KeepAlive: an HTTP/1.0 client that asks for keep-alive gets it (answers with
// Content-Length and Connection: keep-alive, a second request on the same connection);
// one that does not ask is answered and closed.
func TestHTTP10KeepAlive(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	_, addr := start(t, onePool(up))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	for _, path := range []string{"/one", "/two"} {
		io.WriteString(nc, "GET "+path+" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != path || resp.Header.Get("Connection") != "keep-alive" || resp.ContentLength != int64(len(path)) {
			t.Fatalf("%s: %d %q %v", path, resp.StatusCode, b, resp.Header)
		}
	}
	io.WriteString(nc, "GET /last HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "/last" || resp.Header.Get("Connection") == "keep-alive" {
		t.Errorf("plain HTTP/1.0: %q %v", b, resp.Header)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after a plain HTTP/1.0 request: %v; want the connection closed", err)
	}
}
