package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzHTTP1Conn sends any bytes as a client's side of an HTTP/1.x connection to two
// live proxies, one serving it from an event loop and one from a goroutine (event_loops
// -1), both in front of a real net/http backend. Whatever comes, each proxy must answer
// only with HTTP/1.x responses, close the connection within its timeouts once the
// client has stopped sending, and serve the next client; and the two paths, written
// apart, must answer the same bytes alike (but for Date and the proxy's name in Via).
// FuzzRequestHead checks the head parser against net/http; this one drives the whole
// connection: bodies, chunked framing, pipelining, Expect, Upgrade, CONNECT and the
// error paths between them.
//
//	go test ./proxy -run '^$' -fuzz FuzzHTTP1Conn -fuzztime 2m
func FuzzHTTP1Conn(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD / HTTP/1.0\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET http://a/p HTTP/1.1\r\nHost: b\r\nX: a\r\n b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
	} {
		f.Add([]byte(s))
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	f.Cleanup(up.Close)
	var addrs []string
	for _, loops := range []int{0, -1} {
		cfg := onePool(up.Listener.Addr().String())
		cfg.EventLoops = loops
		cfg.HeaderTimeout, cfg.BodyTimeout, cfg.IdleTimeout = time.Second, time.Second, time.Second
		cfg.MaxBodyBytes = 1 << 20
		_, addr := start(f, cfg)
		addrs = append(addrs, addr)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var answers [2]string
		for i, addr := range addrs {
			out := sendHalfClosed(t, addr, in)
			if len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(out, []byte("HTTP/1.0 ")) {
				t.Fatalf("%s answered %q", addr, out[:min(len(out), 200)])
			}
			answers[i] = timeless.ReplaceAllString(string(out), "")
			if out := sendHalfClosed(t, addr, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")); !bytes.HasPrefix(out, []byte("HTTP/1.1 200 ")) {
				t.Fatalf("%s, the next client: %q", addr, out)
			}
		}
		if answers[0] != answers[1] {
			t.Fatalf("for %q\nthe event loop answered  %q\nthe goroutine answered %q", in, answers[0], answers[1])
		}
	})
}

// timeless matches what differs between two proxies' answers to the same bytes: the
// Date fields and the proxies' pseudonyms in Via.
var timeless = regexp.MustCompile(`Date: [^\r]*\r\n|gantry-[0-9a-f]+`)

// sendHalfClosed writes in to addr, closes the connection's sending side and returns
// all the peer answered. It fails when the peer has not closed within 5 s: its header,
// body and idle timeouts (1 s each in FuzzHTTP1Conn) must end any connection by then.
func sendHalfClosed(t *testing.T, addr string, in []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		c.Write(in) // fails when the proxy closes first, as it may
		c.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("%s did not close the connection: %v (got %q)", addr, err, out[:min(len(out), 200)])
	}
	return out
}
