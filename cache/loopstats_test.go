//go:build loopstats && linux

package cache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// In a build with -tags loopstats every pass of a loop is counted with the
// requests it served, and the loop's figures are readable once it has ended:
// go test -tags loopstats -run TestLoopStats ./cache/
func TestLoopStatsCountsPasses(t *testing.T) {
	srv, addr := startServer(t, Config{EventLoops: 1})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	const n = 200
	for i := range n {
		conn := a
		if i%2 == 1 {
			conn = b
		}
		if got := conn.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING: %q", got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := srv.loops[0].st
	// Each PING waits for its reply, so each is a pass of its own or shares one
	// with the other client's; the two connections' EOFs at Shutdown add passes.
	if st.requests < n || st.passes < n/2 || st.passes > st.requests {
		t.Fatalf("passes %d, requests %d: want at least %d requests in %d to %d passes", st.passes, st.requests, n, n/2, st.requests)
	}
	var sb strings.Builder
	if err := st.write(&sb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loop passes", "pass us, clean", "requests by pass us"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("stats lack %q:\n%s", want, sb.String())
		}
	}
}
