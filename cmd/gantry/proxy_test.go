package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gantry/internal/testenv"
)

func TestProxyCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("pools:\n  - name: a\n    hosts: [{addr: 127.0.0.1:1}]\n    polcy: x\n"), 0o644)
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"proxy"}, 2, "give --config FILE or at least one --to URL"},
		{[]string{"proxy", "--to", "ftp://x"}, 2, "unsupported scheme"},
		{[]string{"proxy", "--to", "127.0.0.1:1", "--policy", "random"}, 2, `policy: "random" is unknown`},
		{[]string{"proxy", "--to", "127.0.0.1:1", "--config", bad}, 2, "exclude each other"},
		{[]string{"proxy", "--config", bad}, 1, "bad.yaml: line 4: field polcy is unknown; allowed: name, policy"},
		{[]string{"proxy", "--to", "https://127.0.0.1:1", "--to", "http://127.0.0.1:2"}, 2, "plain HTTP in a pool that uses TLS"},
		{[]string{"proxy", "-h"}, 0, ""},
	} {
		code, _, stderr := gantry(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
	}
	// The help says that --to takes https:// upstreams too.
	if _, stdout, stderr := gantry(t, "proxy", "-h"); !strings.Contains(stdout+stderr, "https://host:port") {
		t.Errorf("proxy -h does not mention https:// upstreams:\n%s%s", stdout, stderr)
	}
}

func TestProxyCommandServes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from backend")
	}))
	defer up.Close()
	addr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errw testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, stdio{strings.NewReader(""), io.Discard, &errw},
			[]string{"proxy", "--addr", addr, "--admin", adminAddr, "--to", up.URL})
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body != "from backend" {
		t.Errorf("body = %q", body)
	}
	resp, err := c.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `gantry_proxy_route_responses_total{class="2xx",route="default"} 1`) {
		t.Errorf("metrics lack the route counter:\n%s", m)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, errw.String())
	}
}

func TestProxyCommandReloadsConfig(t *testing.T) {
	named := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
	}
	a, b := named("a"), named("b")
	defer a.Close()
	defer b.Close()
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	write := func(body string) {
		// Write then rename, so the watcher never reads a half-written file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	pool := func(url string) string { return "pools:\n  - name: p\n    hosts: [{addr: '" + url + "'}]\n" }
	write(pool(a.URL))
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errw testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, stdio{strings.NewReader(""), io.Discard, &errw},
			[]string{"proxy", "--addr", addr, "--admin", "", "--config", path, "--watch", "20ms"})
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	waitBody := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := c.Get("http://" + addr + "/")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("never got %q; stderr:\n%s", want, errw.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBody("a")
	write(pool(b.URL))
	waitBody("b")
	write("pools: [}\n") // broken: refused, b keeps serving
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errw.String(), "new configuration refused") {
		if time.Now().After(deadline) {
			t.Fatalf("the broken file was not refused; stderr:\n%s", errw.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitBody("b")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, errw.String())
	}
}

// TestProxyChild is not a test: TestProxySignals runs the test binary again with
// GANTRY_PROXY_CHILD set, and this runs `gantry proxy` in that process as main does, so
// signals can be sent to a proxy process and to nothing else.
func TestProxyChild(t *testing.T) {
	if os.Getenv("GANTRY_PROXY_CHILD") == "" {
		t.Skip("run by TestProxySignals only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stdio{os.Stdin, os.Stdout, os.Stderr}, strings.Fields(os.Getenv("GANTRY_PROXY_CHILD")))
	stop()
	os.Exit(code)
}

// TestProxySignals: a `gantry proxy` process reloads its configuration file on SIGHUP
// (with file watching off), and on SIGTERM finishes the request it has in flight,
// then exits 0.
func TestProxySignals(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	named := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				arrived <- struct{}{}
				<-release
			}
			io.WriteString(w, name)
		}))
	}
	a, b := named("a"), named("b")
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the Closes: they wait for handlers
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	pool := func(url string) []byte { return []byte("pools:\n  - name: p\n    hosts: [{addr: '" + url + "'}]\n") }
	if err := os.WriteFile(path, pool(a.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyChild$")
	cmd.Env = append(os.Environ(), "GANTRY_PROXY_CHILD=proxy --addr "+addr+" --admin= --config "+path+" --watch 0 --drain 10s")
	var errw testenv.Buffer
	cmd.Stderr = &errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := func() string {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitBody := func(want string, poke func()) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for body() != want {
			if time.Now().After(deadline) {
				t.Fatalf("never got %q; stderr:\n%s", want, errw.String())
			}
			if poke != nil {
				poke()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBody("a", nil)
	if err := os.WriteFile(path, pool(b.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	waitBody("b", func() { cmd.Process.Signal(syscall.SIGHUP) })

	slow := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- resp.Status + " " + string(b)
	}()
	select {
	case <-arrived: // the slow request is in flight, held by the backend
	case got := <-slow:
		t.Fatalf("slow request: %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	// Draining: the listener closes while the request is still held.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting after SIGTERM; stderr:\n%s", errw.String())
		}
	}
	once.Do(func() { close(release) })
	if got := <-slow; got != "200 OK b" {
		t.Errorf("request in flight at SIGTERM: %q", got)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("exit: %v; stderr:\n%s", exitErr, errw.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM; stderr:\n%s", errw.String())
	}
}
