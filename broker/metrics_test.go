package broker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestTrafficMetrics produces and consumes through the broker and reads the counters
// by topic and the latency histograms back from its registry.
func TestTrafficMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, Config{Registry: reg})
	createTopic(t, b.addr, "counted", 2, nil)
	createTopic(t, b.addr, "other", 1, nil)
	produceN(t, b.addr, "counted", 0, 40) // acks=all: each answer waits for an fsync
	consumeN(t, b.addr, "counted", 40)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	counter := func(name, topic string) float64 {
		for _, m := range byName[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == topic {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	if got := counter("gantry_broker_records_in_total", "counted"); got != 40 {
		t.Errorf("records in: %v, want 40", got)
	}
	if got := counter("gantry_broker_records_out_total", "counted"); got < 40 {
		t.Errorf("records out: %v, want at least 40", got)
	}
	if in, out := counter("gantry_broker_bytes_in_total", "counted"), counter("gantry_broker_bytes_out_total", "counted"); in < 40 || out < in {
		t.Errorf("bytes in %v, out %v", in, out)
	}
	if got := counter("gantry_broker_records_in_total", "other"); got != 0 {
		t.Errorf("records in for a topic nobody produced to: %v", got)
	}
	hist := func(name string) uint64 { return byName[name].GetMetric()[0].GetHistogram().GetSampleCount() }
	produces, fsyncs := hist("gantry_broker_produce_seconds"), hist("gantry_broker_fsync_seconds")
	if produces == 0 || hist("gantry_broker_fetch_seconds") == 0 {
		t.Errorf("produce and fetch latencies: %d and %d samples", produces, hist("gantry_broker_fetch_seconds"))
	}
	// The acks=all produces were answered after fsyncs, which the log reports.
	if fsyncs == 0 {
		t.Error("no fsync observed for acks=all produces")
	}
}
