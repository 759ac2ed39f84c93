package proxy

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the server-wide counters. Per-route and per-host counters live in route and
// upstream; all are atomics read at scrape time, so counting costs the hot path no map
// lookup and no lock.
type stats struct {
	clientConns atomic.Int64
	requests    atomic.Uint64
	answers     statusCounts
	inFlight    atomic.Int64
	shed        atomic.Uint64 // requests refused by MaxInFlight
}

// statusCounts counts answers by status class: [1] to [5] for 1xx to 5xx, [0] for any
// other code.
type statusCounts [6]atomic.Uint64

func (c *statusCounts) add(code int) {
	if code >= 100 && code < 600 {
		c[code/100].Add(1)
	} else {
		c[0].Add(1)
	}
}

// countAnswer counts an answer sent to a client: server-wide, for route r and for host u,
// which is nil when the proxy answered itself (static files, redirects, errors).
func (s *Server) countAnswer(r *route, u *upstream, code int) {
	s.stats.answers.add(code)
	if r != nil {
		r.answers.add(code)
	}
	if u != nil {
		u.answers.add(code)
	}
}

func className(i int) string {
	if i == 0 {
		return "other"
	}
	return strconv.Itoa(i) + "xx"
}

// Collector returns a Prometheus collector for the proxy's metrics, to register on the
// admin listener's registry.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

var (
	descConns      = prometheus.NewDesc("gantry_proxy_client_connections", "Client connections open.", nil, nil)
	descRequests   = prometheus.NewDesc("gantry_proxy_requests_total", "Requests read from clients.", nil, nil)
	descResponses  = prometheus.NewDesc("gantry_proxy_responses_total", "Responses sent to clients, by status class.", []string{"class"}, nil)
	descRoute      = prometheus.NewDesc("gantry_proxy_route_responses_total", "Upstream responses forwarded, by route and status class.", []string{"route", "class"}, nil)
	descHostReq    = prometheus.NewDesc("gantry_proxy_upstream_requests_total", "Requests sent (or attempted) to an upstream host.", []string{"pool", "host"}, nil)
	descHostResp   = prometheus.NewDesc("gantry_proxy_upstream_responses_total", "Responses from an upstream host forwarded to clients, by status class.", []string{"pool", "host", "class"}, nil)
	descHostFail   = prometheus.NewDesc("gantry_proxy_upstream_failures_total", "Connection errors, timeouts and 5xx answers from an upstream host.", []string{"pool", "host"}, nil)
	descHostFlight = prometheus.NewDesc("gantry_proxy_upstream_in_flight", "Requests in flight to an upstream host.", []string{"pool", "host"}, nil)
	descHostOpen   = prometheus.NewDesc("gantry_proxy_upstream_connections", "Connections open to an upstream host.", []string{"pool", "host"}, nil)
	descHostUp     = prometheus.NewDesc("gantry_proxy_upstream_up", "1 when the host takes traffic, 0 when ejected or drained.", []string{"pool", "host"}, nil)
	descHostEject  = prometheus.NewDesc("gantry_proxy_upstream_ejections_total", "Times an upstream host was ejected as an outlier.", []string{"pool", "host"}, nil)
	descRetries    = prometheus.NewDesc("gantry_proxy_retries_total", "Retries to another host.", []string{"pool"}, nil)
	descBudget     = prometheus.NewDesc("gantry_proxy_retry_budget_exhausted_total", "Retries refused because the retry budget was spent.", []string{"pool"}, nil)
	descNoHost     = prometheus.NewDesc("gantry_proxy_no_healthy_host_total", "Requests answered 503 because no host was usable.", []string{"pool"}, nil)
	descBreaker    = prometheus.NewDesc("gantry_proxy_breaker_rejected_total", "Requests answered 503 because every usable host was at max_requests_per_host.", []string{"pool"}, nil)
	descInFlight   = prometheus.NewDesc("gantry_proxy_in_flight", "Requests being served.", nil, nil)
	descShed       = prometheus.NewDesc("gantry_proxy_shed_total", "Requests answered 503 because max_in_flight was reached.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descRequests, descResponses, descRoute, descHostReq, descHostResp,
		descHostFail, descHostFlight, descHostOpen, descHostUp, descHostEject, descRetries, descBudget, descNoHost,
		descBreaker, descInFlight, descShed} {
		ch <- d
	}
	describeMore(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(s.stats.clientConns.Load()))
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.stats.requests.Load()))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.stats.inFlight.Load()))
	ch <- prometheus.MustNewConstMetric(descShed, prometheus.CounterValue, float64(s.stats.shed.Load()))
	s.collectMore(ch)
	for i := range s.stats.answers {
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(s.stats.answers[i].Load()), className(i))
	}
	routes := s.table.Load().routes
	for i := range routes {
		r := routes[i]
		for k := range r.answers {
			if v := r.answers[k].Load(); v > 0 {
				ch <- prometheus.MustNewConstMetric(descRoute, prometheus.CounterValue, float64(v), r.name, className(k))
			}
		}
	}
	now := nowNano()
	for _, p := range s.table.Load().pools {
		for _, u := range p.all {
			up := 0.0
			if u.up(now) {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descHostReq, prometheus.CounterValue, float64(u.requests.Load()), p.name, u.addr)
			ch <- prometheus.MustNewConstMetric(descHostFail, prometheus.CounterValue, float64(u.failures.Load()), p.name, u.addr)
			for k := range u.answers {
				if v := u.answers[k].Load(); v > 0 {
					ch <- prometheus.MustNewConstMetric(descHostResp, prometheus.CounterValue, float64(v), p.name, u.addr, className(k))
				}
			}
			ch <- prometheus.MustNewConstMetric(descHostFlight, prometheus.GaugeValue, float64(u.inflight.Load()), p.name, u.addr)
			ch <- prometheus.MustNewConstMetric(descHostOpen, prometheus.GaugeValue, float64(u.open.Load()), p.name, u.addr)
			ch <- prometheus.MustNewConstMetric(descHostUp, prometheus.GaugeValue, up, p.name, u.addr)
			ch <- prometheus.MustNewConstMetric(descHostEject, prometheus.CounterValue, float64(u.ejected.Load()), p.name, u.addr)
		}
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(p.retries.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(descBudget, prometheus.CounterValue, float64(p.budgetOut.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(descNoHost, prometheus.CounterValue, float64(p.noHost.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.CounterValue, float64(p.breakerOpen.Load()), p.name)
	}
}
