package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown: an idle connection waits for its next request and may
// be closed at once; an active one is serving a request and is closed after it.
const (
	stateActive = iota
	stateIdle
)

// Errors answered for upstream trouble.
var (
	errNoUpstream  = &statusError{503, "no healthy upstream host"}
	errAtCapacity  = &statusError{503, "upstream hosts at capacity"}
	errOverloaded  = &statusError{503, "proxy overloaded"}
	errBadGateway  = &statusError{502, "upstream connection failed"}
	errBadUpstream = &statusError{502, "upstream sent an invalid response"}
	errUpTimeout   = &statusError{504, "upstream timed out"}
)

// conn is one client connection. One goroutine serves it from the first request to the
// last: it reads a request, writes it to an upstream connection, and copies the answer
// back, so a request costs no goroutine hand-off.
type conn struct {
	srv   *Server
	nc    net.Conn
	cc    *timeoutConn // nc with a per-read deadline while a body is read
	br    *bufio.Reader
	bw    *bufio.Writer
	state atomic.Int32

	remote []byte // client IP, for X-Forwarded-For
	https  bool   // the client connection is TLS
	handed bool   // the connection went to the HTTP/2 server
	req    head
	resp   head
	route  *route // the route of the request being served
	// setSticky is the sticky cookie value to set on the response ("" for none).
	setSticky string
	// For the access log: the status answered and the host that answered it.
	status   int
	upstream string
	respN    int // length of the response head at the start of the upstream reader
	view     pickView
}

func (c *conn) serve() { c.run(nil) }

// run serves the connection until it closes. first, when not nil, finishes what an event
// loop began before it handed the connection over (loop_linux.go), and reports whether
// the connection goes on to its next request.
func (c *conn) run(first func() bool) {
	s := c.srv
	defer s.forget(c)
	c.br = s.readers.Get().(*bufio.Reader)
	c.br.Reset(c.cc)
	c.bw = s.writers.Get().(*bufio.Writer)
	c.bw.Reset(c.nc)
	defer func() {
		if !c.handed {
			c.bw.Flush()
			c.nc.Close()
		}
		c.br.Reset(nil)
		c.bw.Reset(nil)
		s.readers.Put(c.br)
		s.writers.Put(c.bw)
	}()
	if c.remote == nil {
		c.remote = remoteIP(c.nc.RemoteAddr())
	}
	c.req.reset()
	c.resp.reset()
	if first != nil {
		if !first() {
			return
		}
	} else if c.handOff() {
		return
	}
	for c.next() {
	}
}

// remoteIP is the client address written in X-Forwarded-For and Forwarded.
func remoteIP(a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		b, _ := ta.IP.AppendText(nil)
		return b
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return []byte(host)
	}
	return nil
}

// handOff gives a connection that speaks HTTP/2 (negotiated by ALPN, or cleartext
// starting with the preface) to the HTTP/2 server, and reports whether it did.
func (c *conn) handOff() bool {
	s := c.srv
	c.cc.setDeadline(time.Now().Add(s.cfg.HeaderTimeout), 0)
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			s.log.Debug("proxy: TLS handshake", "remote", string(c.remote), "err", err)
			return false
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return c.give(tc)
		}
	}
	b, err := c.br.Peek(1)
	if err != nil || b[0] != 'P' {
		return false
	}
	if b, err = c.br.Peek(len(h2Preface)); err != nil || string(b) != h2Preface {
		return false
	}
	pending := make([]byte, c.br.Buffered())
	c.br.Read(pending)
	return c.give(&replayConn{Conn: c.nc, pending: pending})
}

// give hands nc to the HTTP/2 server. After a successful hand-off the connection is no
// longer this goroutine's: serve must not close it.
func (c *conn) give(nc net.Conn) bool {
	c.cc.setDeadline(time.Time{}, 0)
	if !c.srv.h2ln.hand(nc) {
		return false
	}
	c.handed = true
	return true
}

// next serves one request and reports whether the connection stays open.
func (c *conn) next() bool {
	s := c.srv
	c.cc.timeout = 0
	c.cc.setDeadline(time.Now().Add(s.cfg.IdleTimeout), s.cfg.IdleTimeout/16)
	c.state.Store(stateIdle)
	if s.closing.Load() {
		return false
	}
	if c.br.Buffered() == 0 && c.bw.Buffered() > 0 {
		if c.bw.Flush() != nil {
			return false
		}
	}
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	c.state.Store(stateActive)
	// Most heads arrive whole: only a partial one needs the head deadline (slowloris).
	buf, _ := c.br.Peek(c.br.Buffered())
	n, skip, err := headEnd(buf)
	if err == nil && n == 0 {
		c.cc.setDeadline(time.Now().Add(s.cfg.HeaderTimeout), 0)
		n, skip, err = readHead(c.br, c.bw)
	}
	if err != nil {
		c.refuse(err)
		return false
	}
	raw, _ := c.br.Peek(n)
	c.req.reset()
	if err := c.req.parseRequest(raw[skip:]); err != nil {
		c.refuse(err)
		return false
	}
	// The idle or head deadline stays set until the body is read, which sets its own
	// before each read; the head is complete, so no read happens before then.
	c.cc.timeout = s.cfg.BodyTimeout
	s.stats.requests.Add(1)
	if f := s.stats.inFlight.Add(1); s.cfg.MaxInFlight > 0 && f > int64(s.cfg.MaxInFlight) {
		s.stats.inFlight.Add(-1)
		s.stats.shed.Add(1)
		c.fail(errOverloaded)
		return false
	}
	start := time.Now()
	c.route = nil
	c.status, c.upstream = 0, ""
	var method, target string
	if s.cfg.AccessLog {
		method, target = string(c.req.method), string(c.req.target) // the head is gone after proxy
	}
	keep := c.proxy(n)
	c.endRequest(start, method, target)
	return keep
}

// endRequest does what every request ends with, however it was served: the in-flight
// count, the route's latency and the access log line.
func (c *conn) endRequest(start time.Time, method, target string) {
	s := c.srv
	s.stats.inFlight.Add(-1)
	if c.route != nil {
		c.route.latency.observe(time.Since(start))
	}
	if s.cfg.AccessLog {
		s.log.Info("access", "remote", string(c.remote), "method", method, "target", target,
			"status", c.status, "upstream", c.upstream, "duration", time.Since(start))
	}
}

// readHead waits until br holds a whole head and returns its length and the length of
// the empty lines before it. Before blocking it flushes bw, which may hold the answer to
// the previous request.
func readHead(br *bufio.Reader, bw *bufio.Writer) (n, skip int, err error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		n, skip, err = headEnd(buf)
		if err != nil || n > 0 {
			return n, skip, err
		}
		if len(buf) >= br.Size() {
			return 0, 0, errHeadTooLarge
		}
		if bw != nil && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return 0, 0, err
			}
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, 0, errTimeout
			}
			return 0, 0, err
		}
	}
}

// refuse answers a request whose head could not be read or parsed, and logs it when the
// access log is on.
func (c *conn) refuse(err error) {
	c.status = 0
	c.fail(err)
	if c.srv.cfg.AccessLog && c.status != 0 {
		c.srv.log.Info("access", "remote", string(c.remote), "status", c.status, "error", err.Error())
	}
}

// fail answers a request the proxy refuses or cannot serve; the connection is then
// closed, because after a refused head the byte stream is no longer trustworthy.
func (c *conn) fail(err error) {
	var se *statusError
	if !errors.As(err, &se) {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			return // the client left; there is no one to answer
		case errors.As(err, &ne) && ne.Timeout():
			se = errTimeout
		default:
			return
		}
	}
	c.srv.countAnswer(nil, nil, se.code)
	c.status = se.code
	writeStatus(c.bw, se)
	if c.bw.Flush() != nil {
		return
	}
	// Closing a socket with unread input makes the kernel send a reset, which can destroy
	// the answer before the client reads it. Half-close, then drain a bounded amount for a
	// short time (a "lingering close").
	closeWrite(c.nc)
	c.cc.timeout = 0
	c.cc.setDeadline(time.Now().Add(500*time.Millisecond), 0)
	io.CopyN(io.Discard, c.br, 256<<10)
}

func writeStatus(w *bufio.Writer, se *statusError) {
	b := w.AvailableBuffer()
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(se.code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(se.code)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if se.code == 503 {
		b = append(b, "Retry-After: 1\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(se.msg)+1), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, se.msg...)
	b = append(b, '\n')
	w.Write(b)
}

// idempotent reports whether a method may be sent twice (RFC 9110 section 9.2.2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// splitTarget returns the host and path a request is routed on, and the origin-form
// target sent upstream. An absolute-form target (RFC 9112 section 3.2.2) overrides Host.
func splitTarget(h *head) (host, path, target []byte, err error) {
	t := h.target
	switch {
	case t[0] == '/':
		host, target = h.host, t
	case len(t) > 7 && equalFold(t[:7], "http://"):
		rest := t[7:]
		end := bytes.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		host = rest[:end]
		if !validHost(host) {
			return nil, nil, nil, errBadTarget
		}
		target = rest[end:]
		if len(target) == 0 || target[0] != '/' {
			return nil, nil, nil, errBadTarget // "http://a?q" has no path
		}
	case len(t) == 1 && t[0] == '*' && string(h.method) == "OPTIONS":
		host, target = h.host, t
	default:
		return nil, nil, nil, errBadTarget
	}
	path = target
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return host, path, target, nil
}

// hostname strips the port from a Host value.
func hostname(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// proxy forwards the parsed request (its head is the first n bytes of br) and its
// answer, and reports whether the client connection stays open.
func (c *conn) proxy(n int) bool {
	s, h := c.srv, &c.req
	if string(h.method) == "CONNECT" {
		return c.connect(n)
	}
	host, path, target, err := splitTarget(h)
	if err != nil {
		c.fail(err)
		return false
	}
	pseudonym := s.via[4:]
	for _, v := range h.via {
		if bytes.Contains(v, pseudonym) {
			c.fail(errLoop)
			return false
		}
	}
	if s.cfg.MaxBodyBytes >= 0 && h.contentLength > s.cfg.MaxBodyBytes {
		c.fail(errBodyTooLarge)
		return false
	}
	if s.redirectsToHTTPS(c.https, path) {
		return c.redirect(&s.toHTTPS, host, target, n)
	}
	var r *route
	if s.forwarding() && h.target[0] != '/' && h.target[0] != '*' {
		// An absolute-form request to a forward proxy: to the host it names, if allowed.
		if r, err = s.forwardRoute(host); err != nil {
			c.fail(err)
			return false
		}
	} else {
		r = s.match(hostname(host), path, h)
	}
	if r == nil {
		c.fail(errNoRoute)
		return false
	}
	c.route = r
	if r.redirect != "" {
		return c.redirect(r, host, target, n)
	}
	if r.static != nil {
		return c.serveStatic(r, target, n)
	}
	p := r.pool
	p.depositRetryToken()
	if p.cfg.Protocol == protoH2 {
		// An HTTP/1.1 Upgrade (WebSocket) cannot be carried by an HTTP/2 request, and
		// RFC 8441's extended CONNECT is not spoken to upstreams: refused plainly rather
		// than sent as a plain request the host would answer with something else. An
		// offer of h2c alone is ignored, as a server may: the request is served as is.
		if h.wantsUpgrade() && !h.onlyH2CUpgrade() {
			c.fail(errUpgradeH2)
			return false
		}
		return c.proxyH2(r, host, target, n)
	}
	return c.proxyH1(r, host, target, n, attempts{})
}

// attempts is where a request's tries at upstream hosts stand. The goroutine path starts
// from zero; an event loop whose first try failed hands its state over (loop_linux.go),
// so that the retry rules and budget count that try as this path would.
type attempts struct {
	next           int // the attempt to make next
	triedP, triedB uint64
	lastErr        *statusError
}

// proxyH1 forwards the request to an HTTP/1.1 host of r's pool, retrying where that is
// safe, and its answer to the client; it reports whether the client connection stays open.
func (c *conn) proxyH1(r *route, host, target []byte, n int, a attempts) bool {
	s, h, p := c.srv, &c.req, r.pool
	hasBody := h.chunked || h.contentLength > 0
	safe := idempotent(h.method) && !hasBody
	cookieID := "" // the sticky cookie, copied: the head's bytes may be gone by the answer
	if p.cfg.StickyCookie != "" {
		cookieID = string(p.stickyValue(h))
	}
	isHead := string(h.method) == "HEAD"
	upgrade := h.wantsUpgrade()
	clientMinor, clientClose := h.minor, h.close
	triedP, triedB, lastErr := a.triedP, a.triedB, a.lastErr
	var err error
	var uc *upConn
	var u *upstream
	discarded := false
	ctx, deadline := context.Background(), time.Time{} // the route's total timeout
	if r.timeout > 0 {
		deadline = time.Now().Add(r.timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	for attempt := a.next; ; attempt++ {
		// Every host tried: fail now rather than spend a token and a backoff on nothing.
		if attempt > 0 && (attempt > p.cfg.Retries || attempt >= len(p.all) || !p.takeRetryToken()) {
			c.fail(lastErr)
			return false
		}
		if attempt > 0 && !p.waitRetry(attempt, deadline) {
			c.fail(errUpTimeout) // the route's timeout would pass before the retry
			return false
		}
		var key []byte
		if p.hash != nil {
			key = p.hashKey.key(h, c.remote)
		}
		u = p.pick(&c.view, &triedP, &triedB, key, p.stickyValue(h))
		if u == nil {
			if lastErr == nil {
				lastErr = p.noPick()
			}
			c.fail(lastErr)
			return false
		}
		u.requests.Add(1)
		u.inflight.Add(1)
		uc, err = u.get(ctx)
		if err != nil {
			// The request never reached the host: trying another is always safe.
			u.inflight.Add(-1)
			u.failed()
			lastErr = upstreamError(err)
			s.log.Debug("proxy: dial failed", "pool", p.name, "host", u.addr, "err", err)
			continue
		}
		uc.conn.timeout = r.upstreamTimeout(p)
		if !deadline.IsZero() {
			uc.conn.setLimit(deadline)
		}
		c.writeRequestHead(uc.bw, host, target, upgrade, u)
		if hasBody {
			if h.expect100 && clientMinor == 1 {
				// The client waits for this before it sends the body.
				c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
				if c.bw.Flush() != nil {
					uc.close()
					u.inflight.Add(-1)
					return false
				}
			}
			// From here on the head's bytes are gone: no retry after this point.
			c.br.Discard(n)
			discarded = true
			if err := c.copyRequestBody(uc); err != nil {
				uc.close()
				u.inflight.Add(-1)
				var we *writeError
				if errors.As(err, &we) {
					u.failed()
					c.fail(errBadGateway)
				} else {
					c.fail(err)
				}
				return false
			}
		}
		if err = uc.bw.Flush(); err != nil {
			err = upstreamError(err)
		}
		if err == nil {
			err = c.readResponseHead(uc, clientMinor)
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
		if uc.reused && safe && se != errUpTimeout {
			// A keep-alive connection the host closed while idle: the same host on a
			// fresh connection, without spending the budget.
			u.requests.Add(1)
			u.inflight.Add(1)
			if uc, err = u.dial(ctx); err == nil {
				uc.conn.timeout = r.upstreamTimeout(p)
				if !deadline.IsZero() {
					uc.conn.setLimit(deadline)
				}
				c.writeRequestHead(uc.bw, host, target, upgrade, u)
				if err = uc.bw.Flush(); err == nil {
					if err = c.readResponseHead(uc, clientMinor); err == nil {
						break
					}
				}
				uc.close()
			}
			u.inflight.Add(-1)
			if errors.As(err, &se) {
				lastErr = se
			} else {
				lastErr = upstreamError(err)
			}
		}
		u.failed()
		if !safe {
			c.fail(lastErr)
			return false
		}
	}
	c.setSticky = ""
	if p.cfg.StickyCookie != "" && !u.backup && cookieID != u.stickyID {
		c.setSticky = u.stickyID
	}
	if !discarded {
		c.br.Discard(n)
	}
	if !deadline.IsZero() {
		uc.conn.setLimit(time.Time{}) // the timeout ends with the head: the body streams
	}
	keep := c.forwardResponse(uc, r, isHead, upgrade, clientMinor, clientClose)
	return keep
}

// upstreamError maps a transport error to the status answered for it.
func upstreamError(err error) *statusError {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errUpTimeout
	}
	var se *statusError
	if errors.As(err, &se) {
		return se
	}
	return errBadGateway
}

// copyRequestBody streams the request body to the upstream connection.
func (c *conn) copyRequestBody(uc *upConn) error {
	h := &c.req
	if h.chunked {
		_, err := chunkedCopy{rechunk: true, trailers: true, limit: c.srv.cfg.MaxBodyBytes}.copy(uc.bw, c.br)
		if err == errBodyLimit {
			return errBodyTooLarge
		}
		return err
	}
	return copyN(uc.bw, c.br, h.contentLength)
}

// readResponseHead reads the upstream's response head into c.resp. Interim 1xx answers
// other than 100 and 101 are passed on to the client (the proxy answers Expect itself).
func (c *conn) readResponseHead(uc *upConn, clientMinor int) error {
	for interim := 0; ; interim++ {
		n, _, err := readHead(uc.br, nil)
		if err != nil {
			switch err {
			case errHeadTooLarge, errBareLF:
				return errBadUpstream
			case errTimeout:
				return errUpTimeout
			}
			return err
		}
		raw, _ := uc.br.Peek(n)
		c.respN = n
		c.resp.reset()
		if err := c.resp.parseResponse(raw); err != nil {
			return errBadUpstream
		}
		st := c.resp.status
		if st >= 200 || st == 101 {
			return nil
		}
		if interim == 8 {
			return errBadUpstream
		}
		if st != 100 && clientMinor == 1 {
			c.writeResponseHead(st, false, false, false)
		}
		uc.br.Discard(n)
	}
}

// Body framings of a response.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// forwardResponse writes the upstream's answer (its head is in c.resp and at the start
// of uc.br) to the client, returns the upstream connection to its pool when it can be
// reused, and reports whether the client connection stays open.
func (c *conn) forwardResponse(uc *upConn, r *route, isHead, upgrade bool, clientMinor int, clientClose bool) bool {
	s, resp, u := c.srv, &c.resp, uc.host
	defer u.inflight.Add(-1)
	st := resp.status
	if st == 101 {
		if !upgrade {
			uc.close()
			u.failed()
			c.fail(errBadUpstream)
			return false
		}
		s.countAnswer(r, u, st)
		c.status, c.upstream = st, u.addr
		c.writeResponseHead(st, true, false, true)
		uc.br.Discard(c.respN)
		u.succeeded()
		c.tunnel(uc)
		return false
	}
	mode := bodyUntilClose
	switch {
	case isHead || st == 204 || st == 304:
		mode = bodyNone
	case resp.chunked:
		mode = bodyChunked
	case resp.contentLength >= 0:
		mode = bodyLength
	}
	keepUp := !resp.close && mode != bodyUntilClose
	keepClient := !clientClose && !s.closing.Load()
	if clientMinor == 0 && (mode == bodyChunked || mode == bodyUntilClose) {
		keepClient = false // an HTTP/1.0 client learns the end of such a body from the close
	}
	c.writeResponseHead(st, keepClient, clientMinor == 0, false)
	c.writeFraming(u, mode, clientMinor)
	uc.br.Discard(c.respN)

	var err error
	switch mode {
	case bodyLength:
		err = copyN(c.bw, uc.br, resp.contentLength)
	case bodyChunked:
		_, err = chunkedCopy{rechunk: clientMinor == 1, trailers: true, limit: -1}.copy(c.bw, uc.br)
	case bodyUntilClose:
		err = copyUntilEOF(c.bw, uc.br, clientMinor == 1)
	}
	s.countAnswer(r, u, st)
	c.status, c.upstream = st, u.addr
	if err != nil {
		uc.close()
		var we *writeError
		if !errors.As(err, &we) {
			u.failed() // the upstream broke off or sent a bad body
			s.log.Debug("proxy: response body", "host", u.addr, "err", err)
		}
		return false
	}
	if st >= 500 {
		u.failed()
	} else {
		u.succeeded()
	}
	if keepUp {
		u.put(uc)
	} else {
		uc.close()
	}
	return keepClient
}

// writeFraming ends the response head written by writeResponseHead: the sticky cookie,
// the framing fields for a body sent in mode, and the empty line.
func (c *conn) writeFraming(u *upstream, mode, clientMinor int) {
	resp := &c.resp
	if c.setSticky != "" {
		c.bw.WriteString("Set-Cookie: ")
		c.bw.WriteString(u.pool.cfg.StickyCookie)
		c.bw.WriteByte('=')
		c.bw.WriteString(u.stickyID)
		c.bw.WriteString("; Path=/; HttpOnly\r\n")
	}
	if mode == bodyLength || (mode == bodyNone && resp.contentLength >= 0) {
		c.bw.WriteString("Content-Length: ")
		c.bw.Write(strconv.AppendInt(c.bw.AvailableBuffer(), resp.contentLength, 10))
		c.bw.WriteString("\r\n")
	} else if mode != bodyNone && clientMinor == 1 {
		c.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	c.bw.WriteString("\r\n")
}

// writeRequestHead writes the request head for the upstream: origin-form target, the
// client's fields without hop-by-hop ones, X-Forwarded-*, Via, and the proxy's own framing.
func (c *conn) writeRequestHead(w *bufio.Writer, host, target []byte, upgrade bool, u *upstream) {
	h, r := &c.req, c.route
	w.Write(h.method)
	w.WriteByte(' ')
	if r != nil && (r.stripPrefix != "" || r.addPrefix != "") {
		r.rewriteTarget(w, target)
	} else {
		w.Write(target)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if len(host) > 0 {
		w.Write(host)
	} else {
		w.WriteString(u.addr)
	}
	w.WriteString("\r\n")
	xff := false
	for i := range h.fields {
		f := &h.fields[i]
		if h.hopByHop(f.name) {
			continue
		}
		switch len(f.name) {
		case 4:
			if equalFold(f.name, "host") {
				continue
			}
		case 6:
			if equalFold(f.name, "expect") {
				continue
			}
		case 15:
			if equalFold(f.name, "x-forwarded-for") {
				xff = true
				continue
			}
		case 16:
			if equalFold(f.name, "x-forwarded-host") {
				continue
			}
		case 17:
			if equalFold(f.name, "x-forwarded-proto") {
				continue
			}
		}
		if r != nil && r.reqRules.drops(f.name) {
			continue
		}
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
	if r != nil {
		r.reqRules.writeSet(w)
	}
	// X-Forwarded-For keeps the chain the client sent, in one field, and appends the peer.
	w.WriteString("X-Forwarded-For: ")
	if xff {
		for i := range h.fields {
			if f := &h.fields[i]; len(f.name) == 15 && equalFold(f.name, "x-forwarded-for") {
				w.Write(f.value)
				w.WriteString(", ")
			}
		}
	}
	w.Write(c.remote)
	if c.https {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	if len(host) > 0 {
		w.WriteString("X-Forwarded-Host: ")
		w.Write(host)
		w.WriteString("\r\n")
	}
	c.writeForwarded(w, host)
	w.WriteString("Via: ")
	w.Write(c.srv.via)
	w.WriteString("\r\n")
	switch {
	case h.chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case h.contentLength >= 0:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), h.contentLength, 10))
		w.WriteString("\r\n")
	}
	if upgrade {
		w.WriteString("Connection: upgrade\r\nUpgrade: ")
		w.Write(h.get("upgrade"))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// writeResponseHead writes the status line and the end-to-end fields of c.resp, Via,
// and the connection fields, but not the framing fields nor the final empty line unless
// the head is an interim one (status < 200 and not 101).
func (c *conn) writeResponseHead(st int, keep, http10, upgrade bool) {
	resp, w := &c.resp, c.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(st), 10))
	w.WriteByte(' ')
	w.Write(resp.reason)
	w.WriteString("\r\n")
	r := c.route
	for i := range resp.fields {
		f := &resp.fields[i]
		if resp.hopByHop(f.name) || (r != nil && r.respRules.drops(f.name)) {
			continue
		}
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
	if r != nil {
		r.respRules.writeSet(w)
	}
	w.WriteString("Via: ")
	w.Write(c.srv.via)
	w.WriteString("\r\n")
	switch {
	case upgrade:
		w.WriteString("Connection: upgrade\r\nUpgrade: ")
		w.Write(resp.get("upgrade"))
		w.WriteString("\r\n\r\n")
	case st < 200:
		w.WriteString("\r\n")
	case !keep:
		w.WriteString("Connection: close\r\n")
	case http10:
		w.WriteString("Connection: keep-alive\r\n")
	}
}

// tunnel copies bytes both ways between the client and an upgraded upstream connection
// until both directions end. When one direction ends the other gets a short grace to
// finish, so a peer that never closes cannot hold the tunnel open.
func (c *conn) tunnel(uc *upConn) {
	uc.conn.timeout = 0
	uc.conn.setDeadline(time.Time{}, 0)
	c.pipe(uc.conn.Conn, uc.br)
	uc.close()
}

// pipe copies bytes both ways between the client and up (read through upr, which may
// hold bytes already read from up) until both directions end. When one direction ends
// the other gets a short grace to finish, so a peer that never closes cannot hold the
// tunnel open.
func (c *conn) pipe(up net.Conn, upr *bufio.Reader) {
	c.cc.timeout = 0
	c.cc.setDeadline(time.Time{}, 0)
	if err := c.bw.Flush(); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.br.WriteTo(up)
		closeWrite(up)
		up.SetReadDeadline(time.Now().Add(5 * time.Second)) // unblocks the copy below
	}()
	upr.WriteTo(c.nc)
	closeWrite(c.nc)
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second)) // unblocks the other copy
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// connect serves a CONNECT request (RFC 9110 section 9.3.6): a forward-proxy tunnel to
// an authority on the allow list. Everything else is refused: an open CONNECT proxy
// would let anyone reach any port from this host.
func (c *conn) connect(n int) bool {
	s, h := c.srv, &c.req
	host, port, ok := splitAuthority(h.target)
	if !ok {
		c.fail(errBadTarget)
		return false
	}
	if !s.connectAllowed(host, port) {
		c.fail(errForbidden)
		return false
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	up, err := d.Dial("tcp", string(h.target))
	if err != nil {
		s.log.Debug("proxy: CONNECT dial", "target", string(h.target), "err", err)
		c.fail(upstreamError(err))
		return false
	}
	defer up.Close()
	c.br.Discard(n)
	s.countAnswer(nil, nil, 200)
	c.bw.WriteString("HTTP/1.1 200 Connection Established\r\nVia: ")
	c.bw.Write(s.via)
	c.bw.WriteString("\r\n\r\n")
	br := bufio.NewReaderSize(up, 16<<10)
	c.pipe(up, br)
	return false
}

// splitAuthority splits an authority-form target, host:port, with a port of digits.
func splitAuthority(t []byte) (host, port []byte, ok bool) {
	i := bytes.LastIndexByte(t, ':')
	if i <= 0 || i == len(t)-1 {
		return nil, nil, false
	}
	host, port = t[:i], t[i+1:]
	if !validHost(host) || len(port) > 5 {
		return nil, nil, false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return nil, nil, false
		}
	}
	return host, port, true
}

// connectAllowed matches host:port against the CONNECT allow list.
func (s *Server) connectAllowed(host, port []byte) bool {
	for _, list := range [2][]string{s.cfg.ConnectAllow, s.cfg.ForwardAllow} {
		if allowedIn(list, host, port) {
			return true
		}
	}
	return false
}

func allowedIn(list []string, host, port []byte) bool {
	for _, a := range list {
		ah, ap, _ := strings.Cut(a, ":")
		if ap != "*" && ap != string(port) {
			continue
		}
		if suffix, ok := strings.CutPrefix(ah, "*"); ok {
			if len(host) > len(suffix) && equalFold(host[len(host)-len(suffix):], suffix) {
				return true
			}
		} else if bytes.EqualFold(host, []byte(ah)) {
			return true
		}
	}
	return false
}

// writeForwarded appends this hop to Forwarded (RFC 7239); the client's own Forwarded
// fields were passed on before it, so the list reads from the first hop to this one.
func (c *conn) writeForwarded(w *bufio.Writer, host []byte) {
	w.WriteString("Forwarded: for=")
	if bytes.IndexByte(c.remote, ':') >= 0 { // IPv6: quoted and bracketed
		w.WriteString("\"[")
		w.Write(c.remote)
		w.WriteString("]\"")
	} else {
		w.Write(c.remote)
	}
	if len(host) > 0 {
		// validHost admits no quote or backslash, so quoting needs no escapes.
		w.WriteString(";host=\"")
		w.Write(host)
		w.WriteString("\"")
	}
	if c.https {
		w.WriteString(";proto=https\r\n")
	} else {
		w.WriteString(";proto=http\r\n")
	}
}

// redirect answers a request of a redirecting route. The connection stays open unless
// the request has a body, which is not read.
func (c *conn) redirect(r *route, host, target []byte, n int) bool {
	h, w := &c.req, c.bw
	if r.redirect == "https" && len(host) == 0 {
		c.fail(errNoHost) // an HTTP/1.0 request without Host: nowhere to send it
		return false
	}
	keep := !h.close && !h.chunked && h.contentLength <= 0 && !c.srv.closing.Load()
	c.status = r.redirectCode
	c.srv.countAnswer(r, nil, r.redirectCode)
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(r.redirectCode), 10))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(r.redirectCode))
	w.WriteString("\r\nLocation: ")
	if r.redirect == "https" {
		w.WriteString("https://")
		w.Write(hostname(host))
		w.WriteString(c.srv.httpsPort)
	} else {
		w.WriteString(strings.TrimSuffix(r.redirect, "/"))
	}
	if target[0] == '/' {
		w.Write(target)
	} else {
		w.WriteByte('/')
	}
	w.WriteString("\r\nContent-Length: 0\r\n")
	if !keep {
		w.WriteString("Connection: close\r\n")
	} else if h.minor == 0 {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
	c.br.Discard(n) // the head's bytes (host, target) are written: now they may go
	if !keep {
		w.Flush()
	}
	return keep
}
