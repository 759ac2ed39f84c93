package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// dumpRequest answers with what the backend saw: protocol, method, Host, target, and every
// header field (sorted, values in order), then the body; it announces and sends a trailer,
// and sets fields the route's rules act on.
func dumpRequest(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Trailer", "X-Sum")
	h.Set("Server", "secret")
	h.Set("X-Up", "1")
	h["Set-Cookie"] = []string{"a=1", "b=2"}
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s %s\n", r.Proto, r.Method, r.Host, r.RequestURI)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], " | "))
	}
	fmt.Fprintf(w, "length %d body %q", r.ContentLength, b)
	h.Set("X-Sum", fmt.Sprint(len(b)))
}

// TestH2UpstreamFields: the same request from an HTTP/1.1 client and from an HTTP/2
// client (whose head goes to the h2 pool as fields, without an http.Request) reaches an h2
// backend with the same fields: forwarding fields added, hop-by-hop ones gone, the route's
// request rules and prefix applied. The answer comes back with the route's response rules,
// Via, repeated fields in order, and its trailer.
func TestH2UpstreamFields(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2Backend(t, nil, dumpRequest)
	cfg := h2Pool(PoolConfig{}, addr)
	cfg.Routes = []Route{{Pool: "app", PathPrefix: "/api", StripPrefix: "/api", AddPrefix: "/v2",
		RequestHeaders:  HeaderRules{Set: map[string]string{"X-Set": "yes"}, Remove: []string{"X-Drop"}},
		ResponseHeaders: HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"Server"}}}}
	_, paddr := start(t, cfg)
	seen := map[string]string{}
	for _, tt := range []struct {
		name string
		c    *http.Client
	}{{"HTTP/1.1", client(t)}, {"HTTP/2", h2cClient(t)}} {
		for _, body := range []string{"", "hello"} {
			method := "GET"
			var r io.Reader
			if body != "" {
				method, r = "POST", strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, "http://"+paddr+"/api/a%2Fb?q=1", r)
			req.Host = "example.test"
			req.Header.Set("User-Agent", "test")
			req.Header.Set("Accept-Encoding", "identity")
			req.Header["X-Req"] = []string{"one", "two"}
			req.Header.Set("X-Drop", "gone")
			req.Header.Set("X-Forwarded-For", "10.0.0.1")
			req.Header.Set("Cookie", "a=1; b=2")
			resp, err := tt.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen[tt.name+" "+method] = string(b)
			h := resp.Header
			for _, c := range []struct {
				what string
				ok   bool
			}{
				{"status", resp.StatusCode == 200},
				{"removed Server", h.Get("Server") == ""},
				{"set X-Frame-Options", h.Get("X-Frame-Options") == "DENY"},
				{"X-Up", h.Get("X-Up") == "1"},
				{"Set-Cookie in order", strings.Join(h.Values("Set-Cookie"), ";") == "a=1;b=2"},
				{"Via", strings.HasPrefix(h.Get("Via"), "1.1 gantry-")},
				{"trailer", resp.Trailer.Get("X-Sum") == fmt.Sprint(len(body))},
			} {
				if !c.ok {
					t.Errorf("%s %s: %s: %d %v trailer %v", tt.name, method, c.what, resp.StatusCode, h, resp.Trailer)
				}
			}
		}
	}
	for _, method := range []string{"GET", "POST"} {
		h1, h2 := seen["HTTP/1.1 "+method], seen["HTTP/2 "+method]
		if h1 != h2 {
			t.Errorf("%s: the backend saw from an HTTP/1.1 client:\n%s\nand from an HTTP/2 client:\n%s", method, h1, h2)
		}
	}
	got := seen["HTTP/2 POST"]
	for _, want := range []string{
		"HTTP/2.0 POST example.test /v2/a%2Fb?q=1\n",
		"Cookie: a=1; b=2\n",
		"X-Forwarded-For: 10.0.0.1, 127.0.0.1\n",
		"X-Forwarded-Host: example.test\n",
		"X-Forwarded-Proto: http\n",
		"Forwarded: for=127.0.0.1;host=\"example.test\";proto=http\n",
		"X-Req: one | two\n",
		"X-Set: yes\n",
		"Via: 1.1 gantry-",
		`length 5 body "hello"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the backend saw\n%s\nwithout %q", got, want)
		}
	}
	if strings.Contains(got, "X-Drop") {
		t.Errorf("the backend saw a removed field:\n%s", got)
	}
}

// TestH2UpstreamTE: "te: trailers" from an HTTP/2 client reaches an h2 pool (gRPC servers
// look for it), and a POST without a body, or with content-length 0, says content-length 0.
func TestH2UpstreamTE(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2Backend(t, nil, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "te=%q length=%d %q", r.Header.Get("Te"), r.ContentLength, r.Header.Get("Content-Length"))
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	c := h2cClient(t)
	req, _ := http.NewRequest("POST", "http://"+paddr+"/", nil)
	req.Header.Set("Te", "trailers")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `te="trailers" length=0 "0"`; string(b) != want {
		t.Errorf("backend saw %q; want %q", b, want)
	}
	// A POST that says content-length 0 and ends its stream with an empty DATA frame
	// (which Go's client does not send: it is written here frame by frame).
	nc, err := net.Dial("tcp", paddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, h2Preface)
	fr := http2.NewFramer(nc, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}, {"content-length", "0"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, nil)
	var got []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			got = append(got, d.Data()...)
			if d.StreamEnded() {
				break
			}
		}
		if _, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("the proxy reset the stream: %v", f)
		}
	}
	if want := `te="" length=0 "0"`; string(got) != want {
		t.Errorf("content-length 0: backend saw %q; want %q", got, want)
	}
}

// rawH2Backend is an HTTP/2 server written on the Framer, so that it can break the
// protocol as a real one would not: for every connection it sends SETTINGS, waits for a
// request's HEADERS, and hands the connection's framer and the stream to serve. It stops
// when the test ends.
func rawH2Backend(t *testing.T, serve func(fr *http2.Framer, nc net.Conn, id uint32)) string {
	t.Helper()
	return tcpServer(t, func(nc net.Conn) {
		fr := http2.NewFramer(nc, nc)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		if fr.WriteSettings() != nil {
			return
		}
		pre := make([]byte, len(h2Preface))
		if _, err := io.ReadFull(nc, pre); err != nil {
			return
		}
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok {
				serve(fr, nc, h.StreamID)
				return
			}
		}
	})
}

// writeHead sends an answer's HEADERS (not ending the stream).
func writeHead(fr *http2.Framer, id uint32, fields ...string) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true})
}

// TestH2UpstreamCut: an answer cut by the h2 host — its connection closed mid-body, or
// the stream reset — resets the HTTP/2 client's stream, so that the client never takes a
// part for the whole; and connection-specific fields from the host are not passed on.
func TestH2UpstreamCut(t *testing.T) {
	checkLeaks(t)
	for _, tt := range []struct {
		name string
		cut  func(fr *http2.Framer, nc net.Conn, id uint32)
	}{
		{"connection closed", func(fr *http2.Framer, nc net.Conn, id uint32) { nc.Close() }},
		{"stream reset", func(fr *http2.Framer, nc net.Conn, id uint32) { fr.WriteRSTStream(id, http2.ErrCodeInternal) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawH2Backend(t, func(fr *http2.Framer, nc net.Conn, id uint32) {
				writeHead(fr, id, ":status", "200", "content-length", "100", "connection", "close", "x-up", "1")
				fr.WriteData(id, false, []byte("0123456789"))
				tt.cut(fr, nc, id)
			})
			_, paddr := start(t, h2Pool(PoolConfig{EjectAfter: -1}, addr))
			resp, err := h2cClient(t).Get("http://" + paddr + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil || string(b) == strings.Repeat("x", 100) {
				t.Errorf("a cut answer read whole: %q, %v", b, err)
			}
			var se http2.StreamError
			if !errors.As(err, &se) && !strings.Contains(err.Error(), "stream error") {
				t.Errorf("read error %v; want the stream reset", err)
			}
			if resp.Header.Get("X-Up") != "1" || resp.Header.Get("Connection") != "" {
				t.Errorf("head %v; want X-Up and no Connection", resp.Header)
			}
		})
	}
}

// TestH2UpstreamClientGone: an HTTP/2 client that gives up on a request while the h2 host
// has not answered yet has the proxy reset the upstream stream (CANCEL), so that the host
// stops working on it.
func TestH2UpstreamClientGone(t *testing.T) {
	checkLeaks(t)
	got := make(chan uint32, 1)          // the stream the host received
	reset := make(chan http2.ErrCode, 1) // the RST_STREAM the host then received
	addr := rawH2Backend(t, func(fr *http2.Framer, nc net.Conn, id uint32) {
		got <- id
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == id {
				reset <- r.ErrCode
				return
			}
		}
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+paddr+"/slow", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := h2cClient(t).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the host")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	select {
	case code := <-reset:
		if code != http2.ErrCodeCancel {
			t.Errorf("the host's stream was reset with %v; want CANCEL", code)
		}
	case <-time.After(5 * time.Second):
		t.Error("the host's stream was not reset after the client gave up")
	}
}

// TestH2ClientFramesAfterDeath: frames the reader had buffered when the connection died
// (its writer failed, as when the host goes away mid-exchange) are dropped: a stream that
// was failed for the death does not take an answer head afterwards (that closed its head
// channel twice, a panic that took the whole proxy down).
func TestH2ClientFramesAfterDeath(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	addr := rawH2Backend(t, func(fr *http2.Framer, nc net.Conn, id uint32) { <-release })
	s, _ := start(t, h2Pool(PoolConfig{}, addr))
	cl := s.table.Load().pools[0].all[0].h2
	c, err := cl.dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(release)
		c.nc.Close()
		<-c.readerDone
	}()
	cs := c.reserve()
	fields := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"}}
	if err := cs.start(t.Context(), "GET", fields, nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.dieLocked(errors.New("test: the writer failed"))
	c.mu.Unlock()
	// The host's answer, as the reader would take it from its buffer.
	var buf bytes.Buffer
	fw := http2.NewFramer(&buf, nil)
	var block bytes.Buffer
	hpack.NewEncoder(&block).WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	fw.WriteHeaders(http2.HeadersFrameParam{StreamID: cs.id, BlockFragment: block.Bytes(), EndHeaders: true})
	fw.WriteData(cs.id, true, []byte("late"))
	fr := http2.NewFramer(nil, &buf)
	for range 2 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.handle(f); err == nil {
			t.Errorf("%v on a dead connection: handled; want an error that ends the reader", f)
		}
	}
	if err := cs.awaitHead(t.Context()); err == nil {
		t.Error("the stream has an answer; want the connection's death")
	}
	cs.stop()
}
