package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gantry/internal/testenv"
)

func TestCertCommandLine(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"cert", "--dir", dir, "a_b.test"}, 2, `"a_b.test" is not a DNS name or IP address`},
		{[]string{"cert", "--dir", dir, "--days", "0", "a.test"}, 2, "--days 0 is out of range"},
		{[]string{"cert", "--dir", dir, "--name", "../x", "a.test"}, 2, "not a plain file name"},
		{[]string{"cert", "--dir", dir, "--name", "x"}, 2, "--name needs at least one"},
		{[]string{"cert", "-h"}, 0, ""},
	} {
		code, _, stderr := gantry(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
	}
}

// TestCertServesTLS makes a CA and a certificate with `gantry cert`, serves it from a
// `gantry proxy` TLS listener, and checks that a Go client trusting only the generated CA
// gets through, over HTTP/1.1 and HTTP/2, while one that does not trust it is refused.
func TestCertServesTLS(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := gantry(t, "cert", "--dir", dir, "localhost", "127.0.0.1")
	if code != 0 || !strings.Contains(out, "wrote a new CA") || !strings.Contains(out, "localhost.crt") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	for f, mode := range map[string]os.FileMode{"ca.key": 0o600, "localhost.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	// The same names again: refused without --force, and the CA is reused.
	code, _, stderr = gantry(t, "cert", "--dir", dir, "localhost", "127.0.0.1")
	if code != 1 || !strings.Contains(stderr, "already exists (use --force") {
		t.Errorf("second run: exit %d, stderr %q; want a refusal to overwrite", code, stderr)
	}
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	code, out, stderr = gantry(t, "cert", "--dir", dir, "--force", "localhost", "127.0.0.1")
	if code != 0 || strings.Contains(out, "new CA") {
		t.Fatalf("--force: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(caAfter) != string(caBefore) {
		t.Error("making a certificate replaced the CA")
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	cfg := filepath.Join(dir, "proxy.yaml")
	os.WriteFile(cfg, []byte("tls:\n  - {cert_file: "+filepath.Join(dir, "localhost.crt")+", key_file: "+
		filepath.Join(dir, "localhost.key")+"}\npools:\n  - name: p\n    hosts: [{addr: '"+up.URL+"'}]\n"), 0o644)
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errw testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, stdio{strings.NewReader(""), io.Discard, &errw},
			[]string{"proxy", "--addr", addr, "--admin", "", "--config", cfg})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("proxy exit code %d; stderr:\n%s", code, errw.String())
		}
	}()

	pem, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("ca.crt holds no certificate")
	}
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for _, host := range []string{"localhost", "127.0.0.1"} {
			url := "https://" + strings.Replace(addr, "127.0.0.1", host, 1) + "/"
			var resp *http.Response
			deadline := time.Now().Add(10 * time.Second)
			for {
				if resp, err = c.Get(url); err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s: %v; stderr:\n%s", url, err, errw.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProto := map[bool]int{false: 1, true: 2}[h2]
			if string(b) != "hello over https" || resp.ProtoMajor != wantProto {
				t.Errorf("%s (h2 %v): %s %q", url, h2, resp.Proto, b)
			}
		}
	}
	// A client that trusts only the system's roots refuses the certificate.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	_, err = (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusting client got %v", err)
	}
}
