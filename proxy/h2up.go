package proxy

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// An HTTP/2 client's request to an h2 pool goes from its stream's decoded fields to the
// upstream's HEADERS and back without an http.Request, http.Header or http.Response: the
// head is rewritten by writeRequestHead, as for every other upstream, into a buffer that
// is then cut into the upstream's header list (one string for all of it); the upstream's
// answer fields, as its HPACK decoder gave them, become the client stream's head with
// hop-by-hop fields and the route's rules applied, and its trailers the stream's trailers.

// h2UpReq is the part of an h2Request that the fields path uses.
type h2UpReq struct {
	raw    bytes.Buffer
	w      *bufio.Writer // writes to raw
	fields []hpack.HeaderField
}

// h2UpHead is what an HTTP/2 client's request adds to its rewritten head.
type h2UpHead struct {
	method     string
	scheme     string // of the upstream: http or https
	teTrailers bool   // the client sent "te: trailers", which gRPC servers look for
	trailer    string // the trailer names the client announced that may be trailers
	length     int64  // the body's content-length; -1: none sent
	maxBytes   int    // the header list's limit
}

// h2UpFields returns the upstream header list of the request in c.req: the head
// writeRequestHead writes for an HTTP/1.1 upstream, cut into fields with names in lower
// case, without its framing and connection fields (content-length is h.length's), with
// Host as :authority. It fails with errHeadTooLarge past h.maxBytes.
func (c *conn) h2UpFields(up *h2UpReq, host, target []byte, u *upstream, h h2UpHead) ([]hpack.HeaderField, *statusError) {
	if up.w == nil {
		up.w = bufio.NewWriterSize(&up.raw, 4<<10)
	}
	up.raw.Reset()
	c.writeRequestHead(up.w, host, target, false, u)
	up.w.Flush()
	raw := up.raw.Bytes()
	if up.raw.Cap() > 64<<10 {
		up.raw = bytes.Buffer{} // not kept for the next request
	}
	// The first pass puts names in lower case, in place, so that one string holds all.
	line, rest, _ := bytes.Cut(raw, crlf)
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, crlf)
		if colon := bytes.IndexByte(l, ':'); colon > 0 {
			lowerInPlace(l[:colon])
		}
	}
	all := string(raw)
	fs := up.fields[:0]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	path := all[sp1+1 : sp2]
	fs = append(fs,
		hpack.HeaderField{Name: ":method", Value: h.method},
		hpack.HeaderField{Name: ":scheme", Value: h.scheme},
		hpack.HeaderField{Name: ":authority"},
		hpack.HeaderField{Name: ":path", Value: path})
	size := 0
	for off := len(line) + 2; off < len(all); {
		end := off + strings.Index(all[off:], "\r\n")
		l := all[off:end]
		off = end + 2
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			continue // the blank line that ends the head
		}
		switch name {
		case "host":
			fs[2].Value = value
			continue
		case "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade":
			continue // framing and connection fields: HTTP/2 has its own, or forbids them
		}
		fs = append(fs, hpack.HeaderField{Name: name, Value: value})
		size += len(name) + len(value) + 32
	}
	if h.teTrailers {
		fs = append(fs, hpack.HeaderField{Name: "te", Value: "trailers"})
	}
	if h.trailer != "" {
		fs = append(fs, hpack.HeaderField{Name: "trailer", Value: h.trailer})
	}
	switch {
	case h.length > 0:
		fs = append(fs, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(h.length, 10)})
	case h.length == 0 && (h.method == "POST" || h.method == "PUT" || h.method == "PATCH"):
		fs = append(fs, hpack.HeaderField{Name: "content-length", Value: "0"})
	}
	up.fields = fs
	if size > h.maxBytes {
		return nil, errHeadTooLarge
	}
	return fs, nil
}

// lowerInPlace puts the ASCII letters of b in lower case.
func lowerInPlace(b []byte) {
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
}

// h2ConnField reports the (lower-case) field names that are connection-specific, which
// never pass a proxy and are malformed in HTTP/2 (RFC 9113 section 8.2.2), and "trailer",
// whose announcement the proxy does not forward (as from an HTTP/1.1 upstream).
func h2ConnField(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// announcedTrailers returns the trailer names an HTTP/2 client's request announces
// ("trailer" fields) that may be trailers, joined for the upstream's "trailer" field.
func announcedTrailers(fields []hpack.HeaderField) string {
	var b []byte
	for _, f := range fields {
		if f.Name != "trailer" {
			continue
		}
		for name := range strings.SplitSeq(f.Value, ",") {
			if name = strings.TrimSpace(name); name != "" && trailerAllowed([]byte(name)) {
				if len(b) > 0 {
					b = append(b, ", "...)
				}
				b = appendLower(b, []byte(name))
			}
		}
	}
	return string(b)
}

// forwardH2 proxies an HTTP/2 request to an h2 pool: the request body, the response body
// and the response trailers stream through as they come, so gRPC calls (unary and
// streaming, with grpc-status in trailers) pass end to end. A cut upstream stream resets
// the client's stream; a client that goes away cancels the upstream stream.
func (h h2Handler) forwardH2(st *h2Stream, hr *h2Request, c *conn, target []byte, fail func(*statusError)) {
	s, rt := h.s, c.route
	p := rt.pool
	p.depositRetryToken()
	hasBody := !st.noBody && st.contentLength != 0
	uh := h2UpHead{method: st.method, scheme: "http", length: -1, maxBytes: s.cfg.MaxHeaderBytes}
	if p.cfg.TLS != nil {
		uh.scheme = "https"
	}
	for _, f := range st.fields {
		if f.Name == "te" {
			uh.teTrailers = true // takeHead let only "trailers" through
		}
	}
	var body *h2cSend
	if hasBody {
		uh.length = st.contentLength
		uh.trailer = announcedTrailers(st.fields)
		body = &h2cSend{r: h2Body{st}, length: st.contentLength, trailers: h2Body{st}.trailerFields}
		if s.cfg.MaxBodyBytes >= 0 {
			body.r = &limitBody{body.r, s.cfg.MaxBodyBytes}
		}
	} else {
		uh.length = 0 // no body, or "content-length: 0" (its empty DATA is not passed on)
	}
	fields, se := c.h2UpFields(&hr.up, c.req.host, target, p.all[0], uh)
	if se != nil {
		fail(se)
		return
	}
	x, se := c.roundTripH2(st, rt, h2Send{method: st.method, fields: fields, body: body}, c.h2Pick(p, hasBody))
	if x == nil {
		if se != nil {
			fail(se)
		}
		return
	}
	defer x.finish()
	cs, u := x.cs, x.u
	st.rawHead = h.upstreamHead(hr, cs.head, rt, p, u)
	defer func() { st.rawHead, st.rawTrailers = nil, nil }() // they live in hr, which goes back to the pool
	code := cs.status
	s.countAnswer(rt, u, code)
	if s.cfg.AccessLog {
		s.log.Info("access", "remote", string(c.remote), "method", st.method, "target", st.path,
			"status", code, "upstream", u.addr, "proto", "HTTP/2.0")
	}
	st.WriteHeader(code)
	left := cs.respLength // < 0: a stream, whose parts go out as they come
	if left < 0 && st.FlushError() != nil {
		// The head goes out now: a stream's first message may come much later. (A body
		// of known length follows its head at once; a response that ended with its head,
		// such as a gRPC trailers-only error, goes out as one HEADERS frame.)
		return
	}
	bp := s.h2bufs.Get().(*[]byte)
	defer s.h2bufs.Put(bp)
	buf := *bp
	for {
		n, err := x.Read(buf)
		if n > 0 {
			if _, werr := st.Write(buf[:n]); werr != nil {
				return // the client is gone; finish resets the upstream stream
			}
			if left >= 0 {
				left -= int64(n)
			}
			// The end of the body needs no flush: it leaves with END_STREAM when the
			// handler returns.
			if left != 0 && st.FlushError() != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if st.gone() {
				return // the client left, which cancelled the upstream stream: not the host's fault
			}
			u.failed()
			s.log.Debug("proxy: HTTP/2 upstream body", "host", u.addr, "err", err)
			st.abort() // a cut body must not look whole
			return
		}
	}
	tr := hr.trailers[:0]
	for _, f := range cs.trailerFields() {
		if !h2ConnField(f.Name) {
			tr = append(tr, f)
		}
	}
	hr.trailers = tr
	st.rawTrailers = tr
	if code >= 500 {
		u.failed()
	} else {
		u.succeeded()
	}
	// The rest goes out now, with END_STREAM (and for a small answer in the same write
	// as its head): the head and trailers are hr's, which the pool takes back.
	st.send(true)
}

// upstreamHead returns the client stream's head for an h2 upstream's answer fields: its
// end-to-end fields (content-length included), the route's rules, Via and the sticky
// cookie. The list is hr's, reused; the upstream's names and values are used as they are.
func (h h2Handler) upstreamHead(hr *h2Request, head []hpack.HeaderField, rt *route, p *pool, u *upstream) []hpack.HeaderField {
	fs := hr.fields[:0]
	rules := &rt.respRules
	for _, f := range head {
		if h2ConnField(f.Name) || len(rules.remove) > 0 && rules.drops([]byte(f.Name)) {
			continue
		}
		fs = append(fs, f)
	}
	for _, f := range rules.set {
		fs = append(fs, hpack.HeaderField{Name: string(appendLower(nil, f.name)), Value: string(f.value)})
	}
	fs = append(fs, hpack.HeaderField{Name: "via", Value: h.via[0]})
	if p.cfg.StickyCookie != "" && !u.backup && string(p.stickyValue(&hr.c.req)) != u.stickyID {
		fs = append(fs, hpack.HeaderField{Name: "set-cookie", Value: p.cfg.StickyCookie + "=" + u.stickyID + "; Path=/; HttpOnly"})
	}
	hr.fields = fs
	return fs
}

// abort resets the stream (INTERNAL_ERROR): the answer was cut, and the client must not
// take what it got for whole.
func (st *h2Stream) abort() {
	c := st.c
	c.mu.Lock()
	c.resetLocked(st, http2.ErrCodeInternal)
	c.mu.Unlock()
}
