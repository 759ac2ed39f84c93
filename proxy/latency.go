package proxy

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request latency, per route, as a Prometheus histogram: the time from a request's head
// being read to its answer being written (for a stream, its whole life). Buckets are fixed
// and counted with atomics, so observing costs the request path two clock reads and three
// atomic adds, no lock and no allocation.

// latencyBounds are the buckets' upper bounds.
var latencyBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second, 30 * time.Second,
}

// latencyHist counts observations per bucket (the last counts those past every bound).
type latencyHist struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

func (h *latencyHist) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// metric returns the histogram as a Prometheus metric with cumulative buckets.
func (h *latencyHist) metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	cum := make(map[float64]uint64, len(latencyBounds))
	var n uint64
	for i, b := range latencyBounds {
		n += h.buckets[i].Load()
		cum[b.Seconds()] = n
	}
	n += h.buckets[len(latencyBounds)].Load()
	return prometheus.MustNewConstHistogram(desc, n, time.Duration(h.sum.Load()).Seconds(), cum, labels...)
}

var (
	descLatency = prometheus.NewDesc("gantry_proxy_request_duration_seconds",
		"Time from a request's head to the end of its answer, by route (HTTP/1.x clients).", []string{"route"}, nil)
	descAtCapacity = prometheus.NewDesc("gantry_proxy_upstream_at_capacity",
		"1 when the host has max_requests_per_host requests in flight (its breaker is open), else 0.", []string{"pool", "host"}, nil)
)

func describeMore(ch chan<- *prometheus.Desc) {
	ch <- descLatency
	ch <- descAtCapacity
}

// collectMore sends the latency histograms of the routes and the breaker state of the
// hosts of pools that have a breaker.
func (s *Server) collectMore(ch chan<- prometheus.Metric) {
	t := s.table.Load()
	for _, r := range t.routes {
		ch <- r.latency.metric(descLatency, r.name)
	}
	for _, p := range t.pools {
		m := p.cfg.MaxRequestsPerHost
		if m <= 0 {
			continue
		}
		for _, u := range p.all {
			v := 0.0
			if u.inflight.Load() >= int64(m) {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descAtCapacity, prometheus.GaugeValue, v, p.name, u.addr)
		}
	}
}
