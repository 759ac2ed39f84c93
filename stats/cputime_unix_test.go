//go:build unix

package stats

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU adds a cpu-ns/op metric to a benchmark: the process's CPU time (user and
// system) per operation. On a shared machine ns/op is wall time and grows with every other
// process that takes the cores; CPU time counts only what this process ran.
func reportCPU(b *testing.B) (stop func()) {
	start := cpuTime()
	return func() {
		if n := b.N; n > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
