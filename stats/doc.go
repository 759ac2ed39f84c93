// Package stats records latencies for every Gantry component and experiment: a histogram
// that many goroutines record into at once, cheaply, and that reports count, mean, min, max
// and any percentile with a bounded relative error.
//
// # Bucket layout
//
// A Histogram is HDR-style: log-linear buckets over nanoseconds. Values are split by their
// power of two (an octave [2^e, 2^(e+1))), and each octave is cut into 2^p = 128 buckets of
// equal width 2^(e-p):
//
//	octave e:  2^e                                              2^(e+1)
//	           |  w  |  w  |  w  |   ...   128 buckets   ...  |  w  |   w = 2^(e-7)
//	octave e+1:2^(e+1)                                                     2^(e+2)
//	           |    2w    |    2w    |      ...   128 buckets   ...   |    2w    |
//
// The index of a value v with its top bit at position e is (e-p)·2^p + (v >> (e-p)): the
// shift keeps the top p+1 bits of v, so one bits.Len64, a shift and an add find the bucket,
// and one atomic add counts it. Buckets start at 1µs (lower values count in the lowest
// bucket) and end with the octave that holds 1 hour, [2^41, 2^42) ns, so the top bucket ends
// at about 73 minutes (higher values count in it). That is 4102 counters, 32 KiB.
//
// # Relative error
//
// A bucket in octave e starts at lo ≥ 2^e and is w = 2^(e-p) wide, so w/lo ≤ 2^-p. Reporting
// its midpoint is off by at most w/2 from any value in it, which is at most 2^-(p+1) = 1/256
// ≈ 0.39% of that value. Counts are exact, so a percentile falls in the same bucket as the
// true sample of that rank, and Quantile is within 0.39% of it (then clamped to the exact
// Min and Max); Mean, computed from bucket midpoints, is within the same bound for values in
// range. The stated bound is 1%, with room to spare.
//
// Min and Max are kept exactly, beside the buckets, with compare-and-swap that runs only
// when a new extreme arrives.
package stats
