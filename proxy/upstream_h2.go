package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2/hpack"
)

// HTTP/2 to upstreams (PoolConfig.Protocol h2): each host of the pool has the proxy's own
// HTTP/2 client (h2client.go), which multiplexes requests over few connections and keeps
// them (h2c with prior knowledge on plain TCP, or h2 negotiated by ALPN over TLS). Requests from
// both front ends — the HTTP/1.1 fast path and the HTTP/2 listener — go through the same
// head rewriting as the fast path (writeRequestHead), so forwarding rules cannot drift
// between the protocols: an HTTP/1.1 request becomes an http.Request, and an HTTP/2
// request's rewritten head becomes the upstream's header list directly (h2up.go), its
// answer's fields going straight into the client's stream. Balancing, retries, the
// breaker, ejection and read timeouts work as for HTTP/1.1 pools. Bodies and trailers
// stream both ways, which is what gRPC needs.

// h2Exchange is one request in flight to an h2 host, with the read timeout that bounds
// the upstream's silence. Reads of its body restart the timer.
type h2Exchange struct {
	cs       *h2cStream
	resp     *http.Response // the answer as an http.Response, for an http.Request sent
	u        *upstream
	client   *h2Stream   // the HTTP/2 client's stream, whose end ends the attempt; nil for HTTP/1.1
	attempt  h2Attempt   // the context the request is sent with
	timer    *time.Timer // nil: no read timeout
	timeout  time.Duration
	timedOut atomic.Bool
	finished bool
}

// h2Attempt is the context of one attempt to send a request to an h2 host. It ends when
// the client goes (an HTTP/2 client's stream ends or is reset), when a timeout of the
// attempt passes, or when the attempt finishes; as it ends, the upstream stream it was
// sent on is reset. It stands where context.WithCancel and context.AfterFunc stood: those
// made a child context, a children map and closures for every request, half of the
// path's allocations. Done makes its channel only for a wait that needs one.
type h2Attempt struct {
	mu   sync.Mutex
	err  error         // why the attempt ended; set once
	done chan struct{} // made by the first Done, closed as the attempt ends
	cs   *h2cStream    // the upstream stream, reset as the attempt ends
}

func (a *h2Attempt) Deadline() (time.Time, bool) { return time.Time{}, false }
func (a *h2Attempt) Value(any) any               { return nil }

func (a *h2Attempt) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *h2Attempt) Done() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		a.done = make(chan struct{})
		if a.err != nil {
			close(a.done)
		}
	}
	return a.done
}

// end ends the attempt with err (the first reason stays) and resets its stream.
func (a *h2Attempt) end(err error) {
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return
	}
	a.err = err
	if a.done != nil {
		close(a.done)
	}
	cs := a.cs
	a.cs = nil
	a.mu.Unlock()
	if cs != nil {
		cs.cancel(err)
	}
}

// watch makes the end of the attempt reset cs, at once if it has ended.
func (a *h2Attempt) watch(cs *h2cStream) {
	a.mu.Lock()
	err := a.err
	if err == nil {
		a.cs = cs
	}
	a.mu.Unlock()
	if err != nil {
		cs.cancel(err)
	}
}

// forget undoes watch: cs is done with.
func (a *h2Attempt) forget(cs *h2cStream) {
	a.mu.Lock()
	if a.cs == cs {
		a.cs = nil
	}
	a.mu.Unlock()
}

func (x *h2Exchange) Read(p []byte) (int, error) {
	n, err := h2cBody{x.cs}.Read(p)
	if x.timer != nil && err == nil {
		x.timer.Reset(x.timeout)
	}
	if err != nil && err != io.EOF {
		if x.timedOut.Load() {
			return n, errUpTimeout
		}
		return n, upstreamBodyError{err}
	}
	return n, err
}

// upstreamBodyError marks a failure to read the upstream's body, as opposed to a failure to
// write to the client.
type upstreamBodyError struct{ err error }

func (e upstreamBodyError) Error() string { return "upstream body: " + e.err.Error() }
func (e upstreamBodyError) Unwrap() error { return e.err }

// finish ends the exchange: the stream is closed (reset if unfinished) and the host's
// count of requests in flight drops. It may be called more than once.
func (x *h2Exchange) finish() {
	if x.finished {
		return
	}
	x.finished = true
	if x.timer != nil {
		x.timer.Stop()
	}
	h2cBody{x.cs}.Close()
	x.end()
	x.u.inflight.Add(-1)
	if x.u.pool.retired.Load() {
		// A reload replaced the pool while this request ran: its connections go when
		// idle, as HTTP/1.1 ones do when they come back.
		x.u.h2.CloseIdleConnections()
	}
}

// end ends the attempt's context, and with it any wait for the host.
func (x *h2Exchange) end() {
	x.attempt.end(context.Canceled)
	if x.client != nil {
		x.client.unwatch(&x.attempt)
	}
}

// timeUp ends the attempt when one of its timeouts passes.
func (x *h2Exchange) timeUp() {
	x.timedOut.Store(true)
	x.attempt.end(context.Canceled)
}

// h2Request builds the upstream request from the head in c.req, rewritten as for an
// HTTP/1.1 upstream (hop-by-hop fields out, X-Forwarded-*, Forwarded, Via, route rules).
// teTrailers keeps "TE: trailers", which HTTP/2 allows and gRPC servers look for.
func (c *conn) h2Request(rt *route, host, target []byte, teTrailers bool) (*http.Request, error) {
	p := rt.pool
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 4<<10)
	c.writeRequestHead(bw, host, target, false, p.all[0])
	bw.Flush()
	req, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		return nil, err
	}
	req.RequestURI = ""
	req.URL.Scheme = "http"
	if p.cfg.TLS != nil {
		req.URL.Scheme = "https"
	}
	req.Header.Del("Transfer-Encoding")
	req.TransferEncoding = nil
	req.Body = nil
	req.ContentLength = 0
	if teTrailers {
		req.Header.Set("Te", "trailers")
	}
	return req, nil
}

// h2Pick is what picking a host for a request needs from its head, copied: an HTTP/1.1
// request's head is gone once its body is being read.
type h2Pick struct {
	safe        bool // idempotent, without a body: may be sent again
	key, sticky []byte
}

func (c *conn) h2Pick(p *pool, hasBody bool) h2Pick {
	h := &c.req
	k := h2Pick{safe: idempotent(h.method) && !hasBody}
	if p.hash != nil {
		k.key = bytes.Clone(p.hashKey.key(h, c.remote))
	}
	k.sticky = bytes.Clone(p.stickyValue(h))
	return k
}

// h2Send is a request for an h2 pool: an http.Request (from an HTTP/1.1 client), or the
// header list and body of an HTTP/2 client's request (method, fields, body).
type h2Send struct {
	req    *http.Request
	method string
	fields []hpack.HeaderField
	body   *h2cSend
}

// roundTripH2 sends the request to a host of the route's pool, picked by the pool's policy,
// and returns the exchange once the response head has arrived. A request without a body is
// retried on another host when that is safe (idempotent method), within the pool's retries
// and budget. client is the HTTP/2 client's stream (nil for an HTTP/1.1 client): it
// returns nil and nil when that stream went (the client is gone).
func (c *conn) roundTripH2(client *h2Stream, rt *route, send h2Send, k h2Pick) (*h2Exchange, *statusError) {
	p := rt.pool
	safe := k.safe
	var triedP, triedB uint64
	var lastErr *statusError
	var deadline time.Time // the route's total timeout, up to the response head
	if rt.timeout > 0 {
		deadline = time.Now().Add(rt.timeout)
	}
	for attempt := 0; ; attempt++ {
		if client != nil && client.gone() {
			return nil, nil
		}
		if attempt > 0 && (attempt > p.cfg.Retries || !p.takeRetryToken()) {
			return nil, lastErr
		}
		if attempt > 0 && !p.waitRetry(attempt, deadline) {
			return nil, errUpTimeout // the route's timeout would pass before the retry
		}
		u := p.pick(&c.view, &triedP, &triedB, k.key, k.sticky)
		if u == nil {
			if lastErr == nil {
				lastErr = p.noPick()
			}
			return nil, lastErr
		}
		u.requests.Add(1)
		u.inflight.Add(1)
		x := &h2Exchange{u: u, client: client, timeout: rt.upstreamTimeout(p)}
		if client != nil {
			client.watch(&x.attempt)
		}
		if x.timeout > 0 {
			x.timer = time.AfterFunc(x.timeout, x.timeUp)
		}
		var headTimer *time.Timer
		if !deadline.IsZero() {
			headTimer = time.AfterFunc(time.Until(deadline), x.timeUp)
		}
		var err error
		if req := send.req; req != nil {
			req.URL.Host = u.addr
			if x.resp, err = u.h2.RoundTrip(req.WithContext(&x.attempt)); err == nil {
				x.cs = x.resp.Body.(h2cBody).cs
			}
		} else {
			x.cs, err = u.h2.exchange(&x.attempt, send.method, send.fields, send.body)
		}
		if headTimer != nil && !headTimer.Stop() && err == nil {
			h2cBody{x.cs}.Close() // the route's timeout passed as the head arrived
			err = context.DeadlineExceeded
		}
		if err == nil {
			return x, nil
		}
		if x.timer != nil {
			x.timer.Stop()
		}
		x.end()
		u.inflight.Add(-1)
		if client != nil && client.gone() {
			return nil, nil
		}
		var se *statusError
		switch {
		case x.timedOut.Load():
			lastErr = errUpTimeout
		case errors.As(err, &se):
			return nil, se // the client's body broke a limit: not the host's fault
		default:
			lastErr = errBadGateway
		}
		u.failed()
		c.srv.log.Debug("proxy: HTTP/2 upstream", "pool", p.name, "host", u.addr, "err", err)
		if !safe {
			return nil, lastErr
		}
	}
}

// limitBody caps a request body streamed to an h2 host at the proxy's body limit.
type limitBody struct {
	io.ReadCloser
	left int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// proxyH2 forwards an HTTP/1.x request to an h2 pool and its answer back; the request head
// is the first n bytes of c.br. It reports whether the client connection stays open.
func (c *conn) proxyH2(rt *route, host, target []byte, n int) bool {
	s, h := c.srv, &c.req
	req, err := c.h2Request(rt, host, target, false)
	if err != nil {
		c.fail(errBadTarget)
		return false
	}
	isHead := string(h.method) == "HEAD"
	clientMinor, clientClose := h.minor, h.close
	p := rt.pool
	cookieID := ""
	if p.cfg.StickyCookie != "" {
		cookieID = string(p.stickyValue(h))
	}
	hasBody := h.chunked || h.contentLength > 0
	pick := c.h2Pick(p, hasBody)
	if h.chunked {
		// A chunked body may end with trailers: they go upstream as HTTP/2 trailers, the
		// names the client announced announced again (net/http's HTTP/2 server keeps
		// only those).
		req.Trailer = make(http.Header)
		for name := range strings.SplitSeq(string(h.get("trailer")), ",") {
			if name = strings.TrimSpace(name); name != "" && trailerAllowed([]byte(name)) {
				req.Trailer[http.CanonicalHeaderKey(name)] = nil
			}
		}
	}
	if hasBody && h.expect100 && clientMinor == 1 {
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if c.bw.Flush() != nil {
			return false
		}
	}
	c.br.Discard(n)
	// A request body is copied from c.br by a goroutine of ours into a pipe the transport
	// reads; when done closes, c.br belongs to this goroutine again.
	var done chan struct{}
	var pr *io.PipeReader
	bodyEOF := true
	stopBody := func() {}
	if hasBody {
		done, bodyEOF = make(chan struct{}), false
		var pw *io.PipeWriter
		pr, pw = io.Pipe()
		chunked, length, trailer := h.chunked, h.contentLength, make(http.Header)
		go func() {
			defer close(done)
			bw := bufio.NewWriterSize(pw, 8<<10)
			var err error
			if chunked {
				// The trailers are gathered here, and move to req.Trailer as the
				// transport reads the pipe's EOF (trailerOnEOF): req.Trailer is the
				// transport's to read until then.
				err = copyChunkedData(bw, c.br, s.cfg.MaxBodyBytes, func(name, value string) {
					trailer[name] = append(trailer[name], value)
				})
				if err == errBodyLimit {
					err = errBodyTooLarge
				}
			} else {
				err = copyN(bw, c.br, length)
			}
			if err == nil {
				if err = bw.Flush(); err == nil {
					bodyEOF = true
				}
			}
			pw.CloseWithError(err)
		}()
		req.Body = &trailerOnEOF{pr, trailer, req.Trailer}
		req.ContentLength = length
		if chunked {
			req.ContentLength = -1
		}
		stopBody = func() {
			select {
			case <-done:
			default:
				// The exchange ended before the body: unblock the copy, whether it
				// waits on the client or on the pipe.
				pr.CloseWithError(io.ErrClosedPipe)
				c.nc.SetReadDeadline(time.Unix(1, 0))
				<-done
			}
		}
	}
	x, se := c.roundTripH2(nil, rt, h2Send{req: req}, pick)
	if se == nil && x == nil {
		se = errBadGateway
	}
	if se != nil {
		stopBody()
		c.fail(se)
		return false
	}
	defer x.finish()
	resp, u := x.resp, x.u
	st := resp.StatusCode
	mode := bodyUntilClose
	switch {
	case isHead || st == 204 || st == 304:
		mode = bodyNone
	case resp.ContentLength >= 0 && (len(resp.Trailer) == 0 || clientMinor == 0):
		mode = bodyLength // (declared trailers need chunked framing to reach a 1.1 client)
	case clientMinor == 1:
		mode = bodyChunked
	}
	keepClient := !clientClose && !s.closing.Load() && mode != bodyUntilClose
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(st))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(st))
	w.WriteString("\r\n")
	writeFields(w, resp.Header, func(k string) bool {
		return k == "Content-Length" || rt.respRules.drops([]byte(k))
	})
	rt.respRules.writeSet(w)
	w.WriteString("Via: ")
	w.Write(s.via)
	w.WriteString("\r\n")
	if p.cfg.StickyCookie != "" && !u.backup && cookieID != u.stickyID {
		w.WriteString("Set-Cookie: " + p.cfg.StickyCookie + "=" + u.stickyID + "; Path=/; HttpOnly\r\n")
	}
	switch mode {
	case bodyLength:
		w.WriteString("Content-Length: " + strconv.FormatInt(resp.ContentLength, 10) + "\r\n")
	case bodyNone:
		if resp.ContentLength > 0 && (isHead || st == 304) {
			w.WriteString("Content-Length: " + strconv.FormatInt(resp.ContentLength, 10) + "\r\n")
		} else if st != 204 && st != 304 && !isHead {
			w.WriteString("Content-Length: 0\r\n")
		}
	case bodyChunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !keepClient {
		w.WriteString("Connection: close\r\n")
	} else if clientMinor == 0 {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
	s.countAnswer(rt, u, st)
	c.status, c.upstream = st, u.addr
	if mode != bodyNone {
		if mode != bodyLength {
			// The head goes now: a stream's first event may come much later.
			err = w.Flush()
		}
		if err == nil {
			err = copyH2Body(w, x, mode == bodyChunked, resp.ContentLength)
		}
	}
	if err == nil && mode == bodyChunked {
		err = writeTrailers(w, resp.Trailer)
	}
	if err != nil {
		var ub upstreamBodyError
		if errors.As(err, &ub) || err == errUpTimeout {
			u.failed()
		}
		keepClient = false
	} else if st >= 500 {
		u.failed()
	} else {
		u.succeeded()
	}
	if hasBody {
		x.finish()
		stopBody()
		keepClient = keepClient && bodyEOF
	}
	return keepClient
}

// trailerOnEOF is a request body whose trailers, gathered in from while it is read,
// move to the request's Trailer (to) when it ends: the transport reads them then.
type trailerOnEOF struct {
	io.ReadCloser
	from, to http.Header
}

func (b *trailerOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		for k, vs := range b.from {
			b.to[k] = append(b.to[k], vs...)
		}
	}
	return n, err
}

// copyH2Body copies an h2 response body to an HTTP/1.x client, chunked or not, flushing
// after every read so that a stream reaches the client as it comes; the end of a body of
// known length (left bytes, or < 0) is left in w, for the next answer or the connection's
// next flush.
func copyH2Body(w *bufio.Writer, x *h2Exchange, chunked bool, left int64) error {
	bufs := &x.u.pool.srv.h2bufs
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	for {
		n, err := x.Read(buf)
		if n > 0 {
			if werr := writeData(w, buf[:n], chunked); werr != nil {
				return werr
			}
			if left >= 0 {
				left -= int64(n)
			}
			if left != 0 {
				if werr := w.Flush(); werr != nil {
					return &writeError{werr}
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeFields writes the fields of h as HTTP/1.1 header lines, leaving out hop-by-hop
// fields and those that drop (when not nil) reports.
func writeFields(w *bufio.Writer, h http.Header, drop func(name string) bool) {
	for k, vs := range h {
		if hopByHopName(k) || drop != nil && drop(k) {
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
}

// writeTrailers ends a chunked body with the trailer fields of an h2 response.
func writeTrailers(w *bufio.Writer, trailer http.Header) error {
	w.WriteString("0\r\n")
	writeFields(w, trailer, nil)
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		return &writeError{err}
	}
	return nil
}

// hopByHopName reports the canonical field names that never pass a proxy (RFC 9110
// section 7.6.1); an h2 response should not carry them, and the framing is the proxy's.
func hopByHopName(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// healthDo sends a health check: through the host's HTTP/2 client for an h2 pool, else
// with client.
func (u *upstream) healthDo(client *http.Client, req *http.Request) (*http.Response, error) {
	if u.h2 != nil {
		c := *client
		c.Transport = u.h2
		return c.Do(req)
	}
	return client.Do(req)
}
