package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// silentHost returns a loopback address whose SYNs go unanswered: a listener with a
// backlog of 0 whose accept queue is already full (Linux drops a SYN then), so a dial to
// it waits until its timeout, as a dial to a host that is down or firewalled does.
func silentHost(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue; then a dial must hang.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i == 8 {
			t.Skip("this kernel does not drop SYNs to a full accept queue")
		}
	}
	return addr
}

// TestDialTimeout: a host that does not answer the dial costs dial_timeout, not more:
// the request is answered 504 once it passes (retries off), and with another host in
// the pool the request is retried there (a dial that failed never reached the host).
func TestDialTimeout(t *testing.T) {
	checkLeaks(t)
	silent := silentHost(t)
	cfg := onePool(silent)
	cfg.Pools[0].DialTimeout = 300 * time.Millisecond
	cfg.Pools[0].Retries = -1
	cfg.Pools[0].EjectAfter = -1
	_, addr := start(t, cfg)
	begin := time.Now()
	got := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	took := time.Since(begin)
	if !strings.HasPrefix(got, "HTTP/1.1 504 ") || !strings.Contains(got, "upstream timed out") {
		t.Errorf("answer %q; want 504", got)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("answered after %v; want about the dial timeout, 300ms", took)
	}

	good := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "good") })
	cfg = onePool(silent, good)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].DialTimeout = 300 * time.Millisecond
	_, addr = start(t, cfg)
	c := client(t)
	for i := 0; i < 2; i++ { // one of the two goes to the silent host first
		resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "good" {
			t.Errorf("POST %d: %d %q; want it retried on the good host", i, resp.StatusCode, b)
		}
	}
}
