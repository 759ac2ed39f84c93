package proxy

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestLatencyHistogram sends fast and slow requests on two routes and reads the
// histograms back through a Prometheus registry, as /metrics would.
func TestLatencyHistogram(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(120 * time.Millisecond) // the upstream's pace
		}
		io.WriteString(w, "ok")
	})
	cfg := onePool(up)
	cfg.Pools[0].MaxRequestsPerHost = 10
	cfg.Routes = []Route{{Path: "/slow", Pool: "app"}, {Pool: "app"}}
	s, addr := start(t, cfg)
	c := client(t)
	for range 3 {
		get(t, c, "http://"+addr+"/fast")
	}
	for range 2 {
		get(t, c, "http://"+addr+"/slow")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hists := map[string]*dto.Histogram{}
	capacity := 0
	for _, f := range families {
		switch f.GetName() {
		case "gantry_proxy_request_duration_seconds":
			for _, m := range f.GetMetric() {
				hists[m.GetLabel()[0].GetValue()] = m.GetHistogram()
			}
		case "gantry_proxy_upstream_at_capacity":
			capacity = len(f.GetMetric())
		}
	}
	le := func(h *dto.Histogram, bound float64) uint64 {
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == bound {
				return b.GetCumulativeCount()
			}
		}
		t.Fatalf("no bucket %v", bound)
		return 0
	}
	slow, fast := hists["/slow"], hists["default"]
	if slow == nil || fast == nil {
		t.Fatalf("histograms: %v", hists)
	}
	if slow.GetSampleCount() != 2 || le(slow, 0.1) != 0 || le(slow, 1) != 2 || slow.GetSampleSum() < 0.24 {
		t.Errorf("slow route: count %d, ≤0.1s %d, ≤1s %d, sum %v", slow.GetSampleCount(), le(slow, 0.1), le(slow, 1), slow.GetSampleSum())
	}
	if fast.GetSampleCount() != 3 || le(fast, 0.1) != 3 {
		t.Errorf("default route: count %d, ≤0.1s %d", fast.GetSampleCount(), le(fast, 0.1))
	}
	if capacity != 1 {
		t.Errorf("%d breaker gauges, want 1 (one host with max_requests_per_host)", capacity)
	}
}
