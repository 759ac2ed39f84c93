package admin

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The runtime records blocking and lock contention only while its sampling is on, and
// sampling costs every blocking event something. So it is off, and a request for the
// block or mutex profile turns it on for the seconds it asks for (default
// contentionSeconds), answers with what was recorded in that window, and turns it off.
const (
	contentionSeconds = 10
	maxContention     = 5 * time.Minute

	// blockRate samples, on average, one blocking event per microsecond spent blocked.
	blockRate = 1000
	// mutexFraction samples one contended lock hand-over in ten.
	mutexFraction = 10
)

// contention serves the "block" and "mutex" profiles. The rates are the process's, so
// one window runs at a time: a second request waits for the first.
type contention struct {
	mu sync.Mutex
}

func (c *contention) handler(profile string, enable func(on bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seconds := contentionSeconds
		if s := r.URL.Query().Get("seconds"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 || time.Duration(n)*time.Second > maxContention {
				http.Error(w, "seconds must be a whole number from 1 to 300", http.StatusBadRequest)
				return
			}
			seconds = n
		}
		q := r.URL.Query()
		q.Set("seconds", strconv.Itoa(seconds))
		r.URL.RawQuery = q.Encode()

		c.mu.Lock()
		defer c.mu.Unlock()
		enable(true)
		defer enable(false)
		pprof.Handler(profile).ServeHTTP(w, r)
	}
}

func enableBlock(on bool) {
	if on {
		runtime.SetBlockProfileRate(blockRate)
	} else {
		runtime.SetBlockProfileRate(0)
	}
}

func enableMutex(on bool) {
	if on {
		runtime.SetMutexProfileFraction(mutexFraction)
	} else {
		runtime.SetMutexProfileFraction(0)
	}
}
