// Package cputime reads how much CPU time this process, or one of its threads, has used.
//
// On a shared machine wall time grows with every other process that holds the cores; CPU
// time counts only what this process ran. Benchmarks report it next to ns/op (Report), and
// the lab's experiments use it to tell a slow operation from a descheduled one (Thread).
package cputime

import "testing"

// Report adds a cpu-ns/op metric to a benchmark: the process's CPU time, user and system,
// per operation. Call it after setup and run the returned function when the loop is done:
//
//	defer cputime.Report(b)()
//
// It reports nothing where the process's CPU time is not known.
func Report(b *testing.B) (stop func()) {
	start, ok := Process()
	return func() {
		end, ok2 := Process()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
