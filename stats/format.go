package stats

import (
	"fmt"
	"time"
)

// String summarises the snapshot on one line:
// "n=… p50=… p90=… p99=… p99.9=… max=… mean=…", durations to three significant digits.
func (s Snapshot) String() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v p99.9=%v max=%v mean=%v",
		s.count,
		round3(s.Quantile(0.50)), round3(s.Quantile(0.90)), round3(s.Quantile(0.99)),
		round3(s.Quantile(0.999)), round3(s.Max()), round3(s.Mean()))
}

// round3 rounds d to three significant digits, so that 1.234567ms prints as 1.23ms: the
// histogram is not more precise than that, and the reader does not want more.
func round3(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit)
}
