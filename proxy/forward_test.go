package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gantry/internal/ca"
)

// proxyClient returns a client that sends every request through the proxy at addr, as a
// client configured with HTTP_PROXY does: plain HTTP in absolute form, HTTPS by CONNECT.
func proxyClient(t *testing.T, addr string, tc *tls.Config) *http.Client {
	u, _ := url.Parse("http://" + addr)
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestForwardProxy(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var seen http.Header
	var conns int
	allowed := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "allowed "+r.Host+" "+r.URL.RequestURI())
	}))
	allowed.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	allowed.Start()
	t.Cleanup(allowed.Close)
	other := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "must not be reached") })
	ownRoute := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reverse route") })
	_, allowedPort, _ := net.SplitHostPort(allowed.Listener.Addr().String())

	cfg := onePool(ownRoute)
	cfg.ForwardAllow = []string{"127.0.0.1:" + allowedPort, "localhost:" + allowedPort}
	_, addr := start(t, cfg)
	c := proxyClient(t, addr, nil)

	for i := range 3 {
		req, _ := http.NewRequest("GET", allowed.URL+"/a/b?q=1", nil)
		req.Header.Set("Proxy-Authorization", "Basic eDp5")
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "allowed " + allowed.Listener.Addr().String() + " /a/b?q=1"; resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, b, want)
		}
		if !strings.Contains(resp.Header.Get("Via"), "gantry-") {
			t.Errorf("response Via %q", resp.Header.Get("Via"))
		}
	}
	mu.Lock()
	if seen.Get("Proxy-Authorization") != "" || seen.Get("X-Hop") != "" || seen.Get("Proxy-Connection") != "" {
		t.Errorf("hop-by-hop fields reached the destination: %v", seen)
	}
	if !strings.Contains(seen.Get("Via"), "gantry-") || seen.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("Via %q, X-Forwarded-For %q", seen.Get("Via"), seen.Get("X-Forwarded-For"))
	}
	if conns != 1 {
		t.Errorf("%d connections to the destination for 3 requests; want 1 kept alive", conns)
	}
	mu.Unlock()

	// A destination not on the list, another port of an allowed host, a name the list
	// does not carry: 403 with a body that says why.
	for _, u := range []string{"http://" + other + "/", "http://127.0.0.1:1/", "http://example.com/"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || string(b) != "destination not allowed\n" {
			t.Errorf("%s: %d %q, want 403 destination not allowed", u, resp.StatusCode, b)
		}
	}
	// Origin-form requests still go through the routes.
	if code, body, _ := get(t, client(t), "http://"+addr+"/x"); code != 200 || body != "reverse route" {
		t.Errorf("origin-form: %d %q", code, body)
	}
}

// TestForwardAllowCoversConnect shows that CONNECT shares forward_allow: an HTTPS request
// through the proxy reaches an allowed TLS backend (verified with a generated CA), and
// one to a host off the list is refused.
func TestForwardAllowCoversConnect(t *testing.T) {
	checkLeaks(t)
	authority, err := ca.New("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := authority.Sign([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret over tls")
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	up.StartTLS()
	t.Cleanup(up.Close)
	cfg := Config{ForwardAllow: []string{up.Listener.Addr().String()}}
	_, addr := start(t, cfg)
	c := proxyClient(t, addr, &tls.Config{RootCAs: authority.Pool()})
	resp, err := c.Get(up.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "secret over tls" {
		t.Errorf("got %q", b)
	}
	if _, err := c.Get("https://127.0.0.1:1/"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("CONNECT off the list: %v, want Forbidden", err)
	}
	// A forward-only proxy has no routes: origin-form requests get 404.
	if code, _, _ := get(t, client(t), "http://"+addr+"/"); code != 404 {
		t.Errorf("origin-form on a forward-only proxy: %d", code)
	}
}

// TestForwardDeniedByDefault: without an allow list an absolute-form request is routed
// like any other, never sent to the host it names.
func TestForwardDeniedByDefault(t *testing.T) {
	checkLeaks(t)
	elsewhere := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "elsewhere") })
	own := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "own pool") })
	_, addr := start(t, onePool(own))
	c := proxyClient(t, addr, nil)
	resp, err := c.Get("http://" + elsewhere + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "own pool" {
		t.Errorf("got %q; the request left the configured pools", b)
	}
	if _, err := ParseConfig([]byte("forward_allow: ['a b:1']\n")); err == nil || !strings.Contains(err.Error(), "forward_allow[0]") {
		t.Errorf("bad forward_allow: %v", err)
	}
	if _, err := ParseConfig([]byte("forward_allow: ['*.example.com:80']\n")); err != nil {
		t.Errorf("forward-only configuration: %v", err)
	}
}

// TestForwardDestinationsBounded fills the destination table and checks that idle ones
// are forgotten rather than kept without bound.
func TestForwardDestinationsBounded(t *testing.T) {
	checkLeaks(t)
	s, _ := start(t, Config{ForwardAllow: []string{"127.0.0.1:*"}})
	for port := 1; port <= maxForwardDests+10; port++ {
		if _, err := s.forwardRoute([]byte("127.0.0.1:" + strconv.Itoa(port))); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
	}
	s.fwd.mu.Lock()
	n := len(s.fwd.dests)
	s.fwd.mu.Unlock()
	if n > maxForwardDests {
		t.Errorf("%d destinations kept; at most %d", n, maxForwardDests)
	}
	for _, bad := range []string{"127.0.0.1:x", "127.0.0.1:", "10.0.0.1:80"} {
		if _, err := s.forwardRoute([]byte(bad)); err == nil {
			t.Errorf("%s: allowed", bad)
		}
	}
}
