package proxy

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package's test run when goroutines are left over after every test
// has finished: a net for tests that do not call checkLeaks themselves. Goroutines that
// the runtime or the testing package keep for themselves are not counted.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !fuzzing() {
		if left := leftoverGoroutines(5 * time.Second); left != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n%s\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// fuzzing reports whether the run is a fuzzing one, whose workers keep goroutines of the
// fuzzing machinery until they are stopped.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// leftoverGoroutines waits up to wait for every goroutine but this one and the runtime's
// own to end, and returns the stacks of those that did not.
func leftoverGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		var left []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 || strings.TrimSpace(g) == "" { // the first is this goroutine
				continue
			}
			if strings.Contains(g, "os/signal.") || strings.Contains(g, "runtime.ensureSigM") ||
				strings.Contains(g, "testing.(*M).") || strings.Contains(g, "runtime/pprof.") {
				continue
			}
			left = append(left, g)
		}
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
