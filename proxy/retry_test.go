package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoffBoundsAndJitter(t *testing.T) {
	p := &pool{cfg: PoolConfig{RetryBackoff: 20 * time.Millisecond, RetryBackoffMax: 100 * time.Millisecond}}
	for _, tc := range []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 10 * time.Millisecond, 20 * time.Millisecond},
		{2, 20 * time.Millisecond, 40 * time.Millisecond},
		{3, 40 * time.Millisecond, 80 * time.Millisecond},
		{4, 50 * time.Millisecond, 100 * time.Millisecond}, // capped
		{60, 50 * time.Millisecond, 100 * time.Millisecond},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.backoff(tc.retry)
			if d < tc.min || d > tc.max {
				t.Fatalf("retry %d: waited %v, want %v to %v", tc.retry, d, tc.min, tc.max)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("retry %d: only %d distinct waits in 200: not jittered", tc.retry, len(seen))
		}
	}
	p.cfg.RetryBackoff = -1
	if d := p.backoff(1); d != 0 {
		t.Errorf("backoff off: %v", d)
	}
}

func TestRetryBackoffConfig(t *testing.T) {
	const head = "pools:\n  - name: a\n    hosts: [{addr: '127.0.0.1:1'}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "    retry_backoff: -2s\n", "pools[0].retry_backoff: -2s is out of range"},
		{head + "    retry_backoff: 11s\n", "pools[0].retry_backoff: 11s is out of range"},
		{head + "    retry_backoff: 1s\n    retry_backoff_max: 500ms\n", "pools[0].retry_backoff_max: 500ms is out of range; allowed retry_backoff (1s) to 30s"},
		{head + "routes:\n  - {pool: a, timeout: -1s}\n", "routes[0].timeout: -1s is negative"},
	} {
		if _, err := ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	cfg, err := ParseConfig([]byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pools[0]; p.RetryBackoff != 25*time.Millisecond || p.RetryBackoffMax != 250*time.Millisecond {
		t.Errorf("defaults %v %v", p.RetryBackoff, p.RetryBackoffMax)
	}
}

// stallHost accepts connections and, when answer is false, reads the request and never
// answers; when true it closes each connection at once after reading. It records when
// each connection arrived.
type stallHost struct {
	addr  string
	mu    sync.Mutex
	times []time.Time
}

func newStallHost(t *testing.T, closeAtOnce bool) *stallHost {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &stallHost{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.times = append(h.times, time.Now())
			h.mu.Unlock()
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				if closeAtOnce {
					return
				}
				io.Copy(io.Discard, c) // until the proxy gives up and closes
			}()
		}
	}()
	return h
}

func (h *stallHost) arrivals() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.times...)
}

// TestRetryWaits: a host that drops the request, then a good host; the retry to the good
// host goes no sooner than half the backoff after the first attempt.
func TestRetryWaits(t *testing.T) {
	checkLeaks(t)
	bad := newStallHost(t, true)
	var goodAt atomic.Int64
	good := backend(t, func(w http.ResponseWriter, r *http.Request) {
		goodAt.CompareAndSwap(0, time.Now().UnixNano())
		io.WriteString(w, "good")
	})
	cfg := Config{Pools: []PoolConfig{{Name: "p", Policy: "round_robin",
		Hosts:        []HostConfig{{Addr: bad.addr}, {Addr: good}},
		RetryBackoff: 200 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond, EjectAfter: -1}}}
	_, addr := start(t, cfg)
	c := client(t)
	// Round robin sends one of the first two requests to the bad host first.
	for i := 0; i < 2 && len(bad.arrivals()) == 0; i++ {
		goodAt.Store(0)
		if code, body, _ := get(t, c, "http://"+addr+"/"); code != 200 || body != "good" {
			t.Fatalf("%d %q", code, body)
		}
	}
	arr := bad.arrivals()
	if len(arr) != 1 {
		t.Fatalf("the bad host saw %d connections, want 1", len(arr))
	}
	wait := time.Unix(0, goodAt.Load()).Sub(arr[0])
	if wait < 100*time.Millisecond {
		t.Errorf("the retry went %v after the failed attempt; want at least 100ms (half of retry_backoff)", wait)
	}
}

// TestRouteTimeoutCutsRetries: hosts that never answer, a read timeout per attempt of
// 300ms and two retries would hold a request about a second; the route's timeout of
// 400ms answers 504 then, and no third attempt is made.
func TestRouteTimeoutCutsRetries(t *testing.T) {
	checkLeaks(t)
	hosts := []*stallHost{newStallHost(t, false), newStallHost(t, false), newStallHost(t, false)}
	pc := PoolConfig{Name: "p", ReadTimeout: 300 * time.Millisecond, Retries: 2, EjectAfter: -1,
		RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 10 * time.Millisecond}
	for _, h := range hosts {
		pc.Hosts = append(pc.Hosts, HostConfig{Addr: h.addr})
	}
	cfg := Config{Pools: []PoolConfig{pc}, Routes: []Route{
		{Path: "/bounded", Pool: "p", Timeout: 400 * time.Millisecond},
		{Pool: "p"},
	}}
	_, addr := start(t, cfg)
	c := client(t)
	attempts := func() int {
		n := 0
		for _, h := range hosts {
			n += len(h.arrivals())
		}
		return n
	}

	begin := time.Now()
	code, body, _ := get(t, c, "http://"+addr+"/bounded")
	took := time.Since(begin)
	if code != 504 || body != "upstream timed out\n" {
		t.Errorf("bounded: %d %q, want 504", code, body)
	}
	if took < 400*time.Millisecond || took > 850*time.Millisecond {
		t.Errorf("bounded: answered after %v; want about 400ms", took)
	}
	if n := attempts(); n != 2 {
		t.Errorf("bounded: %d attempts; want 2 (the third would start after the deadline)", n)
	}

	// Without the route timeout the same request makes all three attempts.
	begin = time.Now()
	code, _, _ = get(t, c, "http://"+addr+"/unbounded")
	if took := time.Since(begin); code != 504 || took < 900*time.Millisecond {
		t.Errorf("unbounded: %d after %v; want 504 after three attempts of 300ms", code, took)
	}
	if n := attempts(); n != 5 {
		t.Errorf("unbounded: %d attempts in all; want 2+3", n)
	}
}

// TestRouteTimeoutSkipsLongBackoff: a backoff that would end past the route's deadline is
// not waited out: 504 at once, and the second host never sees the request.
func TestRouteTimeoutSkipsLongBackoff(t *testing.T) {
	checkLeaks(t)
	bad := newStallHost(t, true)
	var reached atomic.Int32
	good := backend(t, func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })
	cfg := Config{Pools: []PoolConfig{{Name: "p", Policy: "round_robin", EjectAfter: -1,
		Hosts:        []HostConfig{{Addr: bad.addr}, {Addr: good}},
		RetryBackoff: 2 * time.Second, RetryBackoffMax: 2 * time.Second}},
		Routes: []Route{{Pool: "p", Timeout: 500 * time.Millisecond}}}
	_, addr := start(t, cfg)
	c := client(t)
	for i := 0; i < 2 && len(bad.arrivals()) == 0; i++ {
		before := reached.Load()
		begin := time.Now()
		code, _, _ := get(t, c, "http://"+addr+"/")
		if len(bad.arrivals()) == 0 {
			continue // went to the good host first
		}
		if took := time.Since(begin); code != 504 || took > 400*time.Millisecond {
			t.Errorf("%d after %v; want 504 at once", code, took)
		}
		if reached.Load() != before {
			t.Error("the request reached the second host after the deadline had cut its backoff")
		}
	}
	if len(bad.arrivals()) != 1 {
		t.Errorf("the bad host saw %d connections; want 1", len(bad.arrivals()))
	}
}

// TestRouteTimeoutEndsWithTheHead: the timeout covers the wait for the response head; a
// body that streams for longer is not cut.
func TestRouteTimeoutEndsWithTheHead(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		time.Sleep(400 * time.Millisecond) // the upstream's pace, not the test waiting
		io.WriteString(w, "second")
	})
	cfg := onePool(up)
	cfg.Routes = []Route{{Pool: "app", Timeout: 200 * time.Millisecond}}
	_, addr := start(t, cfg)
	if code, body, _ := get(t, client(t), "http://"+addr+"/"); code != 200 || body != "first second" {
		t.Errorf("%d %q", code, body)
	}
}

// TestNoRetryWhenEveryHostTried: with two hosts down, a request tries both, spends one
// retry and one backoff, and fails at once instead of waiting for a third host that does
// not exist.
func TestNoRetryWhenEveryHostTried(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(deadAddr(t), deadAddr(t))
	cfg.Pools[0].Retries = 5
	cfg.Pools[0].EjectAfter = -1
	cfg.Pools[0].RetryBackoff, cfg.Pools[0].RetryBackoffMax = 100*time.Millisecond, 400*time.Millisecond
	s, addr := start(t, cfg)
	begin := time.Now()
	code, _, _ := get(t, client(t), "http://"+addr+"/")
	took := time.Since(begin)
	if code != 502 {
		t.Errorf("status %d, want 502", code)
	}
	if n := s.table.Load().pools[0].retries.Load(); n != 1 {
		t.Errorf("%d retries spent, want 1", n)
	}
	if took < 50*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("took %v; want one backoff of 50-100ms", took)
	}
}
