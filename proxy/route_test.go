package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRouting(t *testing.T) {
	checkLeaks(t)
	named := func(name string) string {
		return backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	pool := func(name string) PoolConfig {
		return PoolConfig{Name: name, Hosts: []HostConfig{{Addr: named(name)}}}
	}
	cfg := Config{
		Pools: []PoolConfig{pool("exact-host"), pool("wildcard"), pool("exact-path"), pool("prefix"),
			pool("post"), pool("header"), pool("fallback")},
		Routes: []Route{
			{Host: "API.example.com", Pool: "exact-host"},
			{Host: "*.example.com", Pool: "wildcard"},
			{Path: "/exact", Pool: "exact-path"},
			{PathPrefix: "/static/", Pool: "prefix"},
			{Methods: []string{"POST"}, Pool: "post"},
			{Headers: map[string]string{"X-Canary": "yes"}, Pool: "header"},
			{Pool: "fallback"},
		},
	}
	_, addr := start(t, cfg)
	c := client(t)
	for _, tt := range []struct {
		method, host, path string
		header             string
		want               string
	}{
		{"GET", "api.example.com", "/", "", "exact-host"},
		{"GET", "api.example.com:8080", "/", "", "exact-host"},
		{"GET", "www.example.com", "/", "", "wildcard"},
		{"GET", "example.com", "/", "", "fallback"}, // the wildcard wants a subdomain
		{"GET", "other", "/exact", "", "exact-path"},
		{"GET", "other", "/exact/more", "", "fallback"},
		{"GET", "other", "/exact?q=1", "", "exact-path"},
		{"GET", "other", "/static/app.js", "", "prefix"},
		{"GET", "other", "/static", "", "fallback"},
		{"POST", "other", "/", "", "post"},
		{"GET", "other", "/", "yes", "header"},
		{"GET", "other", "/", "no", "fallback"},
	} {
		req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, nil)
		req.Host = tt.host
		if tt.header != "" {
			req.Header.Set("X-Canary", tt.header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("%s %s%s (X-Canary %q) went to %q, want %q", tt.method, tt.host, tt.path, tt.header, b, tt.want)
		}
	}
}

func TestNoRouteIs404(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {})
	cfg := Config{
		Pools:  []PoolConfig{{Name: "a", Hosts: []HostConfig{{Addr: up}}}},
		Routes: []Route{{Host: "only.example", Pool: "a"}},
	}
	_, addr := start(t, cfg)
	code, body, _ := get(t, client(t), "http://"+addr+"/")
	if code != 404 || body != "no route for this request\n" {
		t.Errorf("got %d %q", code, body)
	}
}

func TestRouteRewrites(t *testing.T) {
	checkLeaks(t)
	seen := make(chan *http.Request, 1)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Clone(r.Context())
		w.Header().Set("Server", "secret/1.2")
		w.Header().Set("X-Frame-Options", "ALLOW")
	})
	cfg := Config{
		Pools: []PoolConfig{{Name: "a", Hosts: []HostConfig{{Addr: up}}}},
		Routes: []Route{{
			PathPrefix: "/api", StripPrefix: "/api", AddPrefix: "/v2", Pool: "a",
			RequestHeaders:  HeaderRules{Set: map[string]string{"X-Env": "prod"}, Remove: []string{"Cookie"}},
			ResponseHeaders: HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"server"}},
		}},
	}
	_, addr := start(t, cfg)
	c := client(t)
	for _, tt := range []struct{ path, want string }{
		{"/api/users?id=1", "/v2/users?id=1"},
		{"/api", "/v2/"},
		{"/api?q", "/v2/?q"},
		{"/apix", "/v2/apix"},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+tt.path, nil)
		req.Header.Set("Cookie", "a=b")
		req.Header.Set("X-Env", "dev")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := <-seen
		if r.RequestURI != tt.want {
			t.Errorf("%s was sent as %s, want %s", tt.path, r.RequestURI, tt.want)
		}
		if r.Header.Get("Cookie") != "" || r.Header.Values("X-Env")[0] != "prod" || len(r.Header.Values("X-Env")) != 1 {
			t.Errorf("request header %v", r.Header)
		}
		if f := r.Header.Get("Forwarded"); f != `for=127.0.0.1;host="`+addr+`";proto=http` {
			t.Errorf("Forwarded = %q", f)
		}
		if resp.Header.Get("Server") != "" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("response header %v", resp.Header)
		}
	}
}

func TestRedirectRoutes(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "proxied") })
	cfg := Config{
		Pools: []PoolConfig{{Name: "a", Hosts: []HostConfig{{Addr: up}}}},
		Routes: []Route{
			{Host: "moved.example", Redirect: "https://new.example/base/", RedirectCode: 301},
			{Host: "plain.example", Redirect: "https"},
			{Pool: "a"},
		},
	}
	_, addr := start(t, cfg)
	for _, tt := range []struct{ req, want string }{
		{"GET /x?y=1 HTTP/1.1\r\nHost: moved.example\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 301 Moved Permanently\r\nLocation: https://new.example/base/x?y=1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"GET /p HTTP/1.1\r\nHost: plain.example:8080\r\nConnection: close\r\n\r\n",
			"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://plain.example/p\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"POST /p HTTP/1.1\r\nHost: plain.example\r\nContent-Length: 3\r\n\r\nabc",
			"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://plain.example/p\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
	} {
		if got := rawExchange(t, addr, tt.req); got != tt.want {
			t.Errorf("answer %q, want %q", got, tt.want)
		}
	}
	// Keep-alive: a redirect and then a proxied request on one connection.
	got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: plain.example\r\n\r\nGET / HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 308 ") || !strings.HasSuffix(got, "proxied") {
		t.Errorf("pipelined answer %q", got)
	}
}
