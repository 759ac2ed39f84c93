package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	if got := rawIndex(lowest); got != baseIndex {
		t.Fatalf("rawIndex(%d) = %d, baseIndex = %d", lowest, got, baseIndex)
	}
	if got := bucketOf(highest); got != numBuckets-1 {
		t.Fatalf("bucketOf(highest) = %d, want %d", got, numBuckets-1)
	}
	if time.Duration(highest) < time.Hour {
		t.Fatalf("top of range %v is below 1h", time.Duration(highest))
	}
	// Buckets tile the range: each starts where the previous one ended, and every value
	// in a bucket maps back to it.
	next, _ := bounds(0)
	if next > lowest {
		t.Fatalf("bucket 0 starts at %d, above %d", next, lowest)
	}
	for i := 0; i < numBuckets; i++ {
		lo, w := bounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		for _, v := range []uint64{lo, lo + w/2, lo + w - 1} {
			if v >= lowest && bucketOf(v) != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, bucketOf(v), i)
			}
		}
		if lo >= lowest && float64(w)/2/float64(lo) > RelativeError {
			t.Fatalf("bucket %d [%d,+%d) is wider than the error bound", i, lo, w)
		}
		next = lo + w
	}
	if next-1 != highest {
		t.Fatalf("last bucket ends at %d, want %d", next-1, highest)
	}
}

// distributions are the shapes the property test draws from, in nanoseconds.
var distributions = []struct {
	name string
	draw func(r *rand.Rand) time.Duration
}{
	{"uniform 1µs-10ms", func(r *rand.Rand) time.Duration {
		return time.Microsecond + time.Duration(r.Int64N(int64(10*time.Millisecond)))
	}},
	{"log-normal around 200µs", func(r *rand.Rand) time.Duration {
		return time.Duration(math.Exp(math.Log(200e3) + 1.2*r.NormFloat64()))
	}},
	{"bimodal with a heavy tail", func(r *rand.Rand) time.Duration {
		if r.Float64() < 0.97 {
			return time.Duration(50e3 + 10e3*r.NormFloat64())
		}
		// Pareto tail from 5ms, shape 1.1: some samples reach seconds or minutes.
		return time.Duration(5e6 / math.Pow(1-r.Float64(), 1/1.1))
	}},
	{"wide: 1µs to 1h log-uniform", func(r *rand.Rand) time.Duration {
		return time.Duration(math.Exp(math.Log(1e3) + r.Float64()*math.Log(3.6e12/1e3)))
	}},
}

var quantiles = []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999}

// TestQuantilesMatchSortedReference is the property test: whatever the distribution,
// every percentile is within RelativeError of the nearest-rank value of the sorted samples.
func TestQuantilesMatchSortedReference(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		for _, dist := range distributions {
			r := rand.New(rand.NewPCG(seed, 42))
			n := 1 + r.IntN(50000)
			h := NewHistogram()
			ref := make([]time.Duration, n)
			var sum float64
			for i := range ref {
				d := dist.draw(r)
				d = min(max(d, time.Microsecond), time.Hour) // the stated range
				ref[i] = d
				sum += float64(d)
				h.Record(d)
			}
			slices.Sort(ref)
			s := h.Snapshot()
			if s.Count() != int64(n) {
				t.Fatalf("%s seed %d: Count = %d, want %d", dist.name, seed, s.Count(), n)
			}
			if s.Min() != ref[0] || s.Max() != ref[n-1] {
				t.Fatalf("%s seed %d: Min, Max = %v, %v, want %v, %v", dist.name, seed, s.Min(), s.Max(), ref[0], ref[n-1])
			}
			for _, q := range quantiles {
				rank := int(math.Ceil(q * float64(n)))
				want := ref[max(rank, 1)-1]
				checkClose(t, dist.name, q, s.Quantile(q), want)
			}
			checkClose(t, dist.name, -1, s.Mean(), time.Duration(sum/float64(n)))
		}
	}
}

// checkClose fails unless got is within RelativeError of want (q -1 stands for the mean).
func checkClose(t *testing.T, dist string, q float64, got, want time.Duration) {
	t.Helper()
	// One extra nanosecond for the rounding of a midpoint to an integer.
	if diff := math.Abs(float64(got - want)); diff > float64(want)*RelativeError+1 {
		t.Errorf("%s: q=%v got %v, want %v (error %.3f%%, bound %.3f%%)",
			dist, q, got, want, 100*diff/float64(want), 100*RelativeError)
	}
}

func TestOutOfRange(t *testing.T) {
	h := NewHistogram()
	for _, d := range []time.Duration{-5, 0, 10, 999} {
		h.Record(d)
	}
	h.Record(3 * time.Hour)
	s := h.Snapshot()
	if s.Count() != 5 {
		t.Fatalf("Count = %d, want 5", s.Count())
	}
	if s.Min() != 0 || s.Max() != 3*time.Hour {
		t.Fatalf("Min, Max = %v, %v, want 0, 3h", s.Min(), s.Max())
	}
	if got := s.Quantile(1); got != 3*time.Hour {
		t.Fatalf("Quantile(1) = %v, want 3h exactly", got)
	}
	// Values below the range share the lowest bucket, reported as about 1µs.
	if got := s.Quantile(0.5); float64(got) > float64(time.Microsecond)*(1+RelativeError) {
		t.Fatalf("median of sub-µs values = %v, want about 1µs", got)
	}
}

func TestEmptyAndEdges(t *testing.T) {
	var h Histogram // the zero value works
	s := h.Snapshot()
	for _, q := range []float64{0, 0.5, 1, math.NaN()} {
		if s.Quantile(q) != 0 {
			t.Fatalf("empty Quantile(%v) = %v", q, s.Quantile(q))
		}
	}
	if s.Count() != 0 || s.Mean() != 0 || s.Min() != 0 || s.Max() != 0 {
		t.Fatalf("empty snapshot = %v", s)
	}
	if got, want := s.String(), "n=0 p50=0s p90=0s p99=0s p99.9=0s max=0s mean=0s"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	h.Record(1234567 * time.Nanosecond)
	s = h.Snapshot()
	// One value: every quantile is that value exactly, thanks to the clamp to Min and Max.
	for _, q := range []float64{-1, 0, 0.3, 0.999, 1, 2} {
		if got := s.Quantile(q); got != 1234567 {
			t.Fatalf("Quantile(%v) = %v, want 1.234567ms", q, got)
		}
	}
	if got, want := s.String(), "n=1 p50=1.23ms p90=1.23ms p99=1.23ms p99.9=1.23ms max=1.23ms mean=1.23ms"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	h.Reset()
	if s := h.Snapshot(); s.Count() != 0 || s.Max() != 0 {
		t.Fatalf("after Reset: %v", s)
	}
}

func TestMergeEqualsRecordingIntoOne(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for i := 0; i < 20000; i++ {
		d := distributions[i%len(distributions)].draw(r)
		all.Record(d)
		if r.IntN(3) == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	got, want := a.Snapshot(), all.Snapshot()
	if !slices.Equal(got.buckets, want.buckets) || got.min != want.min || got.max != want.max || got.count != want.count {
		t.Fatalf("merged %v, recorded into one %v", got, want)
	}
	// Merging an empty histogram changes nothing, and neither does merging into itself
	// from a copy of nothing.
	a.Merge(NewHistogram())
	if s := a.Snapshot(); s.String() != want.String() || s.Min() != want.Min() {
		t.Fatalf("after merging empty: %v, want %v", s, want)
	}
}

func TestConcurrentRecordCountsExactly(t *testing.T) {
	const goroutines, each = 8, 5000
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Goroutine g records g+1 µs ... so every goroutine hits shared buckets too.
				h.Record(time.Duration(g+1+i%3) * time.Microsecond)
			}
		}()
		// Snapshots while recording must not fail or see more than was recorded.
		if s := h.Snapshot(); s.Count() > goroutines*each || s.Min() > s.Max() {
			t.Fatalf("snapshot during recording: %v min %v", s, s.Min())
		}
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count() != goroutines*each {
		t.Fatalf("Count = %d, want %d", s.Count(), goroutines*each)
	}
	if s.Min() != time.Microsecond || s.Max() != (goroutines+2)*time.Microsecond {
		t.Fatalf("Min, Max = %v, %v", s.Min(), s.Max())
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram()
	if n := testing.AllocsPerRun(1000, func() { h.Record(123 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func TestStringFormat(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	// The exact figures are 500ms, 900ms, 990ms, 999ms, 1s and 500.5ms; each printed one
	// must be within the error bound of them (and rounded to three digits).
	s := h.Snapshot().String()
	fields := strings.Fields(s)
	if len(fields) != 7 || fields[0] != "n=1000" {
		t.Fatalf("String() = %q", s)
	}
	want := []time.Duration{500e6, 900e6, 990e6, 999e6, 1e9, 500.5e6}
	for i, f := range fields[1:] {
		_, v, _ := strings.Cut(f, "=")
		got, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("String() = %q: %v", s, err)
		}
		// Three significant digits add up to 0.5% of rounding to the histogram's error.
		if diff := math.Abs(float64(got - want[i])); diff > float64(want[i])*(RelativeError+0.005) {
			t.Errorf("String() = %q: %s, want about %v", s, f, want[i])
		}
	}
}

func FuzzRecord(f *testing.F) {
	for _, v := range []int64{-1, 0, 999, 1000, 1001, 1 << 40, math.MaxInt64} {
		f.Add(v, v/3)
	}
	f.Fuzz(func(t *testing.T, a, b int64) {
		h := NewHistogram()
		h.Record(time.Duration(a))
		h.Record(time.Duration(b))
		s := h.Snapshot()
		lo, hi := time.Duration(max(min(a, b), 0)), time.Duration(max(a, b, 0))
		if s.Count() != 2 || s.Min() != lo || s.Max() != hi {
			t.Fatalf("Count, Min, Max = %d, %v, %v; want 2, %v, %v", s.Count(), s.Min(), s.Max(), lo, hi)
		}
		for _, q := range []float64{0, 0.5, 0.9, 1} {
			if v := s.Quantile(q); v < lo || v > hi {
				t.Fatalf("Quantile(%v) = %v outside [%v, %v]", q, v, lo, hi)
			}
		}
	})
}
