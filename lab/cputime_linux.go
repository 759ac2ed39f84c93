package lab

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used, user and system. The caller
// must hold its thread (runtime.LockOSThread) between two readings. Unlike wall time, it
// does not grow while the thread waits for a core that other processes hold.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
