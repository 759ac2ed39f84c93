//go:build !linux

package lab

import "time"

// threadCPU reports that the thread's CPU time is not known on this system.
func threadCPU() (time.Duration, bool) { return 0, false }
