package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	var ready atomic.Bool
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_hits_total", Help: "hits"})
	reg.MustRegister(hits)
	hits.Add(3)

	srv := New(Config{
		Registry: reg,
		Ready:    ready.Load,
		Handlers: map[string]http.Handler{
			"POST /drain": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "drained\n") }),
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 503, "not ready"},
		{"GET", "/metrics", 200, "test_hits_total 3"},
		{"GET", "/metrics", 200, "go_goroutines"},
		{"GET", "/debug/pprof/", 200, "goroutine"},
		{"POST", "/drain", 200, "drained"},
		{"GET", "/drain", 405, ""},
		{"GET", "/nope", 404, ""},
	}
	for _, tt := range tests {
		code, body := get(tt.method, tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, code, body, tt.code, tt.body)
		}
	}
	ready.Store(true)
	if code, _ := get("GET", "/readyz"); code != 200 {
		t.Errorf("/readyz after ready = %d, want 200", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
}
