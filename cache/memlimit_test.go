package cache

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CONFIG SET maxmemory moves the runtime's memory limit with it; maxmemory 0 and
// Shutdown give back the limit the process had. The limits are large (gigabytes)
// so that setting them in the test process changes nothing for other tests.
func TestMemoryLimitConfigSet(t *testing.T) {
	base := debug.SetMemoryLimit(-1)
	srv, addr := startServer(t, Config{GoMemoryLimit: true, MaxMemory: 1 << 30})
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(1<<30) {
		t.Fatalf("after New with maxmemory 1gb: limit %d, want %d", got, memoryLimit(1<<30))
	}
	r := dialRaw(t, addr)
	for _, step := range []struct {
		value string
		want  int64
	}{
		{"2gb", memoryLimit(2 << 30)},
		{"0", base},
		{"3000000000", memoryLimit(3e9)},
	} {
		if got := r.do("CONFIG", "SET", "maxmemory", step.value); got != "+OK\r\n" {
			t.Fatalf("CONFIG SET maxmemory %s = %q", step.value, got)
		}
		if got := debug.SetMemoryLimit(-1); got != step.want {
			t.Fatalf("after CONFIG SET maxmemory %s: limit %d, want %d", step.value, got, step.want)
		}
	}
	// A refused CONFIG SET changes nothing.
	r.do("CONFIG", "SET", "maxmemory", "1gb", "timeout", "x")
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(3e9) {
		t.Fatalf("after a refused CONFIG SET: limit %d, want %d", got, memoryLimit(3e9))
	}
	shutdown(t, srv)
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("after Shutdown: limit %d, want the process's %d", got, base)
	}

	// Without the option the runtime's limit is never touched.
	_, addr2 := startServer(t, Config{MaxMemory: 1 << 30})
	dialRaw(t, addr2).do("CONFIG", "SET", "maxmemory", "2gb")
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("without GoMemoryLimit: limit %d, want the process's %d", got, base)
	}
}

// memChurnMax is the maxmemory of TestMemoryLimitBoundsRSS, and memChurnWrites
// the bytes of values it writes.
const memChurnMax, memChurnWrites = 64 << 20, 3 * memChurnMax

// With GoMemoryLimit, a server under churn (overwrites, deletes and evictions at
// maxmemory with allkeys-lru) keeps the memory the Go runtime holds within
// memoryLimit(maxmemory) and its RSS within that plus the binary's own pages.
// Without it the heap grows to about twice the keys between collections, past
// that bound. The server runs in a child process, as the limit is process-wide;
// GANTRY_MEMLIMIT_CONTROL=1 runs the same load without the limit as well and
// reports what it reaches.
func TestMemoryLimitBoundsRSS(t *testing.T) {
	if os.Getenv("GANTRY_MEMLIMIT_CHILD") != "" {
		return
	}
	on := runMemChurn(t, true)
	t.Logf("with the limit: peak Go memory %d MB, RSS %d MB, VmHWM %d MB, live heap %d MB (maxmemory %d MB, limit %d MB)",
		on.goMem>>20, on.rss>>20, on.hwm>>20, on.live>>20, memChurnMax>>20, memoryLimit(memChurnMax)>>20)
	if os.Getenv("GANTRY_MEMLIMIT_CONTROL") == "1" {
		off := runMemChurn(t, false)
		t.Logf("without the limit: peak Go memory %d MB, RSS %d MB, VmHWM %d MB, live heap %d MB", off.goMem>>20, off.rss>>20, off.hwm>>20, off.live>>20)
	}
	// The runtime's limit is soft: allow it 5% for the moments between the heap
	// passing it and the collection that follows.
	if bound := memoryLimit(memChurnMax) * 105 / 100; on.goMem > bound {
		t.Errorf("Go memory peaked at %d MB, over the bound of %d MB", on.goMem>>20, bound>>20)
	}
	// The race detector's shadow memory is in RSS and not in the runtime's count.
	if !raceEnabled {
		if bound := memoryLimit(memChurnMax)*105/100 + rssExtra; on.hwm > bound {
			t.Errorf("RSS peaked at %d MB, over the bound of %d MB", on.hwm>>20, bound>>20)
		}
	}
}

// rssExtra is what RSS holds besides the memory the Go runtime counts: the
// binary's text and data pages that were touched.
const rssExtra = 16 << 20

type memPeak struct{ goMem, rss, hwm, live int64 }

// runMemChurn starts TestMemoryLimitChild in a child process, loads it with
// churn and returns the peaks it saw.
func runMemChurn(t *testing.T, limit bool) memPeak {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	child := exec.Command(exe, "-test.run=^TestMemoryLimitChild$", "-test.v")
	child.Env = append(os.Environ(), "GANTRY_MEMLIMIT_CHILD="+addr, "GANTRY_MEMLIMIT_ON="+strconv.FormatBool(limit))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	defer rdb.Close()
	waitFor(t, "child server", func() bool { return rdb.Ping(ctx).Err() == nil })

	// Four writers send memChurnWrites bytes of values (100 to 2000 bytes) over a
	// key space of twice what fits: overwrites of live keys, evictions of others,
	// and one DEL in eight. They write RESP themselves, batches of 100 commands, so
	// that the race detector's cost stays on the server's side.
	const writers = 4
	keys := 2 * memChurnMax / 1000
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Go(func() {
			errs <- churn(conn, uint64(w), keys, memChurnWrites/writers)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	t.Logf("load (limit %v) took %v", limit, time.Since(start).Round(time.Millisecond))
	if used, err := rdb.Info(ctx, "memory").Result(); err == nil {
		for line := range strings.Lines(used) {
			if strings.HasPrefix(line, "used_memory:") {
				t.Logf("child %s", strings.TrimSpace(line))
			}
		}
	}
	stdin.Close() // the child reports its peaks and exits
	var peak memPeak
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "memlimit peaks %d %d %d %d", &peak.goMem, &peak.rss, &peak.hwm, &peak.live); err == nil {
			return peak
		}
	}
	t.Fatalf("child reported no peaks (%v)", sc.Err())
	return peak
}

// churn sends SETs and DELs on conn, batch by batch, until it has sent n bytes
// of values, and reads their one-line replies.
func churn(conn net.Conn, seed uint64, keys, n int) error {
	const batch = 100
	rng := rand.New(rand.NewPCG(seed, 1))
	val := strings.Repeat("v", 2000)
	br := bufio.NewReader(conn)
	var buf []byte
	for sent := 0; sent < n; {
		buf = buf[:0]
		for range batch {
			k := "k" + strconv.Itoa(rng.IntN(keys))
			if rng.IntN(8) == 0 {
				buf = fmt.Appendf(buf, "*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", len(k), k)
				continue
			}
			size := 100 + rng.IntN(1900)
			sent += size
			buf = fmt.Appendf(buf, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, size, val[:size])
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(buf); err != nil {
			return err
		}
		for range batch {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if line[0] != '+' && line[0] != ':' {
				return fmt.Errorf("reply %q", line)
			}
		}
	}
	return nil
}

// TestMemoryLimitChild is the server TestMemoryLimitBoundsRSS loads; it does
// nothing in a normal run. It samples the memory the Go runtime holds (what the
// memory limit counts: mapped minus released) and its RSS every few
// milliseconds, and prints the peaks when its stdin closes.
func TestMemoryLimitChild(t *testing.T) {
	addr := os.Getenv("GANTRY_MEMLIMIT_CHILD")
	if addr == "" {
		t.Skip("run by TestMemoryLimitBoundsRSS")
	}
	srv, err := New(Config{MaxMemory: memChurnMax, MaxMemoryPolicy: "allkeys-lru",
		GoMemoryLimit: os.Getenv("GANTRY_MEMLIMIT_ON") == "true"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), ln)
	stop := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			if _, err := os.Stdin.Read(b[:]); err != nil {
				close(stop)
				return
			}
		}
	}()
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var goMem, rss, live int64
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			fmt.Printf("memlimit peaks %d %d %d %d\n", goMem, rss, procStatus(t, "VmHWM"), live)
			return
		case <-tick.C:
			metrics.Read(samples)
			goMem = max(goMem, int64(samples[0].Value.Uint64()-samples[1].Value.Uint64()))
			rss = max(rss, procStatus(t, "VmRSS"))
			live = max(live, int64(samples[2].Value.Uint64()))
		}
	}
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(t *testing.T, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
