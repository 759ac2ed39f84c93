package cputime

import (
	"runtime"
	"testing"
	"time"
)

// spinFor burns CPU on the calling goroutine until read says want more has been used, or
// until a generous wall-clock limit for a loaded machine; it reports whether read grew.
func spinFor(read func() (time.Duration, bool), want time.Duration) bool {
	start, _ := read()
	x := 1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 100000; i++ {
			x = x*31 + i
		}
		if now, _ := read(); now-start >= want {
			runtime.KeepAlive(x)
			return true
		}
	}
	return false
}

func TestProcessGrowsWithWork(t *testing.T) {
	if _, ok := Process(); !ok {
		t.Skip("process CPU time is not known on " + runtime.GOOS)
	}
	if !spinFor(Process, 20*time.Millisecond) {
		t.Fatal("process CPU time did not grow by 20ms in 10s of spinning")
	}
}

func TestThreadCountsWorkNotSleep(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, ok := Thread()
	if !ok {
		t.Skip("thread CPU time is not known on " + runtime.GOOS)
	}
	time.Sleep(50 * time.Millisecond)
	if slept, _ := Thread(); slept-before > 20*time.Millisecond {
		t.Errorf("thread CPU grew by %v while the thread slept 50ms", slept-before)
	}
	if !spinFor(Thread, 20*time.Millisecond) {
		t.Fatal("thread CPU time did not grow by 20ms in 10s of spinning")
	}
}
