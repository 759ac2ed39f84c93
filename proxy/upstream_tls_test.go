package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority for the tests: it issues server and client
// certificates and writes them as PEM files.
type testCA struct {
	t    testing.TB
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
	file string // the CA certificate, PEM
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gantry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), key: key, cert: cert, pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	ca.file = filepath.Join(ca.dir, "ca.pem")
	if err := os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue makes a certificate for name (a DNS name, or 127.0.0.1 as an IP SAN) for server or
// client use, and writes it and its key to files.
func (ca *testCA) issue(name string, client bool) (tls.Certificate, CertConfig) {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	cc := CertConfig{CertFile: filepath.Join(ca.dir, name+".crt"), KeyFile: filepath.Join(ca.dir, name+".key")}
	if client {
		cc = CertConfig{CertFile: filepath.Join(ca.dir, name+".client.crt"), KeyFile: filepath.Join(ca.dir, name+".client.key")}
	}
	os.WriteFile(cc.CertFile, certPEM, 0o600)
	os.WriteFile(cc.KeyFile, keyPEM, 0o600)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, cc
}

// tlsBackend starts a real TLS server with a certificate from ca for 127.0.0.1; with
// clients set it requires a client certificate signed by that pool. It counts the TLS
// connections it accepts.
func tlsBackend(t *testing.T, ca *testCA, clients *x509.CertPool, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	pair, _ := ca.issue("127.0.0.1", false)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if clients != nil {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = clients
	}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

// whoami answers with the path, the scheme the backend served, and the client
// certificate's name if one was shown.
func whoami(w http.ResponseWriter, r *http.Request) {
	cn := "-"
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	fmt.Fprintf(w, "%s %s %s %s", r.URL.Path, scheme, r.Proto, cn)
}

func tlsPool(addr string, tc *UpstreamTLS) Config {
	return Config{Pools: []PoolConfig{{Name: "app", Hosts: []HostConfig{{Addr: "https://" + addr}}, TLS: tc}}}
}

func TestUpstreamTLS(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t)
	addr, conns := tlsBackend(t, ca, nil, whoami)
	_, paddr := start(t, tlsPool(addr, &UpstreamTLS{CAFile: ca.file}))
	c := client(t)
	for i := 0; i < 5; i++ {
		code, body, _ := get(t, c, fmt.Sprintf("http://%s/tls/%d", paddr, i))
		if want := fmt.Sprintf("/tls/%d https HTTP/1.1 -", i); code != 200 || body != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, code, body, want)
		}
	}
	// The HTTP/1.1 fast path keeps its TLS connection in the pool: five requests in a
	// row, one handshake.
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend saw %d TLS connections for 5 sequential requests; want 1", n)
	}
	// An HTTP/2 client through the proxy reaches the TLS upstream too.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	code, body, _ := get(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://"+paddr+"/from-h2")
	if code != 200 || body != "/from-h2 https HTTP/1.1 -" {
		t.Errorf("h2c client to a TLS upstream: %d %q", code, body)
	}
}

func TestUpstreamTLSRefusesBadCertificates(t *testing.T) {
	checkLeaks(t)
	ca, other := newTestCA(t), newTestCA(t)
	addr, _ := tlsBackend(t, ca, nil, whoami)
	for _, tt := range []struct {
		name string
		tls  *UpstreamTLS
		code int
	}{
		{"CA that did not sign it", &UpstreamTLS{CAFile: other.file}, 502},
		{"system roots", nil, 502},
		{"wrong server name", &UpstreamTLS{CAFile: ca.file, ServerName: "other.test"}, 502},
		{"right CA and name", &UpstreamTLS{CAFile: ca.file, ServerName: "127.0.0.1"}, 200},
		{"insecure_skip_verify", &UpstreamTLS{InsecureSkipVerify: true}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tlsPool(addr, tt.tls)
			cfg.Pools[0].EjectAfter = -1
			_, paddr := start(t, cfg)
			code, body, _ := get(t, client(t), "http://"+paddr+"/x")
			if code != tt.code {
				t.Errorf("%d %q; want %d", code, body, tt.code)
			}
			if code == 502 && body != "upstream connection failed\n" {
				t.Errorf("502 body %q", body)
			}
		})
	}
}

func TestUpstreamMutualTLS(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t)
	clients := newTestCA(t) // the backend trusts client certificates of this CA only
	addr, _ := tlsBackend(t, ca, clients.pool, whoami)
	_, good := clients.issue("gantry-proxy", true)
	_, stranger := newTestCA(t).issue("stranger", true)
	for _, tt := range []struct {
		name string
		cert CertConfig
		code int
		body string
	}{
		{"no client certificate", CertConfig{}, 502, "upstream connection failed\n"},
		{"certificate of another CA", stranger, 502, "upstream connection failed\n"},
		{"trusted client certificate", good, 200, "/m https HTTP/1.1 gantry-proxy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tlsPool(addr, &UpstreamTLS{CAFile: ca.file, CertFile: tt.cert.CertFile, KeyFile: tt.cert.KeyFile})
			cfg.Pools[0].EjectAfter = -1
			_, paddr := start(t, cfg)
			code, body, _ := get(t, client(t), "http://"+paddr+"/m")
			if code != tt.code || body != tt.body {
				t.Errorf("%d %q; want %d %q", code, body, tt.code, tt.body)
			}
		})
	}
}

// TestUpstreamTLSHealthCheck checks that health checks speak TLS to a TLS pool: were they
// plain HTTP, the backend would fail every probe and the host would be taken out.
func TestUpstreamTLSHealthCheck(t *testing.T) {
	checkLeaks(t)
	ca := newTestCA(t)
	var probes atomic.Int64
	addr, _ := tlsBackend(t, ca, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
		}
		whoami(w, r)
	})
	cfg := tlsPool(addr, &UpstreamTLS{CAFile: ca.file})
	cfg.Pools[0].HealthCheck = &HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, UnhealthyAfter: 1}
	s, paddr := start(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for probes.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d health probes reached the TLS backend in 5s", probes.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if u := s.table.Load().pools[0].all[0]; u.unhealthy.Load() {
		t.Fatal("the TLS host was marked unhealthy")
	}
	if code, body, _ := get(t, client(t), "http://"+paddr+"/ok"); code != 200 {
		t.Errorf("%d %q", code, body)
	}
}

func TestUpstreamTLSConfigErrors(t *testing.T) {
	ca := newTestCA(t)
	_, cc := ca.issue("c", true)
	missing := filepath.Join(t.TempDir(), "none.pem")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	const head = "pools:\n  - name: a\n"
	for _, tt := range []struct{ yaml, err string }{
		{head + "    hosts: [{addr: 'https://x:1/p'}]\n", `pools[0].hosts[0].addr: "https://x:1/p" has a path`},
		{head + "    hosts: [{addr: 'https://x:1'}, {addr: 'http://y:1'}]\n", `pools[0].hosts[1].addr: "http://y:1" is plain HTTP in a pool that uses TLS`},
		{head + "    hosts: [{addr: 'http://y:1'}]\n    tls: {}\n", `pools[0].hosts[0].addr: "http://y:1" is plain HTTP`},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {ca_file: " + missing + "}\n", "pools[0].tls.ca_file: open " + missing},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {ca_file: " + notPEM + "}\n", "pools[0].tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {ca_file: " + ca.file + ", insecure_skip_verify: true}\n", "pools[0].tls.insecure_skip_verify: set together with ca_file"},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {cert_file: " + cc.CertFile + "}\n", "pools[0].tls.cert_file: cert_file and key_file go together"},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {cert_file: " + cc.CertFile + ", key_file: " + missing + "}\n", "pools[0].tls.cert_file: open " + missing},
		{head + "    hosts: [{addr: 'x:1'}]\n    tls: {ca: x}\n", "field ca is unknown; allowed: ca_file, server_name, insecure_skip_verify, cert_file, key_file"},
		{head + "    hosts: [{addr: 'x:1'}]\n    protocol: spdy\n", `pools[0].protocol: "spdy" is unknown; allowed http1 (the default) or h2`},
	} {
		_, err := ParseConfig([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q:\n got %v\nwant %q", tt.yaml, err, tt.err)
		}
	}
	// https:// alone turns TLS on, with port 443 by default; a valid pool validates twice.
	cfg, err := ParseConfig([]byte(head + "    hosts: [{addr: 'https://example.com'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pools[0]; p.TLS == nil || p.Hosts[0].Addr != "example.com:443" || p.Protocol != "http1" {
		t.Errorf("got %+v", p)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("second Validate: %v", err)
	}
}

// discardLog silences a test server's log of refused handshakes, which the tests cause on
// purpose.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// BenchmarkProxyRoundTripTLS is BenchmarkProxyRoundTrip with a TLS upstream: the same fast
// path, the pooled connection a tls.Conn.
func BenchmarkProxyRoundTripTLS(b *testing.B) {
	ca := newTestCA(b)
	pair, _ := ca.issue("127.0.0.1", false)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		b.Fatal(err)
	}
	serveRaw(b, ln)
	benchGets(b, serveBench(b, tlsPool(ln.Addr().String(), &UpstreamTLS{CAFile: ca.file})), "/small", 13)
}
