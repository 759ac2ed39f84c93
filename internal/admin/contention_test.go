package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

func serveAdmin(t *testing.T) string {
	t.Helper()
	srv := New(Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// contend makes goroutines wait on a lock and on a channel until stop is closed.
func contend(stop <-chan struct{}) *sync.WaitGroup {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				mu.Lock()
				time.Sleep(100 * time.Microsecond)
				mu.Unlock()
			}
		})
	}
	return &wg
}

func TestContentionProfilesSampleOnlyTheirWindow(t *testing.T) {
	base := serveAdmin(t)
	stop := make(chan struct{})
	wg := contend(stop)
	defer func() { close(stop); wg.Wait() }()

	for _, name := range []string{"mutex", "block"} {
		t.Run(name, func(t *testing.T) {
			during := make(chan int, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				during <- runtime.SetMutexProfileFraction(-1)
			}()
			resp, err := http.Get(base + "/debug/pprof/" + name + "?seconds=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Fatalf("GET %s: %d, %d bytes: %s", name, resp.StatusCode, len(body), body)
			}
			if name == "mutex" {
				if got := <-during; got != mutexFraction {
					t.Errorf("mutex fraction during the window = %d, want %d", got, mutexFraction)
				}
			}
			if got := runtime.SetMutexProfileFraction(-1); got != 0 {
				t.Errorf("mutex fraction after the window = %d, want 0", got)
			}
			if n := pprof.Lookup(name).Count(); n == 0 {
				t.Errorf("the %s profile recorded nothing in its window", name)
			}
		})
	}
}

func TestContentionProfileRefusesBadSeconds(t *testing.T) {
	base := serveAdmin(t)
	for _, s := range []string{"0", "-1", "x", "301"} {
		resp, err := http.Get(base + "/debug/pprof/block?seconds=" + s)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || string(body) != "seconds must be a whole number from 1 to 300\n" {
			t.Errorf("seconds=%s: %d %q", s, resp.StatusCode, body)
		}
	}
}
