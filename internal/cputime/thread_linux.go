package cputime

import (
	"syscall"
	"time"
)

// Thread returns the CPU time the calling OS thread has used, user and system. The caller
// must hold its thread (runtime.LockOSThread) between two readings.
func Thread() (d time.Duration, ok bool) {
	return rusage(syscall.RUSAGE_THREAD)
}
