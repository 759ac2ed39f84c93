package cache

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a Prometheus collector of the server's counters, for the
// admin listener's private registry.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

var (
	descCommands = prometheus.NewDesc("gantry_cache_commands_total", "Commands processed, by command.", []string{"command"}, nil)
	descHits     = prometheus.NewDesc("gantry_cache_keyspace_hits_total", "Reads that found their key.", nil, nil)
	descMisses   = prometheus.NewDesc("gantry_cache_keyspace_misses_total", "Reads that did not find their key.", nil, nil)
	descExpired  = prometheus.NewDesc("gantry_cache_expired_keys_total", "Keys removed because their time to live ran out.", nil, nil)
	descEvicted  = prometheus.NewDesc("gantry_cache_evicted_keys_total", "Keys removed to stay under maxmemory.", nil, nil)
	descClients  = prometheus.NewDesc("gantry_cache_connected_clients", "Connections being served.", nil, nil)
	descConns    = prometheus.NewDesc("gantry_cache_connections_total", "Connections accepted.", nil, nil)
	descRejected = prometheus.NewDesc("gantry_cache_rejected_connections_total", "Connections refused at maxclients.", nil, nil)
	descMemory   = prometheus.NewDesc("gantry_cache_used_memory_bytes", "Bytes accounted to keys and values.", nil, nil)
	descKeys     = prometheus.NewDesc("gantry_cache_keys", "Keys in all databases.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	c.s.latencyVec.Describe(ch)
	for _, d := range []*prometheus.Desc{descCommands, descHits, descMisses, descExpired, descEvicted, descClients, descConns, descRejected, descMemory, descKeys} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.s.latencyVec.Collect(ch)
	st := c.s.Stats()
	for name, n := range st.CommandCounts {
		ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(n), name)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(descHits, st.Hits)
	counter(descMisses, st.Misses)
	counter(descExpired, st.Expired)
	counter(descEvicted, st.Evicted)
	gauge(descClients, int64(st.Clients))
	counter(descConns, st.Connections)
	counter(descRejected, st.Rejected)
	gauge(descMemory, st.UsedMemory)
	var keys int64
	for db := range c.s.dbs {
		n, _ := c.s.ks.counts(db)
		keys += n
	}
	gauge(descKeys, keys)
}
