package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2Backend starts a real HTTP/2 server: cleartext h2c only (prior knowledge; HTTP/1.1 is
// refused), or with ca, h2 over TLS. It counts the connections it accepts.
func h2Backend(t *testing.T, ca *testCA, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = discardLog()
	srv.Config.Protocols = new(http.Protocols)
	if ca != nil {
		pair, _ := ca.issue("127.0.0.1", false)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		srv.Config.Protocols.SetHTTP2(true)
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

func h2Pool(cfg PoolConfig, addrs ...string) Config {
	cfg.Name, cfg.Protocol = "app", "h2"
	for _, a := range addrs {
		cfg.Hosts = append(cfg.Hosts, HostConfig{Addr: a})
	}
	return Config{Pools: []PoolConfig{cfg}}
}

// h2cClient is an HTTP/2 client with prior knowledge.
func h2cClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// echoH2 answers with what the backend saw: protocol, method, path, body, and the
// forwarding fields the proxy adds.
func echoH2(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s %q xff=%v via=%v", r.Proto, r.Method, r.URL.RequestURI(), b,
		r.Header.Get("X-Forwarded-For") != "", strings.HasPrefix(r.Header.Get("Via"), "1.1 gantry-"))
}

func TestUpstreamH2C(t *testing.T) {
	checkLeaks(t)
	addr, conns := h2Backend(t, nil, echoH2)
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	for _, tt := range []struct {
		name string
		c    *http.Client
	}{{"HTTP/1.1 client", client(t)}, {"h2c client", h2cClient(t)}} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := get(t, tt.c, "http://"+paddr+"/a?q=1")
			if want := `HTTP/2.0 GET /a?q=1 "" xff=true via=true`; code != 200 || body != want {
				t.Errorf("GET: %d %q; want %q", code, body, want)
			}
			if !strings.HasPrefix(hdr.Get("Via"), "1.1 gantry-") {
				t.Errorf("response Via %q", hdr.Get("Via"))
			}
			// A body of known length, and one of unknown length (chunked from an
			// HTTP/1.1 client, DATA frames without content-length from an h2 client).
			for _, r := range []io.Reader{strings.NewReader("hello"), io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo"))} {
				resp, err := tt.c.Post("http://"+paddr+"/p", "text/plain", r)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := `HTTP/2.0 POST /p "hello" xff=true via=true`; string(b) != want {
					t.Errorf("POST: %q; want %q", b, want)
				}
			}
		})
	}
	// Concurrent requests share the host's HTTP/2 connection.
	var wg sync.WaitGroup
	c := h2cClient(t)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get("http://" + paddr + "/c")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend saw %d connections; want 1 (multiplexed)", n)
	}
}

func TestUpstreamH2OverTLS(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t)
	addr, conns := h2Backend(t, ca, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	})
	cfg := h2Pool(PoolConfig{TLS: &UpstreamTLS{CAFile: ca.file}}, "https://"+addr)
	_, paddr := start(t, cfg)
	for _, c := range []*http.Client{client(t), h2cClient(t)} {
		for i := 0; i < 3; i++ {
			if code, body, _ := get(t, c, "http://"+paddr+"/"); code != 200 || body != "HTTP/2.0 tls=true" {
				t.Fatalf("%d %q", code, body)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend saw %d TLS connections; want 1", n)
	}
	// A host that does not offer h2 in ALPN is refused, not spoken to in HTTP/1.1.
	h1, _ := tlsBackend(t, ca, nil, whoami)
	cfg = h2Pool(PoolConfig{TLS: &UpstreamTLS{CAFile: ca.file}, EjectAfter: -1}, h1)
	_, paddr = start(t, cfg)
	if code, body, _ := get(t, client(t), "http://"+paddr+"/"); code != 502 {
		t.Errorf("h2 pool to an HTTP/1.1-only TLS host: %d %q; want 502", code, body)
	}
}

func TestUpstreamH2TrailersToHTTP1(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc")
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	resp, err := client(t).Get("http://" + paddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "data" || resp.Trailer.Get("X-Checksum") != "abc" || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("body %q trailer %v encoding %v", b, resp.Trailer, resp.TransferEncoding)
	}
}

func TestUpstreamH2StreamsEvents(t *testing.T) {
	checkLeaks(t)
	next := make(chan struct{})
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for i := 0; i < 2; i++ {
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	for _, c := range []*http.Client{client(t), h2cClient(t)} {
		resp, err := c.Get("http://" + paddr + "/sse")
		if err != nil {
			t.Fatal(err)
		}
		expectEvents(t, resp.Body, next, 2)
		resp.Body.Close()
	}
}

func TestUpstreamH2Resilience(t *testing.T) {
	checkLeaks(t)
	good, _ := h2Backend(t, nil, echoH2)
	// A host that refuses connections: GETs go to the other host, and it is ejected.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	s, paddr := start(t, h2Pool(PoolConfig{Policy: "round_robin", EjectAfter: 2}, good, dead))
	c := client(t)
	for i := 0; i < 6; i++ {
		if code, body, _ := get(t, c, "http://"+paddr+"/"); code != 200 {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if u := s.table.Load().pools[0].all[1]; u.ejected.Load() == 0 {
		t.Error("the dead host was not ejected")
	}

	// A POST is never retried once sent; with no host up it fails fast.
	_, paddr = start(t, h2Pool(PoolConfig{EjectAfter: -1}, dead))
	resp, err := c.Post("http://"+paddr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("POST to a dead h2 host: %d; want 502", resp.StatusCode)
	}

	// A silent host: the pool's read timeout answers 504.
	release := make(chan struct{})
	slow, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	_, paddr = start(t, h2Pool(PoolConfig{ReadTimeout: 100 * time.Millisecond, Retries: -1}, slow))
	if code, body, _ := get(t, c, "http://"+paddr+"/"); code != 504 || body != "upstream timed out\n" {
		t.Errorf("silent h2 host: %d %q; want 504", code, body)
	}
	h2c := h2cClient(t)
	if code, _, _ := get(t, h2c, "http://"+paddr+"/"); code != 504 {
		t.Errorf("silent h2 host, h2 client: %d; want 504", code)
	}
}

func TestUpstreamH2Breaker(t *testing.T) {
	checkLeaks(t)
	entered, release := make(chan struct{}), make(chan struct{})
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	_, paddr := start(t, h2Pool(PoolConfig{MaxRequestsPerHost: 1}, addr))
	c := h2cClient(t)
	first := statusLater(c, "http://"+paddr+"/")
	<-entered
	code, body, _ := get(t, c, "http://"+paddr+"/")
	if code != 503 || body != "upstream hosts at capacity\n" {
		t.Errorf("second request with the host full: %d %q; want 503", code, body)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("first request: %d", code)
	}
}

// TestUpstreamH2HealthCheck checks that an h2 pool's health checks speak HTTP/2 (the h2c
// backend refuses HTTP/1.1, so an HTTP/1.1 probe would fail and take the host out).
func TestUpstreamH2HealthCheck(t *testing.T) {
	checkLeaks(t)
	var probes atomic.Int64
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.ProtoMajor == 2 {
			probes.Add(1)
		}
	})
	s, _ := start(t, h2Pool(PoolConfig{HealthCheck: &HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, UnhealthyAfter: 1}}, addr))
	deadline := time.Now().Add(5 * time.Second)
	for probes.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d HTTP/2 health probes in 5s", probes.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s.table.Load().pools[0].all[0].unhealthy.Load() {
		t.Error("the h2 host was marked unhealthy")
	}
}

// TestRouteTimeoutOverHTTP2 checks a route's total timeout on the paths the HTTP/2
// listener and h2 pools take: a host that never answers gets 504 at the timeout, though
// its read timeout is far longer.
func TestRouteTimeoutOverHTTP2(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	hold := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	h1 := backend(t, hold)
	h2, _ := h2Backend(t, nil, hold)
	defer close(release)
	for _, tt := range []struct {
		name string
		cfg  Config
		c    *http.Client
	}{
		{"h2 client, HTTP/1.1 pool", onePool(h1), h2cClient(t)},
		{"h2 client, h2 pool", h2Pool(PoolConfig{}, h2), h2cClient(t)},
		{"HTTP/1.1 client, h2 pool", h2Pool(PoolConfig{}, h2), client(t)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Routes = []Route{{Pool: "app", Timeout: 150 * time.Millisecond}}
			_, addr := start(t, tt.cfg)
			began := time.Now()
			code, body, _ := get(t, tt.c, "http://"+addr+"/")
			if took := time.Since(began); code != 504 || body != "upstream timed out\n" || took > time.Second {
				t.Errorf("%d %q after %v; want 504 after about 150ms", code, body, took)
			}
		})
	}
}

// TestUpstreamH2BodyLimit checks that a request body over max_body_bytes, streamed to an
// h2 pool, is answered 413 and counted as the client's fault, not the host's.
func TestUpstreamH2BodyLimit(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	})
	cfg := h2Pool(PoolConfig{}, addr)
	cfg.MaxBodyBytes = 1 << 10
	s, paddr := start(t, cfg)
	big := strings.Repeat("x", 64<<10)
	// HTTP/1.1, chunked (no length to refuse up front). The client may see the connection
	// close while it still sends instead of the answer; an answer must be 413.
	resp, err := client(t).Post("http://"+paddr+"/", "text/plain", io.MultiReader(strings.NewReader(big)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("HTTP/1.1 chunked body over the limit: %d; want 413", resp.StatusCode)
		}
	}
	// HTTP/2 without content-length.
	resp, err = h2cClient(t).Post("http://"+paddr+"/", "text/plain", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("HTTP/2 body over the limit: %d; want 413", resp.StatusCode)
	}
	if n := s.table.Load().pools[0].all[0].failures.Load(); n != 0 {
		t.Errorf("%d failures counted against the host for the clients' bodies", n)
	}
}

// TestUpstreamH2Reload checks that a request in flight on an h2 pool finishes across a
// reload, and that the replaced pool's connection closes after it rather than idling on.
func TestUpstreamH2Reload(t *testing.T) {
	checkLeaks(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var open atomic.Int64 // the backend's open connections
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	s, paddr := start(t, h2Pool(PoolConfig{}, addr))
	c := h2cClient(t)
	done := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://" + paddr + "/hold")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-entered
	if err := s.Reload(h2Pool(PoolConfig{Policy: "least_conn"}, addr)); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, c, "http://"+paddr+"/after"); code != 200 || body != "/after" {
		t.Errorf("after the reload: %d %q", code, body)
	}
	close(release)
	if got := <-done; got != "/hold" {
		t.Errorf("the request in flight across the reload got %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the backend has %d connections open; want 1 (the old pool's should close)", open.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
