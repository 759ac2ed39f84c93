//go:build !linux

package cputime

import "time"

// Thread reports that a thread's CPU time is not known on this system.
func Thread() (d time.Duration, ok bool) { return 0, false }
