package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"gantry/internal/cputime"
	"time"
)

// samples returns n log-normal latencies around 200µs, drawn up front so that the
// benchmarks time Record alone.
func samples(n int) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(math.Exp(math.Log(200e3) + r.NormFloat64()))
	}
	return s
}

func BenchmarkRecord(b *testing.B) {
	h := NewHistogram()
	s := samples(1 << 12)
	b.ReportAllocs()
	defer cputime.Report(b)()
	for i := 0; b.Loop(); i++ {
		h.Record(s[i&(len(s)-1)])
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	h := NewHistogram()
	s := samples(1 << 12)
	b.ReportAllocs()
	defer cputime.Report(b)()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			h.Record(s[i&(len(s)-1)])
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	h := NewHistogram()
	for _, d := range samples(1 << 16) {
		h.Record(d)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := h.Snapshot()
		_ = s.Quantile(0.99)
	}
}

// BenchmarkRecordParallelOneBucket is the worst case: every goroutine counts into the same
// bucket, so its cache line moves between cores on every Record.
func BenchmarkRecordParallelOneBucket(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	defer cputime.Report(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Record(200 * time.Microsecond)
		}
	})
}
