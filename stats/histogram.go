package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits    = 7            // p: each octave holds 2^p buckets
	subCount   = 1 << subBits // buckets per octave
	lowest     = 1000         // ns: 1µs, the smallest value resolved
	topOctave  = 41           // 2^41 ns ≈ 36.6 min ≤ 1 h < 2^42 ns ≈ 73.3 min
	highest    = 1<<(topOctave+1) - 1
	baseIndex  = 506 // rawIndex(lowest); checked in tests
	numBuckets = (topOctave-subBits)*subCount + 2*subCount - baseIndex
)

// RelativeError is the bound on the relative error of Quantile and Mean: half a bucket's
// width over its lower edge (see the package doc).
const RelativeError = 1.0 / (2 * subCount)

// A Histogram counts durations in log-linear buckets. Record is safe for concurrent use and
// takes no lock: each bucket is its own atomic counter. The zero value is ready to use.
type Histogram struct {
	counts [numBuckets]atomic.Int64
	max    atomic.Uint64 // largest value recorded, in ns
	notMin atomic.Uint64 // ^smallest value recorded, so that zero means "none yet"
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return new(Histogram) }

// rawIndex returns the bucket of v counted from zero nanoseconds.
func rawIndex(v uint64) int {
	e := bits.Len64(v) - 1
	if e <= subBits {
		return int(v)
	}
	shift := e - subBits
	return shift*subCount + int(v>>shift)
}

// bucketOf returns the bucket index of v nanoseconds, clamped to the range.
func bucketOf(v uint64) int {
	v = min(max(v, lowest), highest)
	return rawIndex(v) - baseIndex
}

// bounds returns the first value of bucket i and the bucket's width, in ns.
func bounds(i int) (lo, width uint64) {
	r := i + baseIndex
	if r < 2*subCount {
		return uint64(r), 1
	}
	shift := r/subCount - 1
	sub := uint64(r - shift*subCount) // in [subCount, 2·subCount)
	return sub << shift, 1 << shift
}

// Record counts one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	// Extremes change rarely once a few values are in, so the common case is two loads.
	if v > h.max.Load() {
		storeMax(&h.max, v)
	}
	if ^v > h.notMin.Load() {
		storeMax(&h.notMin, ^v)
	}
}

// storeMax raises a to v unless another goroutine raised it further first.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Merge adds o's counts into h. o may be recorded into meanwhile; what it records during
// the merge may or may not be included.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n != 0 {
			h.counts[i].Add(n)
		}
	}
	if m := o.max.Load(); m > h.max.Load() {
		storeMax(&h.max, m)
	}
	if m := o.notMin.Load(); m > h.notMin.Load() {
		storeMax(&h.notMin, m)
	}
}

// Reset empties h. Values recorded while it runs may be kept in part.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.max.Store(0)
	h.notMin.Store(0)
}

// Snapshot copies h for reporting. It does not stop recording: a value recorded during the
// copy may be counted without yet having moved Min or Max, which Snapshot tolerates.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		if n := h.counts[i].Load(); n != 0 {
			s.buckets = append(s.buckets, bucket{index: int32(i), count: n})
			s.count += n
		}
	}
	s.max = h.max.Load()
	s.min = ^h.notMin.Load()
	if s.count == 0 {
		s.min, s.max = 0, 0
	} else if s.min > s.max {
		// A racing Record counted a bucket but has not set the extremes yet: fall back
		// to the buckets' edges.
		s.min, _ = bounds(int(s.buckets[0].index))
		lo, w := bounds(int(s.buckets[len(s.buckets)-1].index))
		s.max = lo + w - 1
	}
	return s
}

// A Snapshot is a copy of a Histogram's counts at one moment. Its zero value is empty.
type Snapshot struct {
	buckets  []bucket // the non-empty buckets in ascending order
	count    int64
	min, max uint64 // exact, in ns
}

type bucket struct {
	index int32
	count int64
}

// Count returns the number of values recorded.
func (s Snapshot) Count() int64 { return s.count }

// Min returns the smallest value recorded, exactly; 0 if none.
func (s Snapshot) Min() time.Duration { return toDuration(s.min) }

// Max returns the largest value recorded, exactly; 0 if none.
func (s Snapshot) Max() time.Duration { return toDuration(s.max) }

// Quantile returns the value below or at which a fraction q of the values lie (the
// nearest-rank definition: the value of rank ⌈q·n⌉), within RelativeError. q is clamped to
// [0, 1]; Quantile(0) is Min and Quantile(1) is Max. It returns 0 for an empty snapshot.
func (s Snapshot) Quantile(q float64) time.Duration {
	if s.count == 0 {
		return 0
	}
	if !(q > 0) { // also catches NaN
		return s.Min()
	}
	if q >= 1 {
		return s.Max()
	}
	rank := int64(math.Ceil(q * float64(s.count)))
	rank = min(max(rank, 1), s.count)
	var seen int64
	for _, b := range s.buckets {
		seen += b.count
		if seen >= rank {
			return toDuration(s.clamp(midpoint(int(b.index))))
		}
	}
	return s.Max()
}

// Mean returns the average of the values recorded, computed from bucket midpoints, so
// within RelativeError for values in range; 0 if none.
func (s Snapshot) Mean() time.Duration {
	if s.count == 0 {
		return 0
	}
	var sum float64
	for _, b := range s.buckets {
		sum += float64(s.clamp(midpoint(int(b.index)))) * float64(b.count)
	}
	return toDuration(uint64(sum / float64(s.count)))
}

// clamp keeps a bucket's representative within the exact extremes: the lowest and highest
// buckets also hold out-of-range values, and a bucket holding one value is then exact.
func (s Snapshot) clamp(v uint64) uint64 { return min(max(v, s.min), s.max) }

func midpoint(i int) uint64 {
	lo, w := bounds(i)
	return lo + w/2
}

func toDuration(ns uint64) time.Duration {
	return time.Duration(min(ns, math.MaxInt64))
}
