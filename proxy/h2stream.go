package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// errStreamGone is what writes to a stream return once it was reset or its connection
// closed: nobody reads the answer any more.
var errStreamGone = errors.New("proxy: HTTP/2 stream closed")

// h2Stream is one request on an HTTP/2 connection. The connection's goroutine fills in
// its head and queues its body; the stream's own goroutine serves it, and is the
// http.ResponseWriter of the handler.
type h2Stream struct {
	c  *h2Conn
	id uint32

	method, scheme, authority, path string
	fields                          []hpack.HeaderField // the regular fields
	contentLength                   int64               // -1: not given
	tooLarge                        bool                // the header list passed the limit
	noBody                          bool                // the HEADERS ended the stream
	expect100                       bool                // the client waits for 100 Continue

	// Guarded by c.mu.
	sendWindow  int64 // what the client lets us send on this stream
	recvWindow  int64 // what the client may still send
	recvUnacked int64
	in          []byte // request body received and not yet read, from inOff
	inOff       int
	inEOF       bool                // the client ended its side of the stream
	trailers    []hpack.HeaderField // the request's trailer fields, set before inEOF
	reset       bool                // RST_STREAM went either way: nothing more is sent
	bodyClosed  bool                // the handler closed the request body: reads end
	received    int64
	inReady     chan struct{} // made when a body read waits; signalled when in, inEOF or reset change
	cancelled   bool          // the stream ended, was reset, or its connection closed
	ctx         context.Context
	cancel      context.CancelFunc // ctx is made when a handler asks for it (request)
	attempt     *h2Attempt         // the request to an h2 host in flight, ended with the stream

	// The answer, touched by the stream's goroutine only.
	hdr         http.Header
	status      int
	wroteHeader bool
	sentHead    bool
	ended       bool                // END_STREAM queued
	rawHead     []hpack.HeaderField // the head's fields, when not in hdr (pools)
	rawTrailers []hpack.HeaderField // trailer fields, when not in hdr (h2 pools)
	body        []byte              // answer bytes not yet framed
}

// onHeaders opens a stream for a request's HEADERS, or takes a request's trailers.
func (c *h2Conn) onHeaders(b *h2Block) error {
	id := b.streamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients open odd streams
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id <= c.lastID {
		st := c.streams[id]
		switch {
		case st == nil || st.reset:
			// A stream that is closed: ignored (the client may not know yet).
		case st.inEOF:
			c.resetLocked(st, http2.ErrCodeStreamClosed)
		case !b.ended || b.pseudo > 0 ||
			st.contentLength >= 0 && st.received != st.contentLength:
			c.resetLocked(st, http2.ErrCodeProtocol) // trailers end the stream, and the body
		case b.truncated:
			// A trailer section past the header list limit: what came cannot be passed
			// on whole, and dropping it silently would lose the client's data.
			c.resetLocked(st, http2.ErrCodeProtocol)
		default:
			// Trailers: kept for the upstream (see trailerFields), and the body ends.
			st.trailers = b.keepRegular()
			st.inEOF = true
			st.wakeBody()
		}
		return nil
	}
	c.lastID = id
	if c.goneAway {
		return nil // opened after GOAWAY: ignored (RFC 9113 section 6.8)
	}
	if len(c.streams) >= h2MaxStreams {
		// Streams count until their handler ends, not until they are reset, so that
		// opening and resetting streams fast cannot make the proxy work without bound.
		if c.refused++; c.refused > h2MaxRefused {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
		c.waitRoomLocked()
		c.wfr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		c.wake.Signal()
		return nil
	}
	st := &h2Stream{
		c:             c,
		id:            id,
		contentLength: -1,
		sendWindow:    c.initWindow,
		recvWindow:    h2StreamWindow,
		inEOF:         b.ended,
		noBody:        b.ended,
		tooLarge:      b.truncated,
	}
	if !b.truncated {
		if code := st.takeHead(b); code != http2.ErrCodeNo {
			c.waitRoomLocked()
			c.wfr.WriteRSTStream(id, code)
			c.wake.Signal()
			return nil
		}
	}
	c.streams[id] = st
	c.idle.Stop()
	select {
	case c.work <- st: // an idle worker takes it
	default:
		c.handlers.Add(1)
		go c.worker(st)
	}
	return nil
}

// worker serves streams of the connection, one at a time, until the connection ends.
// Workers stay for the next stream rather than exit: a new goroutine for each stream
// would grow its stack again on every request (copying it several times).
func (c *h2Conn) worker(st *h2Stream) {
	defer c.handlers.Done()
	var body []byte // the answer's buffer, kept from stream to stream
	for {
		st.body = body[:0]
		c.runStream(st)
		if cap(st.body) <= h2BodyChunk {
			body = st.body
		}
		select {
		case st = <-c.work:
		case <-c.quit:
			return
		}
	}
}

// takeHead checks a request's header block (RFC 9113 section 8.3) and keeps what the
// stream needs. The block reader has checked the field names and values, and the order
// and uniqueness of the pseudo-fields.
func (st *h2Stream) takeHead(b *h2Block) http2.ErrCode {
	for _, hf := range b.pseudoFields() {
		switch hf.Name {
		case ":method":
			st.method = hf.Value
		case ":scheme":
			st.scheme = hf.Value
		case ":authority":
			st.authority = hf.Value
		case ":path":
			st.path = hf.Value
		default: // :protocol (extended CONNECT is not offered), :status
			return http2.ErrCodeProtocol
		}
	}
	// The method, path and authority become an HTTP/1.1 request line and Host field:
	// they are held to what the HTTP/1.1 parser accepts, so that no space or control
	// byte can split them there.
	if !isToken([]byte(st.method)) || st.authority != "" && !validHost([]byte(st.authority)) {
		return http2.ErrCodeProtocol
	}
	for i := 0; i < len(st.path); i++ {
		if c := st.path[i]; c <= ' ' || c == 0x7f {
			return http2.ErrCodeProtocol
		}
	}
	if st.method == "CONNECT" {
		if st.scheme != "" || st.path != "" || st.authority == "" {
			return http2.ErrCodeProtocol
		}
	} else if st.scheme == "" || st.path == "" || st.path[0] != '/' && (st.path != "*" || st.method != "OPTIONS") {
		return http2.ErrCodeProtocol
	}
	st.fields = b.keepRegular()
	for _, hf := range st.fields {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return http2.ErrCodeProtocol // connection-specific fields are malformed in HTTP/2
		case "host":
			if st.authority == "" && !validHost([]byte(hf.Value)) {
				return http2.ErrCodeProtocol
			}
		case "te":
			if hf.Value != "trailers" {
				return http2.ErrCodeProtocol
			}
		case "expect":
			st.expect100 = strings.EqualFold(hf.Value, "100-continue")
		case "content-length":
			n, err := strconv.ParseUint(hf.Value, 10, 63)
			if err != nil || st.contentLength >= 0 && int64(n) != st.contentLength {
				return http2.ErrCodeProtocol
			}
			st.contentLength = int64(n)
		}
	}
	if st.noBody && st.contentLength > 0 {
		return http2.ErrCodeProtocol // a body announced, and the stream ended with its head
	}
	return http2.ErrCodeNo
}

// runStream serves one stream and then closes it.
func (c *h2Conn) runStream(st *h2Stream) {
	defer c.endStream(st)
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.s.log.Error("proxy: HTTP/2 handler panic", "err", v)
			}
			// The answer is cut: the client must not take it for whole.
			c.mu.Lock()
			c.resetLocked(st, http2.ErrCodeInternal)
			c.mu.Unlock()
		}
	}()
	if st.tooLarge {
		st.refuse(errHeadTooLarge)
	} else {
		h2Handler{c.s, c.via}.serve(st)
	}
	st.send(true)
}

// refuse answers a request the proxy does not serve, as http.Error would.
func (st *h2Stream) refuse(se *statusError) {
	st.c.s.countAnswer(nil, nil, se.code)
	h := st.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if se.code == 503 {
		h.Set("Retry-After", "1")
	}
	st.WriteHeader(se.code)
	io.WriteString(st, se.msg+"\n")
}

// request builds the http.Request a handler sees.
func (st *h2Stream) request() *http.Request {
	u := &url.URL{Path: "*"}
	if st.path != "*" && st.method != "CONNECT" {
		var err error
		if u, err = url.ParseRequestURI(st.path); err != nil {
			return nil
		}
	}
	hdr := make(http.Header, len(st.fields))
	vals := make([]string, 0, len(st.fields)) // one array for the values of every field
	for _, hf := range st.fields {
		k := http.CanonicalHeaderKey(hf.Name)
		vs := hdr[k]
		switch {
		case vs == nil:
			vals = append(vals, hf.Value)
			hdr[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		case k == "Cookie":
			// Cookie crumbs join into one field again (RFC 9113 section 8.2.3).
			vs[0] += "; " + hf.Value
		default:
			hdr[k] = append(vs, hf.Value)
		}
	}
	host := st.authority
	if host == "" {
		host = hdr.Get("Host")
	}
	r := &http.Request{
		Method:     st.method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     hdr,
		Host:       host,
		RemoteAddr: st.c.remoteAddr,
		RequestURI: st.path,
		TLS:        st.c.tls,
		Body:       http.NoBody,
	}
	if !st.noBody {
		r.Body, r.ContentLength = h2Body{st}, st.contentLength
	}
	return r.WithContext(st.context())
}

// context returns the stream's context, cancelled when the stream ends, is reset or
// loses its connection. It is made on first use: the common path never needs one.
func (st *h2Stream) context() context.Context {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.ctx == nil {
		st.ctx, st.cancel = context.WithCancel(context.Background())
		if st.cancelled {
			st.cancel()
		}
	}
	return st.ctx
}

// gone reports whether the stream ended, was reset or lost its connection.
func (st *h2Stream) gone() bool {
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	return st.cancelled
}

func (st *h2Stream) cancelLocked() {
	st.cancelled = true
	if st.cancel != nil {
		st.cancel()
	}
	if a := st.attempt; a != nil {
		st.attempt = nil
		// Not under c.mu: ending the attempt resets the upstream stream, whose
		// connection's lock is taken before this one elsewhere.
		go a.end(context.Canceled)
	}
}

// watch makes the stream's end end the attempt a, at once if the stream has ended.
func (st *h2Stream) watch(a *h2Attempt) {
	c := st.c
	c.mu.Lock()
	gone := st.cancelled
	if !gone {
		st.attempt = a
	}
	c.mu.Unlock()
	if gone {
		a.end(context.Canceled)
	}
}

// unwatch undoes watch, for an attempt that is over.
func (st *h2Stream) unwatch(a *h2Attempt) {
	c := st.c
	c.mu.Lock()
	if st.attempt == a {
		st.attempt = nil
	}
	c.mu.Unlock()
}

// endStream closes a stream whose handler is done: a request body still coming is
// stopped (RST_STREAM NO_ERROR after a complete answer, RFC 9113 section 8.1), what
// was not read of it goes back to the connection's window, and the connection may now
// go idle or finish.
func (c *h2Conn) endStream(st *h2Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.reset && !st.inEOF && !c.dead {
		st.reset = true
		c.wfr.WriteRSTStream(st.id, http2.ErrCodeNo)
		c.wake.Signal()
	}
	if left := len(st.in) - st.inOff; left > 0 {
		c.creditLocked(int64(left))
	}
	st.in = nil
	delete(c.streams, st.id)
	st.cancelLocked()
	if len(c.streams) == 0 {
		if c.goneAway {
			c.finishing = true
			c.wake.Signal()
		} else if !c.dead {
			c.idle.Reset(c.s.cfg.IdleTimeout)
		}
	}
}

// wakeBody wakes a body read that waits; c.mu is held.
func (st *h2Stream) wakeBody() {
	select {
	case st.inReady <- struct{}{}:
	default:
	}
}

// creditLocked gives n bytes of the stream's receive window back once a quarter of the
// window has been read.
func (st *h2Stream) creditLocked(n int64) {
	st.recvUnacked += n
	if st.recvUnacked >= h2StreamWindow/4 && !st.inEOF && !st.reset {
		st.c.wfr.WriteWindowUpdate(st.id, uint32(st.recvUnacked))
		st.recvWindow += st.recvUnacked
		st.recvUnacked = 0
		st.c.wake.Signal()
	}
}

// h2Body is a request body as it arrives in DATA frames.
type h2Body struct{ st *h2Stream }

func (b h2Body) Read(p []byte) (int, error) {
	st, c := b.st, b.st.c
	if st.expect100 {
		// The handler reads the body: the client may send it now (RFC 9110 section
		// 10.1.1), unless the final answer went first.
		st.expect100 = false
		c.mu.Lock()
		if !st.reset && !c.dead && !st.sentHead {
			c.block.Reset()
			c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
			c.writeBlockLocked(st.id, false)
		}
		c.mu.Unlock()
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	c.mu.Lock()
	for st.inOff == len(st.in) {
		if st.inEOF {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if st.reset || c.dead || st.bodyClosed {
			c.mu.Unlock()
			return 0, errStreamGone
		}
		if st.inReady == nil {
			st.inReady = make(chan struct{}, 1)
		}
		ready := st.inReady
		c.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(c.s.cfg.BodyTimeout)
		}
		select {
		case <-ready:
		case <-timer.C:
			return 0, errTimeout // the client stopped sending its body
		}
		c.mu.Lock()
	}
	n := copy(p, st.in[st.inOff:])
	if st.inOff += n; st.inOff == len(st.in) {
		st.in, st.inOff = st.in[:0], 0
	}
	c.creditLocked(int64(n))
	st.creditLocked(int64(n))
	c.mu.Unlock()
	return n, nil
}

// trailerFields returns the request's trailer fields that may be forwarded (those that
// belong in a head are dropped, as from an HTTP/1.1 trailer section). They are known once
// a Read has returned io.EOF.
func (b h2Body) trailerFields() []hpack.HeaderField {
	c := b.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var fs []hpack.HeaderField
	for _, f := range b.st.trailers {
		if trailerAllowed([]byte(f.Name)) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Close ends reads of the body, also one waiting for DATA: a transport that sends the
// body upstream closes it when the answer ends first, and waits for the read to return.
func (b h2Body) Close() error {
	c := b.st.c
	c.mu.Lock()
	b.st.bodyClosed = true
	b.st.wakeBody()
	c.mu.Unlock()
	return nil
}

// Header, WriteHeader, Write and FlushError make the stream the handler's
// http.ResponseWriter. The head is sent with the first flush or at the end, so that a
// small answer leaves as HEADERS and one DATA frame in the same write.
func (st *h2Stream) Header() http.Header {
	if st.hdr == nil {
		st.hdr = make(http.Header, 8)
	}
	return st.hdr
}

func (st *h2Stream) WriteHeader(code int) {
	if st.wroteHeader || code < 200 {
		return // interim answers are not passed on
	}
	st.wroteHeader, st.status = true, code
}

// h2BodyChunk is how much of an answer is gathered before it is framed.
const h2BodyChunk = 16 << 10

func (st *h2Stream) Write(p []byte) (int, error) {
	if !st.wroteHeader {
		st.WriteHeader(http.StatusOK)
	}
	if st.method == "HEAD" || st.status == 204 || st.status == 304 {
		return len(p), nil
	}
	if len(st.body)+len(p) <= h2BodyChunk {
		st.body = append(st.body, p...)
		return len(p), nil
	}
	if err := st.send(false); err != nil {
		return 0, err
	}
	if len(p) <= h2BodyChunk {
		st.body = append(st.body, p...)
		return len(p), nil
	}
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := st.sendDataLocked(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (st *h2Stream) FlushError() error {
	if !st.wroteHeader {
		st.WriteHeader(http.StatusOK)
	}
	return st.send(false)
}

func (st *h2Stream) Flush() { st.FlushError() }

// send frames the head (if not sent yet) and the gathered body; end ends the stream,
// with the trailers if the handler set any.
func (st *h2Stream) send(end bool) error {
	if end && !st.wroteHeader {
		st.WriteHeader(http.StatusOK)
	}
	trailers := end && (len(st.rawTrailers) > 0 || st.hasTrailers())
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.ended {
		return nil
	}
	if st.reset || c.dead {
		return errStreamGone
	}
	st.ended = end
	if !st.sentHead {
		c.waitRoomLocked()
		endHead := end && len(st.body) == 0 && !trailers
		c.writeHeadLocked(st, endHead, end)
		st.sentHead = true
		if endHead {
			return nil
		}
	} else if !end && len(st.body) == 0 {
		return nil
	}
	err := st.sendDataLocked(st.body, end && !trailers)
	st.body = st.body[:0]
	if err == nil && trailers {
		c.waitRoomLocked()
		c.block.Reset()
		for _, f := range st.rawTrailers {
			c.enc.WriteField(f)
		}
		for k, vs := range st.hdr {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && !hopByHopName(name) {
				for _, v := range vs {
					c.enc.WriteField(hpack.HeaderField{Name: strings.ToLower(name), Value: v})
				}
			}
		}
		c.writeBlockLocked(st.id, true)
	}
	return err
}

func (st *h2Stream) hasTrailers() bool {
	for k := range st.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// sendDataLocked queues p in DATA frames as the flow-control windows allow, waiting for
// WINDOW_UPDATEs when they are shut; end sets END_STREAM on the last frame.
func (st *h2Stream) sendDataLocked(p []byte, end bool) error {
	c := st.c
	for {
		for len(p) > 0 && (c.sendWindow <= 0 || st.sendWindow <= 0) || len(c.out) > h2MaxOut {
			if st.reset || c.dead {
				return errStreamGone
			}
			c.room.Wait()
		}
		if st.reset || c.dead {
			return errStreamGone
		}
		n := min(int64(len(p)), int64(c.peerMaxFrame), c.sendWindow, st.sendWindow)
		last := n == int64(len(p))
		c.wfr.WriteData(st.id, end && last, p[:n])
		c.sendWindow -= n
		st.sendWindow -= n
		c.wake.Signal()
		if last {
			return nil
		}
		p = p[n:]
	}
}

// writeHeadLocked queues the response head. When the whole answer is known (whole)
// and the handler gave no length, content-length is added, as net/http does.
func (c *h2Conn) writeHeadLocked(st *h2Stream, end, whole bool) {
	c.block.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusText3(st.status)})
	hasLength := false
	for _, f := range st.rawHead {
		c.enc.WriteField(f)
		hasLength = hasLength || f.Name == "content-length"
	}
	for k, vs := range st.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) || hopByHopName(k) {
			continue
		}
		name := lowerName(k)
		if name == "content-length" {
			hasLength = true
		}
		for _, v := range vs {
			c.enc.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
	if whole && !hasLength && st.method != "HEAD" && st.status != 204 && st.status != 304 {
		c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(st.body))})
	}
	c.writeBlockLocked(st.id, end)
}

// writeBlockLocked queues the header block in c.block as HEADERS and as many
// CONTINUATION frames as the client's frame size needs.
func (c *h2Conn) writeBlockLocked(id uint32, end bool) {
	writeHeaderBlock(c.wfr, id, c.block.Bytes(), c.peerMaxFrame, end)
	c.wake.Signal()
}

// statusText3 returns a status code as its three digits, without allocating for the
// common ones.
func statusText3(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 308:
		return "308"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}

// lowerName returns a field name in lower case (as HTTP/2 sends names), without
// allocating for the common ones.
func lowerName(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "Content-Length":
		return "content-length"
	case "Date":
		return "date"
	case "Server":
		return "server"
	case "Via":
		return "via"
	case "Cache-Control":
		return "cache-control"
	case "Etag":
		return "etag"
	case "Last-Modified":
		return "last-modified"
	case "Vary":
		return "vary"
	case "Content-Encoding":
		return "content-encoding"
	case "Set-Cookie":
		return "set-cookie"
	case "Location":
		return "location"
	case "Accept-Ranges":
		return "accept-ranges"
	case "X-Content-Type-Options":
		return "x-content-type-options"
	case "Retry-After":
		return "retry-after"
	case "Grpc-Status":
		return "grpc-status"
	case "Grpc-Message":
		return "grpc-message"
	}
	return strings.ToLower(k)
}
