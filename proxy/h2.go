package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"
)

// HTTP/2 (over TLS with ALPN "h2", or cleartext with prior knowledge) is served by the
// proxy's own HTTP/2 server (h2server.go), which hands each stream to h2Handler; the
// handler forwards it upstream over the same HTTP/1.1 keep-alive pools as the fast path.
// Connections reach the HTTP/2 server through connListener: the fast path reads the
// first bytes of every connection and passes on those that start with the HTTP/2
// preface, or that negotiated h2 by ALPN.

// h2Preface is how every HTTP/2 connection starts (RFC 9113 section 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// connListener is a net.Listener whose connections are handed to it by the proxy.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{addr: &net.TCPAddr{}, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// hand passes c to the HTTP/2 server; it reports false when the listener is closed.
func (l *connListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a connection whose first bytes were already read.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// h2Request is the state of one HTTP/2 request, pooled.
type h2Request struct {
	c        conn
	fw       *bufio.Writer
	sink     h2Sink              // fw's destination
	fields   []hpack.HeaderField // the response head
	up       h2UpReq             // the upstream request of an h2 pool
	trailers []hpack.HeaderField // the response trailers from an h2 pool
	// arena holds the bytes of the request's head (method, host, path, target, fields),
	// copied in one buffer reused from request to request, so that the head costs no
	// allocation per field. scratch gathers the response's field values.
	arena, scratch []byte
}

// keep appends s to the arena a and returns a and the copy.
func keep(a []byte, s string) ([]byte, []byte) {
	n := len(a)
	a = append(a, s...)
	return a, a[n:len(a):len(a)]
}

// h2Handler proxies one HTTP/2 request.
type h2Handler struct {
	s   *Server
	via []string // the Via value the proxy adds, shared by every response (read only)
}

// serve proxies the request of one HTTP/2 stream. A request for a pool — HTTP/1.1 or h2 —
// goes from the stream's decoded fields to the upstream and back into the stream's frames
// without an http.Request or an http.Header (for an h2 pool, see h2up.go); static files
// get an http.Request and the stream as their ResponseWriter.
func (h h2Handler) serve(st *h2Stream) {
	s := h.s
	s.stats.requests.Add(1)
	hr := s.h2reqs.Get().(*h2Request)
	defer s.h2reqs.Put(hr)
	c := &hr.c
	*c = conn{srv: s, https: st.c.tls != nil, remote: st.c.remote, req: c.req, resp: c.resp}
	if f := s.stats.inFlight.Add(1); s.cfg.MaxInFlight > 0 && f > int64(s.cfg.MaxInFlight) {
		s.stats.inFlight.Add(-1)
		s.stats.shed.Add(1)
		st.refuse(errOverloaded)
		return
	}
	defer s.stats.inFlight.Add(-1)
	start := time.Now()
	defer func() {
		if c.route != nil {
			c.route.latency.observe(time.Since(start))
		}
	}()
	c.req.reset()
	c.resp.reset()
	req := &c.req
	a := hr.arena[:0]
	a, req.method = keep(a, st.method)
	req.minor = 1
	req.contentLength = st.contentLength
	if st.noBody && req.contentLength < 0 && st.method != "GET" && st.method != "HEAD" {
		req.contentLength = 0 // a POST without a body says so to an HTTP/1.1 upstream
	}
	req.chunked = !st.noBody && st.contentLength < 0
	host, cookies := st.authority, 0
	for _, f := range st.fields {
		switch f.Name {
		case "trailer":
			// The client announces trailers: they can reach an HTTP/1.1 upstream only
			// after a chunked body, whatever content-length said.
			req.chunked = !st.noBody
		case "host":
			if host == "" {
				host = f.Value
			}
			continue
		case "cookie":
			cookies++
			continue // joined below
		}
		var nb, vb []byte
		a, nb = keep(a, f.Name)
		a, vb = keep(a, f.Value)
		req.fields = append(req.fields, field{nb, vb})
		if f.Name == "via" {
			req.via = append(req.via, vb)
		}
	}
	if cookies > 0 {
		// Cookie crumbs join into one field for HTTP/1.1 (RFC 9113 section 8.2.3).
		n := len(a)
		for _, f := range st.fields {
			if f.Name == "cookie" {
				if len(a) > n {
					a = append(a, "; "...)
				}
				a = append(a, f.Value...)
			}
		}
		var nb []byte
		a, nb = keep(a, "cookie")
		req.fields = append(req.fields, field{nb, a[n : len(a)-len("cookie")]})
	}
	a, req.host = keep(a, host)
	var target []byte
	a, target = keep(a, st.path) // the :path the client sent, as the fast path sends its target
	hr.arena = a
	path := target
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	fail := func(se *statusError) { st.refuse(se) }
	for _, v := range req.via {
		if bytes.Contains(v, s.via[4:]) {
			fail(errLoop)
			return
		}
	}
	if st.method == http.MethodConnect {
		fail(errMethodForbidden)
		return
	}
	if s.cfg.MaxBodyBytes >= 0 && st.contentLength > s.cfg.MaxBodyBytes {
		fail(errBodyTooLarge)
		return
	}
	if s.redirectsToHTTPS(c.https, path) {
		h.redirect(st, c, &s.toHTTPS, target)
		return
	}
	rt := s.match(hostname(req.host), path, req)
	if rt == nil {
		fail(errNoRoute)
		return
	}
	c.route = rt
	if rt.redirect != "" {
		h.redirect(st, c, rt, target)
		return
	}
	if rt.static != nil {
		r := st.request()
		if r == nil {
			fail(errBadTarget)
			return
		}
		rt.serveStaticHTTP(st, r, s)
		return
	}
	if rt.pool.cfg.Protocol == protoH2 {
		h.forwardH2(st, hr, c, target, fail)
		return
	}
	p := rt.pool
	p.depositRetryToken()
	hasBody := !st.noBody
	safe := idempotent(req.method) && !hasBody
	var triedP, triedB uint64
	var lastErr *statusError
	var uc *upConn
	var u *upstream
	fresh := false // retrying the same host on a new connection after a stale keep-alive one

	// The route's total timeout bounds the exchange up to the response head.
	ctx, deadline := context.Background(), time.Time{}
	if rt.timeout > 0 {
		deadline = time.Now().Add(rt.timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		if st.gone() {
			return // the client is gone: nothing to answer, and no host to blame
		}
		if fresh {
			attempt--
		} else if attempt > 0 && (attempt > p.cfg.Retries || !p.takeRetryToken()) {
			fail(lastErr)
			return
		} else if attempt > 0 && !p.waitRetry(attempt, deadline) {
			fail(errUpTimeout) // the route's timeout would pass before the retry
			return
		}
		var key []byte
		if p.hash != nil {
			key = p.hashKey.key(req, c.remote)
		}
		if fresh {
			fresh = false
		} else if u = p.pick(&c.view, &triedP, &triedB, key, p.stickyValue(req)); u == nil {
			if lastErr == nil {
				lastErr = p.noPick()
			}
			fail(lastErr)
			return
		}
		u.requests.Add(1)
		u.inflight.Add(1)
		var err error
		if uc, err = u.get(ctx); err != nil {
			u.inflight.Add(-1)
			u.failed()
			lastErr = upstreamError(err)
			continue
		}
		uc.conn.timeout = rt.upstreamTimeout(p)
		uc.conn.setLimit(deadline)
		c.writeRequestHead(uc.bw, req.host, target, false, u)
		if hasBody {
			err = copyBody(uc.bw, h2Body{st}, req.chunked, s.cfg.MaxBodyBytes)
			if err == nil && req.chunked {
				err = writeChunkedEnd(uc.bw, h2Body{st}.trailerFields())
			}
		}
		if err == nil {
			if err = uc.bw.Flush(); err != nil {
				err = upstreamError(err)
			}
		}
		if err == nil {
			err = c.readResponseHead(uc, 0)
		}
		if err == nil {
			break
		}
		uc.close()
		u.inflight.Add(-1)
		var se *statusError
		if !errors.As(err, &se) {
			se = upstreamError(err)
		}
		lastErr = se
		if se.code < 500 { // the client's body was bad or too large
			fail(se)
			return
		}
		if uc.reused && safe && se != errUpTimeout {
			// A keep-alive connection the host closed while idle: try the same host on a
			// fresh connection, without spending the budget or blaming the host. u.get
			// dials when the idle list is empty, and may reuse another idle connection,
			// which is as good.
			fresh = true
			continue
		}
		u.failed()
		if !safe {
			fail(lastErr)
			return
		}
	}
	uc.conn.setLimit(time.Time{}) // the route's timeout ends with the head: the body streams
	defer u.inflight.Add(-1)
	resp := &c.resp
	mode := bodyUntilClose
	switch {
	case st.method == http.MethodHead || resp.status == 204 || resp.status == 304 || resp.status == 101:
		mode = bodyNone
	case resp.chunked:
		mode = bodyChunked
	case resp.contentLength >= 0:
		mode = bodyLength
	}
	st.rawHead = h.responseHead(hr, resp, rt, p, u)
	defer func() { st.rawHead = nil }() // it lives in hr, which goes back to the pool
	s.countAnswer(rt, u, resp.status)
	if s.cfg.AccessLog {
		s.log.Info("access", "remote", string(c.remote), "method", st.method, "target", st.path,
			"status", resp.status, "upstream", u.addr, "proto", "HTTP/2.0")
	}
	st.WriteHeader(resp.status)
	uc.br.Discard(c.respN)
	if uc.br.Buffered() == 0 && mode != bodyNone {
		st.FlushError() // the body is not here yet: the client gets the head now (a stream may wait long)
	}
	fw := hr.fw
	hr.sink = h2Sink{st: st, flush: true}
	fw.Reset(&hr.sink)
	defer func() { fw.Reset(nil); hr.sink = h2Sink{} }()
	var err error
	switch mode {
	case bodyLength:
		err = copyN(fw, uc.br, resp.contentLength)
	case bodyChunked:
		err = copyChunkedToH2(fw, uc.br, st)
	case bodyUntilClose:
		err = copyUntilEOF(fw, uc.br, false)
	}
	if err == nil {
		// The rest goes out with END_STREAM (and for a small answer, in the same write
		// as its head): no flush of its own.
		hr.sink.flush = false
		if err = fw.Flush(); err == nil {
			err = st.send(true)
		}
	}
	if err != nil || resp.close || mode == bodyUntilClose || resp.status == 101 {
		uc.close()
		if err != nil {
			panic(http.ErrAbortHandler) // resets the stream: the client must not take a cut body as whole
		}
		return
	}
	if resp.status >= 500 {
		u.failed()
	} else {
		u.succeeded()
	}
	u.putBusy(uc)
}

// responseHead returns the HTTP/2 fields of the answer from an HTTP/1.1 upstream: its
// end-to-end fields with lower-case names, the route's rules, Via, the sticky cookie
// and content-length. Names and values are one string, sliced, and the list is hr's,
// reused: a head of any size costs one allocation.
func (h h2Handler) responseHead(hr *h2Request, resp *head, rt *route, p *pool, u *upstream) []hpack.HeaderField {
	sb := hr.scratch[:0]
	keepField := func(f *field) bool { return !resp.hopByHop(f.name) && !rt.respRules.drops(f.name) }
	for i := range resp.fields {
		if f := &resp.fields[i]; keepField(f) {
			sb = appendLower(sb, f.name)
			sb = append(sb, f.value...)
		}
	}
	for _, f := range rt.respRules.set {
		sb = appendLower(sb, f.name)
		sb = append(sb, f.value...)
	}
	hr.scratch = sb
	all := string(sb)
	fs := hr.fields[:0]
	take := func(name, value []byte) {
		fs = append(fs, hpack.HeaderField{Name: all[:len(name)], Value: all[len(name) : len(name)+len(value)]})
		all = all[len(name)+len(value):]
	}
	for i := range resp.fields {
		if f := &resp.fields[i]; keepField(f) {
			take(f.name, f.value)
		}
	}
	for _, f := range rt.respRules.set {
		take(f.name, f.value)
	}
	fs = append(fs, hpack.HeaderField{Name: "via", Value: h.via[0]})
	if p.cfg.StickyCookie != "" && !u.backup && string(p.stickyValue(&hr.c.req)) != u.stickyID {
		fs = append(fs, hpack.HeaderField{Name: "set-cookie", Value: p.cfg.StickyCookie + "=" + u.stickyID + "; Path=/; HttpOnly"})
	}
	if resp.contentLength >= 0 && !resp.chunked {
		fs = append(fs, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(resp.contentLength, 10)})
	}
	hr.fields = fs
	return fs
}

// appendLower appends name in lower case, as HTTP/2 sends field names.
func appendLower(b, name []byte) []byte {
	for _, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b = append(b, ch)
	}
	return b
}

// h2Sink is what the body copy writes to: the stream, flushed after each write when flush
// is set, so that what the copy flushes (before it would wait for the upstream) reaches
// the client as a DATA frame at once.
type h2Sink struct {
	st    *h2Stream
	flush bool
}

func (k *h2Sink) Write(p []byte) (int, error) {
	n, err := k.st.Write(p)
	if err == nil && k.flush {
		err = k.st.FlushError()
	}
	return n, err
}

// redirect answers a request of a redirecting route (or of the redirect to HTTPS), as
// the HTTP/1.1 path does.
func (h h2Handler) redirect(st *h2Stream, c *conn, rt *route, target []byte) {
	s := h.s
	var loc []byte
	if rt.redirect == "https" {
		loc = append(loc, "https://"...)
		loc = append(loc, hostname(c.req.host)...)
		loc = append(loc, s.httpsPort...)
	} else {
		loc = append(loc, strings.TrimSuffix(rt.redirect, "/")...)
	}
	if target[0] == '/' {
		loc = append(loc, target...)
	} else {
		loc = append(loc, '/')
	}
	s.countAnswer(rt, nil, rt.redirectCode)
	st.Header().Set("Location", string(loc))
	st.WriteHeader(rt.redirectCode)
}

// putBusy gives back an upstream connection that served an HTTP/2 stream. HTTP/2
// clients run many streams at once (h2load's -c32 -m10: 320), and a host with more
// requests in flight than MaxIdlePerHost would otherwise close what it cannot keep and
// dial again for the next burst of streams, over and over (a tenth of the CPU under
// h2load). So the connections stay, up to h2MaxIdle per host: the idle sweep closes
// those that then stay unused for the pool's idle timeout.
func (u *upstream) putBusy(uc *upConn) {
	u.putUpTo(uc, max(u.pool.cfg.MaxIdlePerHost, h2MaxIdle))
}

// h2MaxIdle bounds the idle connections putBusy keeps to one host: more than the
// streams of one HTTP/2 connection (h2MaxStreams).
const h2MaxIdle = 256

// copyBody streams an HTTP/2 request body upstream, with chunked framing (but for its last
// chunk, see writeChunkedEnd) when its length is unknown.
func copyBody(dst *bufio.Writer, body interface{ Read([]byte) (int, error) }, chunked bool, limit int64) error {
	buf := make([]byte, 16<<10)
	var total int64
	for {
		n, err := body.Read(buf)
		if n > 0 {
			total += int64(n)
			if limit >= 0 && total > limit {
				return errBodyTooLarge
			}
			if werr := writeData(dst, buf[:n], chunked); werr != nil {
				return werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// copyChunkedToH2 copies a chunked response body from an HTTP/1.1 upstream to an HTTP/2
// client as bare data, and its trailer fields (those that may be trailers) into the
// stream's trailers, which go out in a HEADERS frame after the DATA.
func copyChunkedToH2(dst *bufio.Writer, src *bufio.Reader, st *h2Stream) error {
	return copyChunkedData(dst, src, -1, func(name, value string) {
		k := http.TrailerPrefix + name
		st.Header()[k] = append(st.Header()[k], value)
	})
}

// copyChunkedData copies the data of a chunked body bare (at most limit bytes; < 0: no
// limit) and gives each of its trailer fields that may be a trailer to trailer, with its
// name canonical. A malformed body is errBadChunk; one over the limit errBodyLimit.
func copyChunkedData(dst *bufio.Writer, src *bufio.Reader, limit int64, trailer func(name, value string)) error {
	var total int64
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errBadChunk
		}
		if size == 0 {
			break
		}
		if total += size; limit >= 0 && total > limit {
			return errBodyLimit
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		if line, err = readLine(dst, src); err != nil {
			return err
		} else if len(line) != 0 {
			return errBadChunk
		}
	}
	n := 0
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if n += len(line); n > maxTrailerBytes || !validField(line) {
			return errBadChunk
		}
		colon := bytes.IndexByte(line, ':')
		if name := line[:colon]; trailerAllowed(name) {
			trailer(http.CanonicalHeaderKey(string(name)), strings.Trim(string(line[colon+1:]), " \t"))
		}
	}
}

// writeChunkedEnd ends a chunked body: the last chunk and the trailer section with the
// request's trailer fields (names and values were checked as their header block was read:
// tokens in lower case, no control bytes in values).
func writeChunkedEnd(dst *bufio.Writer, trailers []hpack.HeaderField) error {
	dst.WriteString("0\r\n")
	for _, f := range trailers {
		dst.WriteString(f.Name)
		dst.WriteString(": ")
		dst.WriteString(f.Value)
		dst.WriteString("\r\n")
	}
	return write(dst, crlf)
}
