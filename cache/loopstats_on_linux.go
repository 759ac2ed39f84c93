//go:build loopstats

package cache

import (
	"fmt"
	"io"
	"syscall"
	"time"
	"unsafe"
)

// loopStats, in a build with -tags loopstats, records what each pass of a
// loop met: how many sockets epoll_wait returned, how long the pass took, and
// whether the loop's thread was switched out during it (getrusage
// RUSAGE_THREAD before and after: a voluntary switch is the thread sleeping,
// the yield's hand-off; an involuntary one is the kernel preempting it while
// the pass's clients wait), and how long each runtime.Gosched of yield kept
// the loop away. The loop writes them to standard error when it ends.
// bench/cache/passes.sh runs it under redis-benchmark. Durations are in
// log2 buckets of microseconds.
type loopStats struct {
	t0, t1   time.Time
	ru0, ru1 syscall.Rusage
	events   int // returned by the last epoll_wait

	passes, requests int
	slept            int     // epoll_waits that returned events after the thread slept
	perPass          [8]int  // passes by events returned: 1, 2-3, 4-7, ... 64+
	clean, inv, vol  [24]int // pass durations: not switched out, preempted, slept
	reqClean, reqInv int     // requests served in clean and preempted passes
	reqVol           int
	reqBy            [24]int // requests by their pass's duration
	yields           [24]int // how long each Gosched kept the loop away
	worst            []string
}

func newLoopStats() *loopStats { return &loopStats{} }

func threadRusage(ru *syscall.Rusage) {
	const rusageThread = 1 // RUSAGE_THREAD
	syscall.RawSyscall(syscall.SYS_GETRUSAGE, rusageThread, uintptr(unsafe.Pointer(ru)), 0)
}

// usBucket is d's log2 bucket: 0 for under 1 µs, i for [2^(i-1), 2^i) µs.
func usBucket(d time.Duration) int {
	b := 0
	for us := d.Microseconds(); us > 0 && b < 23; us >>= 1 {
		b++
	}
	return b
}

func (s *loopStats) beforeWait() {
	s.t0 = time.Now()
	threadRusage(&s.ru0)
}

func (s *loopStats) afterWait(n int) {
	s.t1 = time.Now()
	threadRusage(&s.ru1)
	s.events = n
	if n > 0 && s.ru1.Nvcsw != s.ru0.Nvcsw {
		s.slept++
	}
}

func (s *loopStats) yieldStart() int64 { return time.Now().UnixNano() }

func (s *loopStats) yieldEnd(t0 int64) {
	s.yields[usBucket(time.Duration(time.Now().UnixNano()-t0))]++
}

func (s *loopStats) endPass() {
	n := s.events
	if n <= 0 {
		return
	}
	var ru syscall.Rusage
	threadRusage(&ru)
	d := time.Since(s.t1)
	b := usBucket(d)
	s.passes++
	s.requests += n
	s.perPass[min(usBucket(time.Duration(n)*time.Microsecond), len(s.perPass)-1)]++
	s.reqBy[b] += n
	vol, inv := ru.Nvcsw-s.ru1.Nvcsw, ru.Nivcsw-s.ru1.Nivcsw
	switch {
	case vol > 0:
		s.vol[b]++
		s.reqVol += n
	case inv > 0:
		s.inv[b]++
		s.reqInv += n
	default:
		s.clean[b]++
		s.reqClean += n
	}
	if d > 2*time.Millisecond && len(s.worst) < 20 {
		s.worst = append(s.worst, fmt.Sprintf("%v: %d events, %d voluntary and %d involuntary switches", d.Round(time.Microsecond), n, vol, inv))
	}
}

func (s *loopStats) write(w io.Writer) error {
	sum := func(h []int) (t int) {
		for _, v := range h {
			t += v
		}
		return t
	}
	fmt.Fprintf(w, "loop passes %d, requests %d (%.2f a pass), epoll_waits that slept %d\n",
		s.passes, s.requests, float64(s.requests)/float64(max(s.passes, 1)), s.slept)
	fmt.Fprintf(w, "passes not switched out %d (requests %d), preempted %d (requests %d), slept %d (requests %d)\n",
		sum(s.clean[:]), s.reqClean, sum(s.inv[:]), s.reqInv, sum(s.vol[:]), s.reqVol)
	row := func(name string, h []int) {
		fmt.Fprintf(w, "%-22s", name)
		for i, v := range h {
			if v > 0 {
				fmt.Fprintf(w, " <%d:%d", 1<<i, v)
			}
		}
		fmt.Fprintln(w)
	}
	row("events a pass (<n)", s.perPass[:])
	row("pass us, clean", s.clean[:])
	row("pass us, preempted", s.inv[:])
	row("pass us, slept", s.vol[:])
	row("requests by pass us", s.reqBy[:])
	row("yield us", s.yields[:])
	for _, l := range s.worst {
		fmt.Fprintln(w, "long pass", l)
	}
	_, err := fmt.Fprintln(w)
	return err
}
