package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	addr, adminAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errw syncBuffer
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
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errw syncBuffer
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
