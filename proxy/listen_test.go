package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gantry/internal/ca"
	"gantry/internal/testenv"
)

// testCert makes a CA and a certificate for 127.0.0.1 and localhost, writes the
// certificate and key to files, and returns them with the CA's pool.
func testCert(t *testing.T) (CertConfig, *ca.CA) {
	t.Helper()
	authority, err := ca.New("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := authority.Sign([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cc := CertConfig{CertFile: filepath.Join(dir, "leaf.crt"), KeyFile: filepath.Join(dir, "leaf.key")}
	if err := ca.WriteFiles(cc.CertFile, cc.KeyFile, leaf.Cert, leaf.Key, false); err != nil {
		t.Fatal(err)
	}
	return cc, authority
}

// freePort returns a loopback address that was free a moment ago, for a listener the
// proxy opens itself (plain_addr).
func freePort(t *testing.T) string { return testenv.FreeAddr(t) }

// TestPlainAndTLSListeners: one proxy serves TLS on its main listener and plain HTTP on
// plain_addr; with https_redirect the plain one sends clients to HTTPS (with the TLS
// listener's port), except for ACME challenges, which are routed.
func TestPlainAndTLSListeners(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto")+" "+r.URL.RequestURI())
	})
	cert, authority := testCert(t)
	for _, redirect := range []bool{true, false} {
		cfg := onePool(up)
		cfg.TLS = []CertConfig{cert}
		cfg.PlainAddr = freePort(t)
		cfg.HTTPSRedirect = redirect
		_, addr := start(t, cfg)
		_, tlsPort, _ := net.SplitHostPort(addr)

		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: authority.Pool()}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		// The plain listener is up once Serve has started; poll for it.
		var resp *http.Response
		var err error
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err = c.Get("http://" + cfg.PlainAddr + "/a?b=1")
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if redirect {
			// The client followed the 308 to the TLS listener.
			if resp.TLS == nil || string(b) != "https /a?b=1" {
				t.Errorf("redirect: TLS %v, body %q", resp.TLS != nil, b)
			}
			raw := rawExchange(t, cfg.PlainAddr, "POST /x?y HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(raw, "HTTP/1.1 308 ") || !strings.Contains(raw, "\r\nLocation: https://127.0.0.1:"+tlsPort+"/x?y\r\n") {
				t.Errorf("redirect: %q", raw)
			}
			code, body, _ := get(t, c, "http://"+cfg.PlainAddr+"/.well-known/acme-challenge/tok")
			if code != 200 || body != "http /.well-known/acme-challenge/tok" {
				t.Errorf("ACME challenge: %d %q; want it routed over plain HTTP", code, body)
			}
		} else if resp.TLS != nil || string(b) != "http /a?b=1" {
			t.Errorf("plain: TLS %v, body %q", resp.TLS != nil, b)
		}
		code, body, _ := get(t, c, "https://"+addr+"/c")
		if code != 200 || body != "https /c" {
			t.Errorf("TLS listener: %d %q", code, body)
		}
	}
}

func TestListenerConfigErrors(t *testing.T) {
	const pool = "pools: [{name: a, hosts: [{addr: 'x:1'}]}]\n"
	for _, tc := range []struct{ yaml, want string }{
		{pool + "plain_addr: 127.0.0.1:8080\n", "plain_addr: set without tls"},
		{pool + "tls: [{cert_file: a, key_file: b}]\nplain_addr: nonsense\n", `plain_addr: "nonsense" is not host:port`},
		{pool + "https_port: 70000\n", "https_port: 70000 is out of range"},
	} {
		if _, err := ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestHTTPSRedirectPort: a plain-only proxy with https_redirect and https_port sends
// clients to that port; redirect: https routes use it too.
func TestHTTPSRedirectPort(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(backend(t, func(w http.ResponseWriter, r *http.Request) {}))
	cfg.HTTPSRedirect = true
	cfg.HTTPSPort = 8443
	_, addr := start(t, cfg)
	raw := rawExchange(t, addr, "GET /p HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n")
	if !strings.Contains(raw, "\r\nLocation: https://example.com:8443/p\r\n") {
		t.Errorf("got %q", raw)
	}
	cfg.HTTPSRedirect, cfg.HTTPSPort = false, 443
	cfg.Routes = []Route{{Redirect: "https"}}
	_, addr = start(t, cfg)
	raw = rawExchange(t, addr, "GET /p HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n")
	if !strings.Contains(raw, "\r\nLocation: https://example.com/p\r\n") {
		t.Errorf("port 443: got %q", raw)
	}
}

// TestTLSExampleServes runs examples/proxy/tls.yaml with certificates made as its comments
// say (a CA and a certificate per name, as gantry cert writes them), its pools pointed at
// live backends and its plain listener on a free port: each name gets its own certificate
// and route, and plain requests are redirected to HTTPS.
func TestTLSExampleServes(t *testing.T) {
	checkLeaks(t)
	example, err := filepath.Abs("../examples/proxy/tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	authority, err := ca.New("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.test", "b.test"} {
		leaf, err := authority.Sign([]string{name}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(dir, "certs", name)
		if err := ca.WriteFiles(base+".crt", base+".key", leaf.Cert, leaf.Key, false); err != nil {
			t.Fatal(err)
		}
	}
	// The example's certificate paths are relative to its own directory: run a copy of it
	// next to the certificates made above.
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, "tls.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Pools {
		name := cfg.Pools[i].Name
		cfg.Pools[i].Hosts = []HostConfig{{Addr: backend(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "pool "+name)
		})}}
	}
	cfg.PlainAddr = freePort(t)
	_, addr := start(t, cfg)
	_, port, _ := net.SplitHostPort(addr)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr) // every name resolves to the proxy
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: authority.Pool()}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, name := range []string{"a.test", "b.test"} {
		resp, err := c.Get("https://" + name + ":" + port + "/")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "pool "+name[:1] || resp.TLS.PeerCertificates[0].DNSNames[0] != name {
			t.Errorf("%s: %q from a certificate for %v", name, b, resp.TLS.PeerCertificates[0].DNSNames)
		}
	}
	raw := rawExchange(t, cfg.PlainAddr, "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	if !strings.Contains(raw, "\r\nLocation: https://a.test:"+port+"/x\r\n") {
		t.Errorf("plain listener: %q", raw)
	}
}

// TestTLSVersions: the TLS listener speaks TLS 1.2 and 1.3 and refuses older versions
// (safe defaults: Go's cipher suites for 1.2, no renegotiation, no SSL 3 or TLS 1.0/1.1).
func TestTLSVersions(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cert, authority := testCert(t)
	cfg := onePool(up)
	cfg.TLS = []CertConfig{cert}
	_, addr := start(t, cfg)
	for _, tc := range []struct {
		name string
		v    uint16
		ok   bool
	}{{"TLS 1.0", tls.VersionTLS10, false}, {"TLS 1.1", tls.VersionTLS11, false}, {"TLS 1.2", tls.VersionTLS12, true}, {"TLS 1.3", tls.VersionTLS13, true}} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		conn := tls.Client(nc, &tls.Config{RootCAs: authority.Pool(), ServerName: "localhost",
			MinVersion: tc.v, MaxVersion: tc.v, NextProtos: []string{"http/1.1"}})
		err = conn.Handshake()
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v", tc.name, err)
		}
		if err == nil {
			io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(conn)
			if !strings.HasPrefix(string(b), "HTTP/1.1 200 ") || conn.ConnectionState().Version != tc.v {
				t.Errorf("%s: answer %q", tc.name, b)
			}
		}
		conn.Close()
	}
}
