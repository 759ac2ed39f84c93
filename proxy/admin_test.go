package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gantry/internal/admin"
)

// adminListener serves the proxy's admin endpoints on a real loopback listener, as
// `gantry proxy --admin` does, and returns its base URL.
func adminListener(t *testing.T, s *Server) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	adm := admin.New(admin.Config{Registry: reg, Handlers: s.AdminHandlers()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- adm.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adm.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("admin Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestAdminEndpointsAndMetrics: over a real admin listener, every metric docs/proxy.md
// names is exported after traffic, with the labels it documents; /healthz, /readyz,
// /debug/pprof/, /config and /pools answer; a host drained over HTTP finishes the
// request it has in flight and takes no new one.
func TestAdminEndpointsAndMetrics(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	slow := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "a")
	})
	other := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	cfg := onePool(slow, other)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].MaxRequestsPerHost = 100
	cfg.Routes = []Route{{PathPrefix: "/", Pool: "app"}}
	s, addr := start(t, cfg)
	base := adminListener(t, s)
	c := client(t)

	// A request held in flight on the host about to be drained.
	var inFlight <-chan int
	for i := 0; i < 2 && inFlight == nil; i++ {
		ch := statusLater(c, "http://"+addr+"/slow")
		deadline := time.Now().Add(5 * time.Second)
		for s.table.Load().pools[0].all[0].inflight.Load() == 0 && len(ch) == 0 {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if s.table.Load().pools[0].all[0].inflight.Load() == 1 {
			inFlight = ch
		} else if <-ch != 200 { // went to the other host: try again
			t.Fatal("request to the other host failed")
		}
	}
	if inFlight == nil {
		t.Fatal("no request held on the first host")
	}
	resp, err := c.Post(base+"/pools/app/hosts/"+slow+"/drain", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("drain: %d", resp.StatusCode)
	}
	for i := 0; i < 4; i++ {
		if _, body, _ := get(t, c, "http://"+addr+"/"); body != "b" {
			t.Fatalf("a new request went to the drained host")
		}
	}
	if _, body, _ := get(t, c, base+"/pools"); !strings.Contains(body, "app "+slow+" drained in_flight=1") {
		t.Errorf("/pools = %q", body)
	}
	close(release)
	if st := <-inFlight; st != 200 {
		t.Errorf("the drained host's request in flight: %d", st)
	}
	get(t, c, "http://"+addr+"/nothing-matches-differently") // one more, any answer

	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ready", "/debug/pprof/": "goroutine", "/config": "pools:",
	} {
		if code, body, _ := get(t, c, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	_, metrics, _ := get(t, c, base+"/metrics")
	for _, want := range []string{
		`gantry_proxy_requests_total `,
		`gantry_proxy_in_flight `,
		`gantry_proxy_client_connections `,
		`gantry_proxy_responses_total{class="2xx"} `,
		`gantry_proxy_route_responses_total{class="2xx",route="/*"} `,
		`gantry_proxy_upstream_requests_total{host="` + slow + `",pool="app"} `,
		`gantry_proxy_upstream_failures_total{host="` + slow + `",pool="app"} `,
		`gantry_proxy_upstream_responses_total{class="2xx",host="` + slow + `",pool="app"} 1`, // the request held in flight
		`gantry_proxy_upstream_responses_total{class="2xx",host="` + other + `",pool="app"} `,
		`gantry_proxy_upstream_in_flight{host="` + slow + `",pool="app"} `,
		`gantry_proxy_upstream_connections{host="` + other + `",pool="app"} `,
		`gantry_proxy_upstream_up{host="` + slow + `",pool="app"} 0`, // drained
		`gantry_proxy_upstream_up{host="` + other + `",pool="app"} 1`,
		`gantry_proxy_upstream_ejections_total{host="` + slow + `",pool="app"} `,
		`gantry_proxy_upstream_at_capacity{host="` + slow + `",pool="app"} 0`,
		`gantry_proxy_retries_total{pool="app"} `,
		`gantry_proxy_retry_budget_exhausted_total{pool="app"} `,
		`gantry_proxy_no_healthy_host_total{pool="app"} `,
		`gantry_proxy_breaker_rejected_total{pool="app"} `,
		`gantry_proxy_shed_total `,
		`gantry_proxy_request_duration_seconds_bucket{route="/*",le="0.0005"} `,
		`gantry_proxy_request_duration_seconds_count{route="/*"} `,
	} {
		if !strings.Contains(metrics, "\n"+want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}
