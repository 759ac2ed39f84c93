package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequestFields(t *testing.T) {
	raw := "POST /p?q HTTP/1.1\r\nHost: Example.com:8080\r\nContent-Length: 5\r\n" +
		"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nVia: 1.0 other\r\nX-Space:   v  \r\n\r\n"
	n, skip, err := headEnd([]byte(raw))
	if err != nil || n != len(raw) || skip != 0 {
		t.Fatalf("headEnd = %d, %d, %v", n, skip, err)
	}
	var h head
	h.reset()
	if err := h.parseRequest([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if string(h.method) != "POST" || string(h.target) != "/p?q" || h.minor != 1 ||
		string(h.host) != "Example.com:8080" || h.contentLength != 5 || h.chunked || h.close {
		t.Errorf("parsed %+v", h)
	}
	if string(h.get("x-space")) != "v" {
		t.Errorf("X-Space = %q, want trimmed", h.get("x-space"))
	}
	if !h.hopByHop([]byte("x-hop")) || h.hopByHop([]byte("X-Space")) || !h.hopByHop([]byte("Keep-Alive")) {
		t.Error("hop-by-hop set wrong")
	}
	if len(h.via) != 1 || string(h.via[0]) != "1.0 other" {
		t.Errorf("via = %q", h.via)
	}
}

func TestParseResponse(t *testing.T) {
	for _, tt := range []struct {
		raw    string
		status int
		err    bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 200, false},
		{"HTTP/1.1 204\r\n\r\n", 204, false},
		{"HTTP/1.0 404 Not Found\r\n\r\n", 404, false},
		{"HTTP/1.1 2000 OK\r\n\r\n", 0, true},
		{"HTTP/1.1 20x OK\r\n\r\n", 0, true},
		{"HTTP/1.1 099 Low\r\n\r\n", 0, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, true},
	} {
		var h head
		h.reset()
		err := h.parseResponse([]byte(tt.raw))
		if (err != nil) != tt.err || (!tt.err && h.status != tt.status) {
			t.Errorf("%q: status %d, err %v", tt.raw, h.status, err)
		}
	}
}

func TestChunkSize(t *testing.T) {
	for _, tt := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true}, {"a", 10, true}, {"FF", 255, true}, {"10;ext=1", 16, true}, {"10 ;ext", 16, true},
		{"", 0, false}, {"x", 0, false}, {"-1", 0, false}, {"1 ", 0, false}, {"1 x", 0, false},
		{"0x10", 0, false}, {"1000000000000000", 0, false}, {"1;\x00", 0, false},
	} {
		n, ok := parseChunkSize([]byte(tt.line))
		if n != tt.n && ok || ok != tt.ok {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d, %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

func TestChunkedCopyReencodes(t *testing.T) {
	in := "3;name=val\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT"
	br := bufio.NewReader(strings.NewReader(in))
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	n, err := chunkedCopy{rechunk: true, trailers: true, limit: -1}.copy(bw, br)
	bw.Flush()
	if err != nil || n != 13 {
		t.Fatalf("copy = %d, %v", n, err)
	}
	if want := "3\r\nabc\r\na\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"; out.String() != want {
		t.Errorf("out = %q, want %q", out.String(), want)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "NEXT" {
		t.Errorf("left %q in the reader", rest)
	}
}

// FuzzRequestHead checks that the head parser never panics, and that every head it
// accepts is read the same way by net/http: same method, target, and body framing. A
// disagreement on framing between two parsers is what request smuggling exploits.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, skip, err := headEnd(b)
		if err != nil || n == 0 {
			return
		}
		var h head
		h.reset()
		if h.parseRequest(b[skip:n]) != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[skip:])))
		if err != nil {
			return // net/http is stricter here (it rejects some targets we accept)
		}
		if req.Method != string(h.method) || req.RequestURI != string(h.target) {
			t.Fatalf("net/http read %s %s, we read %s %s", req.Method, req.RequestURI, h.method, h.target)
		}
		chunked := len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked"
		if chunked != h.chunked {
			t.Fatalf("chunked: net/http %v, we %v", chunked, h.chunked)
		}
		if !chunked {
			want := h.contentLength
			if want < 0 {
				want = 0
			}
			if req.ContentLength != want {
				t.Fatalf("length: net/http %d, we %d", req.ContentLength, h.contentLength)
			}
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	raw := []byte("GET /api/v1/items?id=42 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\nX-Request-Id: 0123456789abcdef\r\n\r\n")
	var h head
	h.reset()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		n, _, _ := headEnd(raw)
		h.reset()
		if err := h.parseRequest(raw[:n]); err != nil {
			b.Fatal(err)
		}
	}
}
