package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// connKey keys a per-connection value in a test backend's request contexts.
type connKey struct{}

// h2TestBackend starts a real h2c server (net/http's) with a stream limit, and tags each
// request's context with its connection's number.
func h2TestBackend(t *testing.T, maxStreams uint32, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = discardLog()
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, conns.Add(1))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

// TestH2ClientStreamLimit: more requests at once than the host's
// SETTINGS_MAX_CONCURRENT_STREAMS allow on one connection go over more connections, up to
// the pool's max_idle_per_host, and beyond that wait for a stream to end; no connection
// ever carries more streams than the host allows, and every request is answered.
func TestH2ClientStreamLimit(t *testing.T) {
	checkLeaks(t)
	const limit, maxConns, requests = 2, 3, 24
	var mu sync.Mutex
	perConn := map[int64]int{}
	most, inFlight := 0, 0
	full := make(chan struct{})
	var fullOnce sync.Once
	addr, conns := h2TestBackend(t, limit, func(w http.ResponseWriter, r *http.Request) {
		id := r.Context().Value(connKey{}).(int64)
		mu.Lock()
		perConn[id]++
		most = max(most, perConn[id])
		if inFlight++; inFlight == limit*maxConns {
			fullOnce.Do(func() { close(full) })
		}
		mu.Unlock()
		// The first requests wait until every stream the proxy may open is busy.
		select {
		case <-full:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		perConn[id]--
		inFlight--
		mu.Unlock()
		io.WriteString(w, r.URL.Path)
	})
	_, paddr := start(t, h2Pool(PoolConfig{MaxIdlePerHost: maxConns}, addr))
	c := h2cClient(t)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/" + strconv.Itoa(i)
			if code, body, _ := get(t, c, "http://"+paddr+path); code != 200 || body != path {
				t.Errorf("%s: %d %q", path, code, body)
			}
		}()
	}
	wg.Wait()
	select {
	case <-full:
	default:
		t.Errorf("the host never had %d streams at once", limit*maxConns)
	}
	if most > limit {
		t.Errorf("a connection carried %d streams at once; the host allows %d", most, limit)
	}
	if n := conns.Load(); n != maxConns {
		t.Errorf("%d connections; want %d (max_idle_per_host)", n, maxConns)
	}
}

// rawH2Upstream is an HTTP/2 server written on the Framer, for what net/http's server
// does not do on demand: it answers each request with its path, and on each connection
// sends GOAWAY (if sayGoAway; else nothing) after every goAwayAfter requests, leaving the
// streams above the last one it answered unanswered, then closes the connection.
func rawH2Upstream(t *testing.T, goAwayAfter int, sayGoAway bool) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serveRawH2(nc, goAwayAfter, sayGoAway)
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func serveRawH2(nc net.Conn, goAwayAfter int, sayGoAway bool) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	answered, last := 0, uint32(0)
	serveH2Frames(nc, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 100}}, func(fr *http2.Framer, f *http2.MetaHeadersFrame) bool {
		if answered == goAwayAfter {
			// This stream and any after it are not processed. The connection closes
			// gracefully, as a real server's does: what the client sent meanwhile is
			// read, so that the close sends no TCP reset that could overtake the GOAWAY.
			if sayGoAway {
				fr.WriteGoAway(last, http2.ErrCodeNo, nil)
			}
			return false
		}
		answered++
		last = f.StreamID
		body := f.PseudoValue("path")
		block.Reset()
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: block.Bytes(), EndHeaders: true})
		fr.WriteData(f.StreamID, true, []byte(body))
		return true
	})
}

// serveH2Frames serves HTTP/2 on nc for a test host: it reads the client's preface, sends
// settings, acknowledges the client's SETTINGS, and passes each request's HEADERS to
// request, whose frames go out once nothing more is buffered to read. When request
// returns false, the connection closes gracefully: what was written goes out, then the
// write side closes and what the client still sends is read and dropped.
func serveH2Frames(nc net.Conn, settings []http2.Setting, request func(*http2.Framer, *http2.MetaHeadersFrame) bool) {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	pre := make([]byte, len(h2Preface))
	if _, err := io.ReadFull(br, pre); err != nil || string(pre) != h2Preface {
		return
	}
	bw := bufio.NewWriter(nc)
	fr := http2.NewFramer(bw, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings(settings...)
	bw.Flush()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if !request(fr, f) {
				bw.Flush()
				nc.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, br)
				return
			}
		}
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
}

// TestH2ClientGoAway: a host that sends GOAWAY in the middle of a load, leaving streams
// above its last one unprocessed, or that closes its connection without a word: the
// requests not answered (GETs) are sent again on a new connection, and every request is
// answered right.
func TestH2ClientGoAway(t *testing.T) {
	checkLeaks(t)
	for _, sayGoAway := range []bool{true, false} {
		t.Run(fmt.Sprint("GOAWAY ", sayGoAway), func(t *testing.T) {
			addr, conns := rawH2Upstream(t, 5, sayGoAway)
			_, paddr := start(t, h2Pool(PoolConfig{}, addr))
			c := h2cClient(t)
			var wg sync.WaitGroup
			var ok atomic.Int64
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 10 {
						path := fmt.Sprintf("/%d/%d", w, i)
						if code, body, _ := get(t, c, "http://"+paddr+path); code != 200 || body != path {
							t.Errorf("%s: %d %q", path, code, body)
							return
						}
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 80 {
				t.Fatalf("%d of 80 answered", ok.Load())
			}
			if n := conns.Load(); n < 80/5 {
				t.Errorf("%d connections for 80 requests and a close after 5 each; want at least 16", n)
			}
		})
	}
}

// TestH2ClientUpstreamReset: a host that resets a stream before its answer gets the
// client a 502 (and the proxy goes on); one that resets it in the middle of the body gets
// the client's stream reset, never a cut body that looks whole.
func TestH2ClientUpstreamReset(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2TestBackend(t, 100, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mid":
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // RST_STREAM INTERNAL_ERROR
		case "/head":
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	})
	_, paddr := start(t, h2Pool(PoolConfig{Retries: -1}, addr))
	for _, c := range []*http.Client{client(t), h2cClient(t)} {
		if code, _, _ := get(t, c, "http://"+paddr+"/head"); code != 502 {
			t.Errorf("reset before the head: %d; want 502", code)
		}
		resp, err := c.Get("http://" + paddr + "/mid")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("reset in the body: the client read it all without an error")
		}
		if code, body, _ := get(t, c, "http://"+paddr+"/ok"); code != 200 || body != "fine" {
			t.Errorf("after the resets: %d %q", code, body)
		}
	}
}

// TestH2ClientFlowControl: a body of several windows' size goes both ways at once, from an
// HTTP/2 client through the proxy to a host that echoes it as it reads, and arrives whole.
func TestH2ClientFlowControl(t *testing.T) {
	checkLeaks(t)
	addr, _ := h2TestBackend(t, 100, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	body := make([]byte, 5<<20)
	for i := range body {
		body[i] = byte(i * 7 >> 3)
	}
	want := sha256.Sum256(body)
	for _, c := range []*http.Client{h2cClient(t), client(t)} {
		resp, err := c.Post("http://"+paddr+"/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("echo of %d bytes: %d bytes back, err %v, same %v", len(body), n, err, bytes.Equal(h.Sum(nil), want[:]))
		}
	}
}

// TestH2ClientCancel: an HTTP/2 client that gives up on a request (RST_STREAM) resets the
// proxy's stream to the host: the host's handler sees its request cancelled, twice in a
// row on the same connections.
func TestH2ClientCancel(t *testing.T) {
	checkLeaks(t)
	entered, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	addr, _ := h2TestBackend(t, 100, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	})
	_, paddr := start(t, h2Pool(PoolConfig{}, addr))
	// (An HTTP/1.1 client that closes its connection is noticed at the next write to it,
	// as on the HTTP/1.1 pools' path: a host that writes nothing more is not reset.)
	for range 2 {
		c := h2cClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+paddr+"/wait", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		<-entered
		cancel()
		resp.Body.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("the host's handler was not cancelled")
		}
	}
}

// TestH2ClientReuse: requests one after another share one connection to the host, which
// closes once unused for the pool's idle timeout.
func TestH2ClientReuse(t *testing.T) {
	checkLeaks(t)
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	var accepted atomic.Int64
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		accepted.Add(1)
		return ctx
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s, paddr := start(t, h2Pool(PoolConfig{IdleTimeout: 300 * time.Millisecond}, srv.Listener.Addr().String()))
	host := s.table.Load().pools[0].all[0]
	for _, c := range []*http.Client{client(t), h2cClient(t)} {
		for i := range 10 {
			path := "/" + strconv.Itoa(i)
			if code, body, _ := get(t, c, "http://"+paddr+path); code != 200 || body != path {
				t.Fatalf("%s: %d %q", path, code, body)
			}
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("20 requests in turn took %d connections; want 1", n)
	}
	if n := host.open.Load(); n != 1 {
		t.Errorf("gantry_proxy_upstream_connections counts %d HTTP/2 connections; want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 || host.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open past the idle timeout (%d counted by the proxy)", open.Load(), host.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestH2ClientBadUpstream: a host that breaks the protocol gets 502s, not a hang or a crash.
func TestH2ClientBadUpstream(t *testing.T) {
	checkLeaks(t)
	for _, tt := range []struct{ name, answer string }{
		{"HTTP/1.1 answer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"garbage", "\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage-garbage-garbage"},
		{"closed at once", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := answerOnce(t, tt.answer)
			_, paddr := start(t, h2Pool(PoolConfig{Retries: -1}, up))
			if code, _, _ := get(t, h2cClient(t), "http://"+paddr+"/"); code != 502 {
				t.Errorf("%d; want 502", code)
			}
		})
	}
}

// TestH2ClientMalformedAnswers: an h2 host whose answer head breaks RFC 9113 section 8.3
// (no or a bad :status, a name in upper case, a pseudo-field after a regular one, a
// request's pseudo-field, a control byte in a value, a repeated :status) gets its stream
// reset, and the client a 502; a well-formed answer, with an interim one before it, passes.
func TestH2ClientMalformedAnswers(t *testing.T) {
	checkLeaks(t)
	ok := [][2]string{{":status", "200"}, {"content-length", "2"}}
	for _, tt := range []struct {
		name   string
		blocks [][][2]string // the answer's header blocks; DATA "ok" follows the last
		code   int
	}{
		{"well-formed", [][][2]string{ok}, 200},
		{"interim answer first", [][][2]string{{{":status", "103"}, {"link", "</a>"}}, ok}, 200},
		{"no :status", [][][2]string{{{"content-length", "2"}}}, 502},
		{"bad :status", [][][2]string{{{":status", "20x"}}}, 502},
		{"upper-case name", [][][2]string{append(ok, [2]string{"X-Up", "1"})}, 502},
		{"pseudo-field after a regular one", [][][2]string{{{"content-length", "2"}, {":status", "200"}}}, 502},
		{"request pseudo-field", [][][2]string{append(ok, [2]string{":path", "/"})}, 502},
		{"control byte in a value", [][][2]string{append(ok, [2]string{"x-a", "a\x01b"})}, 502},
		{"repeated :status", [][][2]string{append(ok, [2]string{":status", "204"})}, 502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := tcpServer(t, func(nc net.Conn) { answerH2(nc, tt.blocks) })
			_, paddr := start(t, h2Pool(PoolConfig{Retries: -1}, up))
			if code, body, _ := get(t, h2cClient(t), "http://"+paddr+"/"); code != tt.code || code == 200 && body != "ok" {
				t.Errorf("%d %q; want %d", code, body, tt.code)
			}
		})
	}
}

// answerH2 serves HTTP/2 on nc and answers each request with the header blocks given,
// then DATA "ok" that ends the stream.
func answerH2(nc net.Conn, blocks [][][2]string) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	serveH2Frames(nc, nil, func(fr *http2.Framer, f *http2.MetaHeadersFrame) bool {
		for _, b := range blocks {
			block.Reset()
			for _, kv := range b {
				enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: block.Bytes(), EndHeaders: true})
		}
		fr.WriteData(f.StreamID, true, []byte("ok"))
		return true
	})
}

// answerOnce starts a TCP server that reads what comes first, writes answer and closes.
func answerOnce(t *testing.T, answer string) string {
	return tcpServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 4096))
		io.WriteString(c, answer)
	})
}

// FuzzH2ClientFrames: whatever frames an h2 host answers a request with, the client of
// h2 pools answers the proxy's client (a 502, a cut body, or the answer) within its
// timeouts and does not crash.
func FuzzH2ClientFrames(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, kv := range [][2]string{{":status", "200"}, {"content-length", "2"}, {"x-a", "b"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte("ok"))
	f.Add(bytes.Clone(seed.Bytes()))
	seed.Reset()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes()[:2]})
	fr.WriteContinuation(1, true, block.Bytes()[2:])
	fr.WriteWindowUpdate(0, 1000)
	fr.WriteData(1, false, []byte("o"))
	fr.WriteRSTStream(1, http2.ErrCodeInternal)
	f.Add(bytes.Clone(seed.Bytes()))
	f.Add([]byte{0, 0, 1, 9, 4, 0, 0, 0, 1, 0x88})

	answers := make(chan []byte, 1) // the frames the host sends next
	host := tcpServer(f, func(nc net.Conn) {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(nc)
		if _, err := io.ReadFull(br, make([]byte, len(h2Preface))); err != nil {
			return
		}
		hr := http2.NewFramer(nc, br)
		hr.WriteSettings()
		for { // the answer goes after the request
			f, err := hr.ReadFrame()
			if err != nil {
				return
			}
			if _, ok := f.(*http2.HeadersFrame); ok {
				break
			}
		}
		select {
		case frames := <-answers:
			nc.Write(frames)
		default:
		}
	})
	_, paddr := start(f, h2Pool(PoolConfig{Retries: -1, EjectAfter: -1, ReadTimeout: 2 * time.Second}, host))
	c := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, frames []byte) {
		answers <- frames
		resp, err := c.Get("http://" + paddr + "/")
		if err != nil {
			t.Fatalf("no answer from the proxy: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		select { // a request sent again took no answer of its own
		case <-answers:
		default:
		}
	})
}
