package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Raw is a bare HTTP/2 client: it writes the frames a test gives it, and reads frames
// back, so that tests can break the protocol on purpose.
type h2Raw struct {
	t     testing.TB
	c     net.Conn
	fr    *http2.Framer
	block bytes.Buffer
	enc   *hpack.Encoder
	resps map[uint32]*rawResponse // the answers read so far, by stream
}

type rawResponse struct {
	status int
	fields []hpack.HeaderField
	body   []byte
	done   bool
}

// dialH2 connects to addr, sends the preface and (unless settings is nil) a SETTINGS
// frame with settings.
func dialH2(t testing.TB, addr string, settings []http2.Setting) *h2Raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h := &h2Raw{t: t, c: c, fr: http2.NewFramer(c, c), resps: make(map[uint32]*rawResponse)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.block)
	if _, err := io.WriteString(c, h2Preface); err != nil {
		t.Fatal(err)
	}
	if settings != nil {
		h.fr.WriteSettings(settings...)
	}
	return h
}

// headers sends a header block of name, value pairs on stream id, split into HEADERS and
// CONTINUATION frames of at most 16 KiB.
func (h *h2Raw) headers(id uint32, end bool, kv ...string) {
	h.block.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	b := h.block.Bytes()
	n := min(len(b), 16384)
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:n], EndStream: end, EndHeaders: n == len(b)}); err != nil {
		h.t.Fatal(err)
	}
	for b = b[n:]; len(b) > 0; b = b[n:] {
		n = min(len(b), 16384)
		h.fr.WriteContinuation(id, n == len(b), b[:n])
	}
}

// get sends a GET for path on stream id.
func (h *h2Raw) get(id uint32, path string) {
	h.headers(id, true, ":method", "GET", ":scheme", "http", ":authority", "test", ":path", path)
}

// next reads frames, acknowledging the server's SETTINGS, until want reports true for
// one, and returns it.
func (h *h2Raw) next(want func(http2.Frame) bool) http2.Frame {
	h.t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("reading frames: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			h.fr.WriteSettingsAck()
		}
		h.note(f)
		if want(f) {
			return f
		}
	}
}

// goAway waits for the server's GOAWAY and returns its code.
func (h *h2Raw) goAway() http2.ErrCode {
	h.t.Helper()
	f := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	return f.(*http2.GoAwayFrame).ErrCode
}

// reset waits for a RST_STREAM on stream id and returns its code.
func (h *h2Raw) reset(id uint32) http2.ErrCode {
	h.t.Helper()
	f := h.next(func(f http2.Frame) bool {
		if _, ok := f.(*http2.GoAwayFrame); ok {
			h.t.Fatalf("GOAWAY %v; want RST_STREAM on stream %d", f, id)
		}
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id
	})
	return f.(*http2.RSTStreamFrame).ErrCode
}

// note records the HEADERS and DATA of every stream, and gives the DATA's bytes back
// to the windows.
func (h *h2Raw) note(f http2.Frame) {
	r := h.resps[f.Header().StreamID]
	if r == nil {
		r = &rawResponse{}
		h.resps[f.Header().StreamID] = r
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		if s := f.PseudoValue("status"); s != "" {
			r.status, _ = strconv.Atoi(s)
		}
		r.fields = append(r.fields, f.RegularFields()...)
		r.done = r.done || f.StreamEnded()
	case *http2.DataFrame:
		r.body = append(r.body, f.Data()...)
		r.done = r.done || f.StreamEnded()
	}
}

// response reads the answer on stream id: its status and body.
func (h *h2Raw) response(id uint32) (int, string) {
	h.t.Helper()
	if r := h.resps[id]; r == nil || !r.done {
		h.next(func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.DataFrame:
				if n := len(f.Data()); n > 0 {
					h.fr.WriteWindowUpdate(0, uint32(n))
					h.fr.WriteWindowUpdate(f.StreamID, uint32(n))
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == id {
					h.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
				}
			case *http2.GoAwayFrame:
				h.t.Fatalf("GOAWAY %v while reading stream %d", f.ErrCode, id)
			}
			return f.Header().StreamID == id && h.resps[id].done
		})
	}
	r := h.resps[id]
	return r.status, string(r.body)
}

// sized answers with as many bytes as its ?n= asks for.
func sized(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.Write(bytes.Repeat([]byte("x"), n))
}

func TestH2ServerProtocolErrors(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(backend(t, sized)))
	get := []string{":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/?n=3"}
	post := []string{":method", "POST", ":scheme", "http", ":authority", "test", ":path", "/"}
	for _, tt := range []struct {
		name     string
		send     func(h *h2Raw)
		goAway   http2.ErrCode // the connection's error, or
		rst      http2.ErrCode // stream 1's
		noPrefix bool          // no SETTINGS after the preface
	}{
		{name: "headers on an even stream", send: func(h *h2Raw) { h.headers(2, true, get...) }, goAway: http2.ErrCodeProtocol},
		{name: "no :path", send: func(h *h2Raw) {
			h.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "test")
		}, rst: http2.ErrCodeProtocol},
		{name: "unknown pseudo-field", send: func(h *h2Raw) { h.headers(1, true, append([]string{":protocol", "websocket"}, get...)...) }, rst: http2.ErrCodeProtocol},
		{name: "space in :path", send: func(h *h2Raw) {
			h.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/a HTTP/1.1\tx")
		}, rst: http2.ErrCodeProtocol},
		{name: "method not a token", send: func(h *h2Raw) {
			h.headers(1, true, ":method", "GET /x", ":scheme", "http", ":authority", "test", ":path", "/")
		}, rst: http2.ErrCodeProtocol},
		{name: "bad :authority", send: func(h *h2Raw) {
			h.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a b", ":path", "/")
		}, rst: http2.ErrCodeProtocol},
		{name: "bad host field", send: func(h *h2Raw) {
			h.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", "host", "a/b")
		}, rst: http2.ErrCodeProtocol},
		{name: "connection field", send: func(h *h2Raw) { h.headers(1, true, append(get, "connection", "close")...) }, rst: http2.ErrCodeProtocol},
		{name: "transfer-encoding", send: func(h *h2Raw) { h.headers(1, false, append(post, "transfer-encoding", "chunked")...) }, rst: http2.ErrCodeProtocol},
		{name: "te other than trailers", send: func(h *h2Raw) { h.headers(1, true, append(get, "te", "gzip")...) }, rst: http2.ErrCodeProtocol},
		{name: "upper-case name", send: func(h *h2Raw) { h.headers(1, true, append(get, "X-Up", "1")...) }, rst: http2.ErrCodeProtocol},
		{name: "pseudo-field after a regular field", send: func(h *h2Raw) {
			h.headers(1, true, "x-a", "1", ":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/")
		}, rst: http2.ErrCodeProtocol},
		{name: "repeated pseudo-field", send: func(h *h2Raw) { h.headers(1, true, append(get, ":path", "/b")...) }, rst: http2.ErrCodeProtocol},
		{name: "response pseudo-field in a request", send: func(h *h2Raw) { h.headers(1, true, append(get, ":status", "200")...) }, rst: http2.ErrCodeProtocol},
		{name: "control byte in a value", send: func(h *h2Raw) { h.headers(1, true, append(get, "x-a", "a\x01b")...) }, rst: http2.ErrCodeProtocol},
		{name: "HPACK that does not decode", send: func(h *h2Raw) {
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true})
		}, goAway: http2.ErrCodeCompression},
		{name: "CONTINUATION of another stream", send: func(h *h2Raw) {
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
			h.fr.WriteContinuation(3, true, []byte{0x84})
		}, goAway: http2.ErrCodeProtocol},
		{name: "more of a block past the list limit", send: func(h *h2Raw) {
			// The list passes its 16 KiB limit within the HEADERS frame; a CONTINUATION
			// still comes.
			h.block.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"},
				{"x-a", strings.Repeat("a", 9<<10)}, {"x-b", strings.Repeat("b", 9<<10)}} {
				h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: bytes.Clone(h.block.Bytes()), EndStream: true})
			h.block.Reset()
			h.enc.WriteField(hpack.HeaderField{Name: "x-c", Value: "c"})
			h.fr.WriteContinuation(1, true, h.block.Bytes())
		}, goAway: http2.ErrCodeProtocol},
		{name: "CONTINUATION flood", send: func(h *h2Raw) {
			// Dynamic table size updates decode to no field, so the list never
			// grows: only the block's length can end it. (The server's SETTINGS is
			// acknowledged first: an ACK within the block would end it too.)
			h.next(func(f http2.Frame) bool { _, ok := f.(*http2.SettingsFrame); return ok })
			updates := bytes.Repeat([]byte{0x20}, 16384)
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x20}})
			for range 8 {
				h.fr.WriteContinuation(1, false, updates)
			}
		}, goAway: http2.ErrCodeProtocol},
		{name: "bad content-length", send: func(h *h2Raw) { h.headers(1, false, append(post, "content-length", "-1")...) }, rst: http2.ErrCodeProtocol},
		{name: "body longer than content-length", send: func(h *h2Raw) {
			h.headers(1, false, append(post, "content-length", "2")...)
			h.fr.WriteData(1, true, []byte("abc"))
		}, rst: http2.ErrCodeProtocol},
		{name: "body shorter than content-length", send: func(h *h2Raw) {
			h.headers(1, false, append(post, "content-length", "5")...)
			h.fr.WriteData(1, true, []byte("abc"))
		}, rst: http2.ErrCodeProtocol},
		{name: "trailers with a pseudo-field", send: func(h *h2Raw) {
			h.headers(1, false, post...)
			h.fr.WriteData(1, false, []byte("abc"))
			h.headers(1, true, ":path", "/x", "x-sum", "1")
		}, rst: http2.ErrCodeProtocol},
		{name: "trailers without END_STREAM", send: func(h *h2Raw) {
			h.headers(1, false, post...)
			h.fr.WriteData(1, false, []byte("abc"))
			h.headers(1, false, "x-sum", "1")
		}, rst: http2.ErrCodeProtocol},
		{name: "DATA on an idle stream", send: func(h *h2Raw) { h.fr.WriteData(5, true, []byte("x")) }, goAway: http2.ErrCodeProtocol},
		{name: "RST_STREAM on an idle stream", send: func(h *h2Raw) { h.fr.WriteRSTStream(7, http2.ErrCodeCancel) }, goAway: http2.ErrCodeProtocol},
		{name: "WINDOW_UPDATE on an idle stream", send: func(h *h2Raw) { h.fr.WriteWindowUpdate(9, 1) }, goAway: http2.ErrCodeProtocol},
		{name: "frame larger than allowed", send: func(h *h2Raw) {
			h.headers(1, false, post...)
			h.fr.WriteData(1, true, make([]byte, 20000))
		}, goAway: http2.ErrCodeFrameSize},
		{name: "connection window overflow", send: func(h *h2Raw) { h.fr.WriteWindowUpdate(0, 1<<31-1) }, goAway: http2.ErrCodeFlowControl},
		{name: "window size setting too large", send: func(h *h2Raw) {
			h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, goAway: http2.ErrCodeFlowControl},
		{name: "PUSH_PROMISE from a client", send: func(h *h2Raw) {
			h.headers(1, false, post...)
			h.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte{0x82}, EndHeaders: true})
		}, goAway: http2.ErrCodeProtocol},
		{name: "PING on a stream", send: func(h *h2Raw) { h.fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) }, goAway: http2.ErrCodeProtocol},
		{name: "first frame not SETTINGS", noPrefix: true, send: func(h *h2Raw) { h.fr.WritePing(false, [8]byte{}) }, goAway: http2.ErrCodeProtocol},
		{name: "DATA after END_STREAM", send: func(h *h2Raw) {
			h.headers(1, false, append(post, "content-length", "1")...)
			h.fr.WriteData(1, true, []byte("a"))
			h.fr.WriteData(1, false, []byte("b"))
		}, rst: http2.ErrCodeStreamClosed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			settings := []http2.Setting{}
			if tt.noPrefix {
				settings = nil
			}
			h := dialH2(t, addr, settings)
			tt.send(h)
			if tt.goAway != 0 {
				if got := h.goAway(); got != tt.goAway {
					t.Fatalf("GOAWAY %v; want %v", got, tt.goAway)
				}
				// Then the connection closes.
				for {
					if _, err := h.fr.ReadFrame(); err != nil {
						if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
							break
						}
						t.Fatalf("after GOAWAY: %v; want the connection closed", err)
					}
				}
				return
			}
			if got := h.reset(1); got != tt.rst {
				t.Fatalf("RST_STREAM %v; want %v", got, tt.rst)
			}
			// The connection goes on.
			h.get(11, "/?n=2")
			if st, body := h.response(11); st != 200 || body != "xx" {
				t.Fatalf("next stream: %d %q", st, body)
			}
		})
	}
}

func TestH2ServerLimits(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(backend(t, sized)))
	h := dialH2(t, addr, []http2.Setting{})
	// The server announces its limits.
	f := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.SettingsFrame); return ok }).(*http2.SettingsFrame)
	if v, ok := f.Value(http2.SettingMaxConcurrentStreams); !ok || v != h2MaxStreams {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d %v; want %d", v, ok, h2MaxStreams)
	}
	if v, ok := f.Value(http2.SettingMaxHeaderListSize); !ok || v != 16<<10 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE %d %v; want %d", v, ok, 16<<10)
	}
	// A header list over the limit is answered 431, and the connection goes on.
	h.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/",
		"x-big", strings.Repeat("b", 10<<10), "x-big2", strings.Repeat("c", 10<<10))
	if st, _ := h.response(1); st != 431 {
		t.Errorf("a 20 KiB header list: %d; want 431", st)
	}
	// PING is answered with the same data.
	h.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	p := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.PingFrame); return ok }).(*http2.PingFrame)
	if !p.IsAck() || p.Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Errorf("PING answer %v", p)
	}
	h.get(3, "/?n=5")
	if st, body := h.response(3); st != 200 || body != "xxxxx" {
		t.Errorf("after the 431: %d %q", st, body)
	}
}

// TestH2ServerFlowControl checks that the proxy sends no more than the client's stream
// and connection windows allow, and goes on when they open.
func TestH2ServerFlowControl(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(backend(t, sized)))
	h := dialH2(t, addr, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 100}})
	// received reads DATA of stream id until want bytes came, and fails on more.
	received := func(id uint32, want int, end bool) {
		t.Helper()
		got, ended := 0, false
		h.next(func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == id {
				got += len(d.Data())
				ended = d.StreamEnded()
				if got > want {
					t.Fatalf("stream %d: %d bytes sent; the window allowed %d", id, got, want)
				}
				if ended && !end {
					t.Fatalf("stream %d: END_STREAM after %d bytes", id, got)
				}
			}
			return got == want && ended == end
		})
	}
	h.get(1, "/?n=1000")
	received(1, 100, false)
	// Nothing more comes until the window opens.
	h.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if f, err := h.fr.ReadFrame(); err == nil {
		if d, ok := f.(*http2.DataFrame); ok {
			t.Fatalf("DATA of %d bytes beyond the window", len(d.Data()))
		}
	}
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	h.fr.WriteWindowUpdate(1, 900)
	received(1, 900, true)

	// The connection's window (65535, less the 1000 bytes already sent) holds back a
	// stream whose own window is wide.
	h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	h.get(3, "/?n=100000")
	received(3, 65535-1000, false)
	h.fr.WriteWindowUpdate(0, 100000)
	received(3, 100000-(65535-1000), true)
}

// holdBackend answers once release is called; started reports each request as it
// arrives.
func holdBackend(t *testing.T) (addr string, started chan struct{}, release func()) {
	started = make(chan struct{}, 1000)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	addr = backend(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-gate
		io.WriteString(w, "done")
	})
	return addr, started, release
}

func TestH2ServerRefusesStreamsBeyondLimit(t *testing.T) {
	checkLeaks(t)
	up, started, release := holdBackend(t)
	cfg := onePool(up)
	cfg.Pools[0].MaxIdlePerHost = 1
	_, addr := start(t, cfg)
	h := dialH2(t, addr, []http2.Setting{})
	for i := 0; i < h2MaxStreams; i++ {
		h.get(uint32(2*i+1), "/hold")
	}
	for i := 0; i < h2MaxStreams; i++ {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d requests reached the backend; want %d", i, h2MaxStreams)
		}
	}
	over := uint32(2*h2MaxStreams + 1)
	h.get(over, "/hold")
	if got := h.reset(over); got != http2.ErrCodeRefusedStream {
		t.Fatalf("stream beyond the limit: %v; want REFUSED_STREAM", got)
	}
	release()
	for i := 0; i < h2MaxStreams; i++ {
		if st, body := h.response(uint32(2*i + 1)); st != 200 || body != "done" {
			t.Fatalf("stream %d: %d %q", 2*i+1, st, body)
		}
	}
}

func TestH2ServerGracefulShutdown(t *testing.T) {
	checkLeaks(t)
	up, started, release := holdBackend(t)
	s, addr, served := serveOwn(t, onePool(up))
	h := dialH2(t, addr, []http2.Setting{})
	h.get(1, "/hold")
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// GOAWAY comes at once, naming stream 1 as the last one taken.
	f := h.next(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if f.ErrCode != http2.ErrCodeNo || f.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v last stream %d; want NO_ERROR and 1", f.ErrCode, f.LastStreamID)
	}
	// The stream in flight still gets its whole answer, then the connection closes.
	release()
	if st, body := h.response(1); st != 200 || body != "done" {
		t.Fatalf("stream in flight: %d %q", st, body)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := h.fr.ReadFrame(); err == nil {
		t.Error("the connection is still open after Shutdown")
	}
}

func TestH2ServerIdleTimeout(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(backend(t, sized))
	cfg.IdleTimeout = time.Second // long enough for the request to arrive first on a busy machine
	_, addr := start(t, cfg)
	h := dialH2(t, addr, []http2.Setting{})
	h.get(1, "/?n=1")
	h.response(1)
	if got := h.goAway(); got != http2.ErrCodeNo {
		t.Fatalf("idle connection: GOAWAY %v; want NO_ERROR", got)
	}
	if _, err := h.fr.ReadFrame(); err == nil {
		t.Error("the idle connection is still open after GOAWAY")
	}
}

// sum answers with the length and SHA-256 of the request body, or with ?n= bytes.
func sum(w http.ResponseWriter, r *http.Request) {
	if n := r.URL.Query().Get("n"); n != "" {
		sized(w, r)
		return
	}
	hs := sha256.New()
	n, _ := io.Copy(hs, r.Body)
	fmt.Fprintf(w, "%d %x", n, hs.Sum(nil))
}

// TestH2ServerConcurrentBodies sends many large bodies at once, and reads many large
// answers, with the Go HTTP/2 client (h2c with prior knowledge, and TLS with ALPN):
// both directions go through the flow-control windows many times over.
func TestH2ServerConcurrentBodies(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	roots := x509.NewCertPool()
	up := backend(t, sum)
	_, plain := start(t, onePool(up))
	cfg := onePool(up)
	cfg.TLS = []CertConfig{writeCert(t, dir, "a.test", roots)}
	_, secure := start(t, cfg)

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(h2c.CloseIdleConnections)
	overTLS := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "a.test"},
		Protocols:       new(http.Protocols),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, secure)
		},
	}
	overTLS.Protocols.SetHTTP2(true)
	t.Cleanup(overTLS.CloseIdleConnections)
	for _, tt := range []struct {
		name string
		rt   http.RoundTripper
		base string
	}{{"h2c", h2c, "http://" + plain}, {"TLS", overTLS, "https://a.test"}} {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: tt.rt, Timeout: 20 * time.Second}
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := 0; i < 10; i++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					body := bytes.Repeat([]byte{byte(i)}, 150<<10+i)
					resp, err := c.Post(tt.base+"/sum", "application/octet-stream", bytes.NewReader(body))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					s := sha256.Sum256(body)
					if want := fmt.Sprintf("%d %s", len(body), hex.EncodeToString(s[:])); resp.ProtoMajor != 2 || string(b) != want {
						errs <- fmt.Errorf("POST %d: %s %q; want %q", i, resp.Proto, b, want)
					}
				}()
				go func() {
					defer wg.Done()
					n := 150<<10 + i
					resp, err := c.Get(tt.base + "/get?n=" + strconv.Itoa(n))
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil || len(b) != n || resp.ContentLength != int64(n) {
						errs <- fmt.Errorf("GET %d: %d bytes (%d announced) %v", n, len(b), resp.ContentLength, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestH2ServerClientReset: a client that resets a stream whose answer waits cancels it;
// the connection serves the next one.
func TestH2ServerClientReset(t *testing.T) {
	checkLeaks(t)
	up, started, release := holdBackend(t)
	_, addr := start(t, onePool(up))
	h := dialH2(t, addr, []http2.Setting{})
	h.get(1, "/hold")
	<-started
	h.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	release()
	h.get(3, "/hold")
	if st, body := h.response(3); st != 200 || body != "done" {
		t.Fatalf("after a reset: %d %q", st, body)
	}
}

// TestH2ServerMetrics: requests over HTTP/2 count in the route's latency histogram and
// the status counters, as HTTP/1.1 ones do.
func TestH2ServerMetrics(t *testing.T) {
	checkLeaks(t)
	s, addr := start(t, onePool(backend(t, sized)))
	h := dialH2(t, addr, []http2.Setting{})
	for i := uint32(1); i <= 5; i += 2 {
		h.get(i, "/?n=1")
		if st, _ := h.response(i); st != 200 {
			t.Fatalf("stream %d: %d", i, st)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	// A request's latency is observed as its handler returns, just after the answer's
	// last frame is queued: the count may lag the answers by a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var count uint64
		for _, f := range families {
			if f.GetName() == "gantry_proxy_request_duration_seconds" {
				for _, m := range f.GetMetric() {
					count += m.GetHistogram().GetSampleCount()
				}
			}
		}
		if count == 3 {
			return
		}
		if count > 3 || time.Now().After(deadline) {
			t.Fatalf("latency histogram: %d requests; want 3", count)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestH2ServerExpectContinue: a client that waits for 100 Continue before its body gets
// it when the proxy reads the body, not after its own timeout.
func TestH2ServerExpectContinue(t *testing.T) {
	checkLeaks(t)
	_, addr := start(t, onePool(backend(t, sum)))
	tr := &http.Transport{Protocols: new(http.Protocols), ExpectContinueTimeout: time.Minute}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("hello"))
	req.Header.Set("Expect", "100-continue")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if s := sha256.Sum256([]byte("hello")); resp.ProtoMajor != 2 || string(b) != "5 "+hex.EncodeToString(s[:]) {
		t.Errorf("got %s %q", resp.Proto, b)
	}
}

// TestH2ServerRequestFields: what an HTTP/2 request's fields become for an HTTP/1.1
// upstream: cookie crumbs joined into one field, routes matched on fields, the route's
// request rules applied, a POST without a body sent with Content-Length: 0.
func TestH2ServerRequestFields(t *testing.T) {
	checkLeaks(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %q %q %q %d", r.URL.Path, r.Header.Values("Cookie"), r.Header.Get("X-Set"), r.Header.Get("X-Drop"), r.ContentLength)
	})
	cfg := onePool(up)
	cfg.Routes = []Route{
		{Pool: "app", Headers: map[string]string{"X-Route": "a"}, PathPrefix: "/",
			RequestHeaders: HeaderRules{Set: map[string]string{"X-Set": "yes"}, Remove: []string{"X-Drop"}}},
		{Pool: "app", Path: "/none"},
	}
	_, addr := start(t, cfg)
	h := dialH2(t, addr, []http2.Setting{})
	h.headers(1, true, ":method", "POST", ":scheme", "http", ":authority", "test", ":path", "/c",
		"cookie", "a=1", "x-route", "a", "cookie", "b=2", "x-drop", "no")
	if st, body := h.response(1); st != 200 || body != `/c ["a=1; b=2"] "yes" "" 0` {
		t.Errorf("got %d %q", st, body)
	}
	h.get(3, "/c") // no x-route: no route takes it
	if st, _ := h.response(3); st != 404 {
		t.Errorf("unrouted: %d; want 404", st)
	}
}

// TestH2ServerHTTPSRedirect: h2c requests on the plain listener of a proxy with
// https_redirect are redirected as HTTP/1.x ones are (ACME challenges still routed), and
// a route's redirect to HTTPS names the TLS port.
func TestH2ServerHTTPSRedirect(t *testing.T) {
	checkLeaks(t)
	cert, _ := testCert(t)
	cfg := onePool(backend(t, sized))
	cfg.TLS = []CertConfig{cert}
	cfg.PlainAddr = freePort(t)
	cfg.HTTPSRedirect = true
	_, addr := start(t, cfg)
	_, tlsPort, _ := net.SplitHostPort(addr)
	var h *h2Raw
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", cfg.PlainAddr); err == nil {
			c.Close()
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	h = dialH2(t, cfg.PlainAddr, []http2.Setting{})
	h.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a.test:80", ":path", "/a?b=1")
	st, _ := h.response(1)
	loc := ""
	for _, f := range h.resps[1].fields {
		if f.Name == "location" {
			loc = f.Value
		}
	}
	if st != 308 || loc != "https://a.test:"+tlsPort+"/a?b=1" {
		t.Errorf("h2c on the plain listener: %d Location %q", st, loc)
	}
	h.get(3, "/.well-known/acme-challenge/x?n=2")
	if st, body := h.response(3); st != 200 || body != "xx" {
		t.Errorf("ACME challenge over h2c: %d %q; want it routed", st, body)
	}
}

// TestH2ServerUnreadBodiesReturnWindow: request bodies the proxy never reads (answered
// before them) give their bytes back to the connection's window, so later uploads on the
// same connection do not stall once more than the window (1 MiB) went unread.
func TestH2ServerUnreadBodiesReturnWindow(t *testing.T) {
	checkLeaks(t)
	cfg := onePool(backend(t, sum))
	cfg.Routes = []Route{{Pool: "app", Path: "/sum"}}
	_, addr := start(t, cfg)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := bytes.Repeat([]byte("u"), 700<<10)
	for i := 0; i < 4; i++ {
		resp, err := c.Post("http://"+addr+"/none", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("upload %d to no route: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("upload %d to no route: %d", i, resp.StatusCode)
		}
	}
	resp, err := c.Post("http://"+addr+"/sum", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if s := sha256.Sum256(body); string(b) != fmt.Sprintf("%d %x", len(body), s) {
		t.Errorf("upload after unread ones: %q", b)
	}
}

// FuzzH2ServerFrames feeds arbitrary bytes after the preface and SETTINGS to the HTTP/2
// server: whatever comes, it must answer or close, never crash or hang.
func FuzzH2ServerFrames(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "f"}, {":path", "/"}, {"content-length", "3"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte("abc"))
	f.Add(append([]byte(nil), seed.Bytes()...))
	seed.Reset()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes()[:3], EndStream: true})
	fr.WriteContinuation(1, true, block.Bytes()[3:])
	fr.WriteWindowUpdate(0, 1000)
	fr.WritePing(false, [8]byte{})
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	f.Add(append([]byte(nil), seed.Bytes()...))
	f.Add([]byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { up.Close() })
	go http.Serve(up, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	cfg := onePool(up.Addr().String())
	cfg.HeaderTimeout = time.Second
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	f.Fuzz(func(t *testing.T, frames []byte) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newH2Conn(s, server)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
		}()
		go func() {
			io.WriteString(client, h2Preface)
			http2.NewFramer(client, nil).WriteSettings()
			client.Write(frames)
			client.(*net.TCPConn).CloseWrite()
		}()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, client); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("the server did not close the connection: %v", err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection's goroutine did not end")
		}
	})
}
