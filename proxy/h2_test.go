package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoProto answers with what the backend saw: the method, the body and X-Forwarded-Proto.
func echoProto(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.Path, b, r.Header.Get("X-Forwarded-Proto"))
}

func TestH2CPriorKnowledge(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(backend(t, echoProto)))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		resp, err := c.Post("http://"+addr+"/h2c", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "POST /h2c body http" || !strings.HasPrefix(resp.Header.Get("Via"), "1.1 gantry-") {
			t.Fatalf("got %s %q %v", resp.Proto, b, resp.Header)
		}
	}
	// An HTTP/1.1 client on the same listener still works.
	code, body, _ := get(t, client(t), "http://"+addr+"/h1")
	if code != 200 || body != "GET /h1  http" {
		t.Errorf("HTTP/1.1 on the h2c listener: %d %q", code, body)
	}
}

// writeCert writes a self-signed certificate for the names to dir and returns its files
// and a pool that trusts it.
func writeCert(t *testing.T, dir, name string, pool *x509.CertPool) CertConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	kb, _ := x509.MarshalECPrivateKey(key)
	cc := CertConfig{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	os.WriteFile(cc.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(cc.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cc
}

func TestTLSWithSNIAndALPN(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	roots := x509.NewCertPool()
	cfg := onePool(backend(t, echoProto))
	cfg.TLS = []CertConfig{writeCert(t, dir, "a.test", roots), writeCert(t, dir, "b.test", roots)}
	_, addr := start(t, cfg)

	for _, tt := range []struct {
		name  string
		proto string // ALPN the client offers
		major int
	}{
		{"a.test", "h2", 2},
		{"b.test", "h2", 2},
		{"a.test", "http/1.1", 1},
		{"b.test", "http/1.1", 1},
	} {
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: tt.name},
			Protocols:       new(http.Protocols),
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}
		if tt.major == 2 {
			tr.Protocols.SetHTTP2(true)
		} else {
			tr.Protocols.SetHTTP1(true)
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get("https://" + tt.name + "/tls")
		if err != nil {
			t.Fatalf("%s over %s: %v", tt.name, tt.proto, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.ProtoMajor != tt.major || string(b) != "GET /tls  https" {
			t.Errorf("%s over %s: %s %q", tt.name, tt.proto, resp.Proto, b)
		}
		if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != tt.name {
			t.Errorf("SNI %s got the certificate of %s", tt.name, got)
		}
	}
}

func TestH2StreamsEvents(t *testing.T) {
	checkLeaks(t)
	next := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for i := 0; i < 2; i++ {
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	_, addr := start(t, onePool(up))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	expectEvents(t, resp.Body, next, 2)
}

// expectEvents lets the backend write n server-sent events ("data: I"), one per send on
// next, and fails unless each arrives through body within five seconds of being sent:
// an event the proxy holds back is a test failure, not a wait.
func expectEvents(t *testing.T, body io.Reader, next chan<- struct{}, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		next <- struct{}{}
		buf := make([]byte, 64)
		got := make(chan string, 1)
		go func() { n, _ := io.ReadAtLeast(body, buf, 9); got <- string(buf[:n]) }()
		select {
		case s := <-got:
			if s != fmt.Sprintf("data: %d\n\n", i) {
				t.Fatalf("event %d: %q", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d was held back", i)
		}
	}
}

// TestH2Fields checks the fields the HTTP/2 listener passes both ways: repeated fields in
// order, a Via chain extended, names in any case, route rules, the raw target.
func TestH2Fields(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Set-Cookie"] = []string{"a=1", "b=2"}
		h["Via"] = []string{"1.0 inner"}
		h["x-odd-Case"] = []string{"v"}
		h.Set("Server", "secret")
		h.Set("Content-Type", "text/x-test")
		fmt.Fprintf(w, "%s %q %q", r.RequestURI, r.Header.Values("X-Req"), r.Header.Get("Via"))
	})
	cfg := onePool(up)
	cfg.Routes = []Route{{Pool: "app", ResponseHeaders: HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"Server"}}}}
	_, addr := start(t, cfg)
	req, _ := http.NewRequest("GET", "http://"+addr+"/p/a%2Fb?q=1&r=%20", nil)
	req.Header["X-Req"] = []string{"one", "two"}
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `/p/a%2Fb?q=1&r=%20 ["one" "two"] "1.1 gantry-`; !strings.HasPrefix(string(b), want) {
		t.Errorf("backend saw %q; want prefix %q", b, want)
	}
	h := resp.Header
	via := h.Values("Via")
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"Set-Cookie in order", strings.Join(h.Values("Set-Cookie"), ";") == "a=1;b=2"},
		{"Via chain", len(via) == 2 && via[0] == "1.0 inner" && strings.HasPrefix(via[1], "1.1 gantry-")},
		{"odd-case name", h.Get("X-Odd-Case") == "v"},
		{"removed Server", h.Get("Server") == ""},
		{"set X-Frame-Options", h.Get("X-Frame-Options") == "DENY"},
		{"Content-Type", h.Get("Content-Type") == "text/x-test"},
		{"Content-Length", resp.ContentLength == int64(len(b))},
	} {
		if !c.ok {
			t.Errorf("%s: header %v", c.name, h)
		}
	}
}

// trailerEcho answers with the request's trailers and body, and sets a response trailer
// with the body's length.
func trailerEcho(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", "X-Length")
	b, _ := io.ReadAll(r.Body) // trailers are read with the end of the body
	for _, k := range slices.Sorted(maps.Keys(r.Trailer)) {
		fmt.Fprintf(w, "%s=%s;", k, r.Trailer.Get(k))
	}
	fmt.Fprintf(w, "body=%s", b)
	w.Header().Set("X-Length", strconv.Itoa(len(b)))
}

// TestH2Trailers: an HTTP/2 client (Go's, whose HTTP/2 side is x/net/http2's, sending
// req.Trailer after its body, as gRPC clients do) gets its trailers to a net/http backend behind an HTTP/1.1 pool (as a
// chunked body's trailer section, even when the client gave content-length) and behind an
// h2 pool (as trailers); fields that belong in a head are dropped. The backend's response
// trailer comes back to the client from both. An HTTP/1.1 client's trailers reach an h2
// pool too.
func TestH2Trailers(t *testing.T) {
	checkLeaks(t)
	h1 := backend(t, trailerEcho)
	h2, _ := h2Backend(t, nil, trailerEcho)
	for _, tt := range []struct {
		name string
		cfg  Config
	}{{"HTTP/1.1 pool", onePool(h1)}, {"h2 pool", h2Pool(PoolConfig{}, h2)}} {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := start(t, tt.cfg)
			c := h2cClient(t)
			for _, length := range []int64{-1, 11} {
				req, _ := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world")))
				req.ContentLength = length
				req.Trailer = http.Header{"X-Checksum": nil, "Grpc-Status": nil, "Content-Type": nil}
				req.Body = &trailerBody{r: req.Body, done: func() {
					req.Trailer.Set("X-Checksum", "abc123")
					req.Trailer.Set("Grpc-Status", "0")
					req.Trailer.Set("Content-Type", "evil") // belongs in the head: dropped
				}}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "Grpc-Status=0;X-Checksum=abc123;body=hello world"; resp.StatusCode != 200 || string(b) != want {
					t.Errorf("length %d: %d %q; want %q", length, resp.StatusCode, b, want)
				}
				if got := resp.Trailer.Get("X-Length"); got != "11" {
					t.Errorf("length %d: response trailers %v; want X-Length 11", length, resp.Trailer)
				}
			}
		})
	}
	// An HTTP/1.1 client's chunked body with trailers, to the h2 pool.
	_, addr := start(t, h2Pool(PoolConfig{}, h2))
	req, _ := http.NewRequest("POST", "http://"+addr+"/", io.MultiReader(strings.NewReader("hello "), strings.NewReader("world")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": nil, "Host": nil}
	req.Body = &trailerBody{r: req.Body, done: func() {
		req.Trailer.Set("X-Checksum", "abc123")
		req.Trailer.Set("Host", "evil") // belongs in the head: dropped
	}}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "X-Checksum=abc123;body=hello world"; resp.StatusCode != 200 || string(b) != want {
		t.Errorf("HTTP/1.1 client to the h2 pool: %d %q; want %q", resp.StatusCode, b, want)
	}
	if got := resp.Trailer.Get("X-Length"); got != "11" {
		t.Errorf("HTTP/1.1 client to the h2 pool: response trailers %v; want X-Length 11", resp.Trailer)
	}
}

// FuzzCopyChunkedData: the chunked decoder that hands trailers to HTTP/2 never panics,
// and what it accepts decodes to the same data as net/http's chunked reader, with only
// fields that may be trailers handed on.
func FuzzCopyChunkedData(f *testing.F) {
	for _, seed := range []string{
		"3\r\nabc\r\n0\r\n\r\n",
		"3;x=y\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nHost: evil\r\n\r\n",
		"0\r\n\r\n",
		"5\r\nab\r\n",
		"ffffffffffffffff\r\n",
		"1\r\na\r\n0\r\nbad trailer\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		var names []string
		err := copyChunkedData(bw, bufio.NewReader(bytes.NewReader(in)), 1<<20, func(name, value string) {
			if !trailerAllowed([]byte(name)) {
				t.Errorf("trailer %q handed on", name)
			}
			names = append(names, name)
		})
		bw.Flush()
		if err != nil {
			return
		}
		want, werr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
		if werr != nil {
			t.Fatalf("accepted %q, which net/http rejects: %v", in, werr)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("%q: data %q; net/http reads %q", in, out.Bytes(), want)
		}
	})
}
