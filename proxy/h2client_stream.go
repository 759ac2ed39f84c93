package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cStream is one request to the host. The request's goroutine sends its head and waits
// for the answer's; a goroutine of the stream's sends the body, if any (a gRPC call
// streams both ways at once); the connection's reader fills in the answer.
//
// The answer's head is kept as the fields the host sent (status, head): an HTTP/2 client's
// request takes them straight into its own stream's HEADERS, and only RoundTrip builds an
// http.Response of them.
type h2cStream struct {
	c        *h2cConn
	id       uint32
	headDone chan struct{} // closed when the answer's head arrived or the stream failed
	attempt  *h2Attempt    // the request's context, when the proxy sent it (see stop)
	stopFunc func() bool   // stops the callback of any other context
	reqBody  io.ReadCloser // the body being sent, closed to stop its read when the stream ends

	// Set before headDone closes, then read only.
	status     int
	head       []hpack.HeaderField // the answer's regular fields, names in lower case
	respLength int64               // the answer body's length: its content-length, 0, or -1 (unknown)

	// Guarded by c.mu.
	sendWindow    int64
	recvWindow    int64
	recvUnacked   int64
	gotHead       bool
	headClosed    bool
	resp          *http.Response // RoundTrip's answer (nil on the fields path)
	err           error          // why the stream failed; set once
	in            []byte
	inOff         int
	inEOF         bool                // the host ended its side
	trailers      []hpack.HeaderField // the answer's trailer fields, set before inEOF
	ready         chan struct{}       // signalled when in, inEOF or err change
	reset         bool                // RST_STREAM went either way: nothing more is sent
	closed        bool                // the stream left the connection (its slot is free)
	sentEnd       bool                // our END_STREAM is queued
	bodyClosed    bool
	contentLength int64 // the answer's content-length; -1: none
	received      int64
	isHead        bool // a HEAD request: the answer's content-length is not its body's
}

// h2cSend is a request body to send: read from r, of length bytes (-1: unknown), and
// followed by the fields trailers returns once r returned io.EOF (trailers may be nil).
type h2cSend struct {
	r        io.ReadCloser
	length   int64
	trailers func() []hpack.HeaderField
}

// start sends the request's head on a new stream and, when the request has a body,
// starts the goroutine that sends it.
func (cs *h2cStream) start(ctx context.Context, method string, fields []hpack.HeaderField, body *h2cSend) error {
	c := cs.c
	hasBody := body != nil
	c.mu.Lock()
	if c.dead || c.goneAway {
		c.active--
		c.mu.Unlock()
		return errH2Unprocessed
	}
	cs.id = c.nextID
	c.nextID += 2
	cs.isHead = method == http.MethodHead
	cs.sendWindow, cs.recvWindow = c.initWindow, h2cStreamWindow
	c.streams[cs.id] = cs
	c.waitRoomLocked()
	c.block.Reset()
	for _, f := range fields {
		c.enc.WriteField(f)
	}
	c.writeBlockLocked(cs.id, !hasBody)
	cs.sentEnd = !hasBody
	if hasBody {
		cs.reqBody = body.r
	}
	c.mu.Unlock()
	if a, ok := ctx.(*h2Attempt); ok {
		cs.attempt = a
		a.watch(cs)
	} else {
		cs.stopFunc = context.AfterFunc(ctx, func() { cs.cancel(ctx.Err()) })
	}
	if hasBody {
		go cs.writeBody(body)
	}
	return nil
}

// stop ends the link between the request's context and the stream.
func (cs *h2cStream) stop() {
	if cs.attempt != nil {
		cs.attempt.forget(cs)
	} else {
		cs.stopFunc()
	}
}

// awaitHead waits for the answer's head.
func (cs *h2cStream) awaitHead(ctx context.Context) error {
	<-cs.headDone
	c := cs.c
	c.mu.Lock()
	got, err := cs.gotHead, cs.err
	c.mu.Unlock()
	if !got {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	return nil
}

// response returns the answer as an http.Response, its body reading the stream.
func (cs *h2cStream) response(req *http.Request) *http.Response {
	hdr := make(http.Header, len(cs.head))
	for _, hf := range cs.head {
		k := http.CanonicalHeaderKey(hf.Name)
		hdr[k] = append(hdr[k], hf.Value)
	}
	resp := &http.Response{
		Status:        statusText3(cs.status) + " " + http.StatusText(cs.status),
		StatusCode:    cs.status,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        hdr,
		ContentLength: cs.respLength,
		Body:          h2cBody{cs},
		Request:       req,
	}
	for _, v := range hdr["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if resp.Trailer == nil {
					resp.Trailer = make(http.Header)
				}
				resp.Trailer[http.CanonicalHeaderKey(name)] = nil
			}
		}
	}
	c := cs.c
	c.mu.Lock()
	cs.resp = resp // its Trailer is filled in when the body ends
	c.mu.Unlock()
	return resp
}

// trailerFields returns the answer's trailer fields; they are known once a read of its
// body returned io.EOF.
func (cs *h2cStream) trailerFields() []hpack.HeaderField {
	c := cs.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return cs.trailers
}

// headerFields returns the fields of h, names in lower case.
func headerFields(h http.Header) []hpack.HeaderField {
	var fs []hpack.HeaderField
	for k, vs := range h {
		for _, v := range vs {
			fs = append(fs, hpack.HeaderField{Name: strings.ToLower(k), Value: v})
		}
	}
	return fs
}

// cancel resets the stream when the request's context ends before the answer did.
func (cs *h2cStream) cancel(err error) {
	c := cs.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs.closed && cs.inEOF {
		return // the answer is whole
	}
	c.resetLocked(cs, http2.ErrCodeCancel, err)
	c.checkLocked()
}

// writeBody sends the request body in DATA frames as the windows allow, then END_STREAM,
// or the request's trailers (HEADERS with END_STREAM) when it has some.
func (cs *h2cStream) writeBody(b *h2cSend) {
	body := b.r
	defer body.Close()
	bufs := &cs.c.cl.u.pool.srv.h2bufs
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := *bp
	var sent int64
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if sent += int64(n); b.length >= 0 && sent > b.length {
				err = fmt.Errorf("proxy: request body longer than its content-length %d", b.length)
			} else if cs.writeData(buf[:n]) != nil {
				return // the stream is gone
			}
		}
		if err == io.EOF {
			if b.length > 0 && sent != b.length {
				err = fmt.Errorf("proxy: request body of %d bytes, shorter than its content-length %d", sent, b.length)
			} else {
				var trailers []hpack.HeaderField
				if b.trailers != nil {
					trailers = b.trailers()
				}
				cs.writeEnd(trailers)
				return
			}
		}
		if err != nil {
			c := cs.c
			c.mu.Lock()
			c.resetLocked(cs, http2.ErrCodeCancel, err)
			c.mu.Unlock()
			return
		}
	}
}

// writeData queues p in DATA frames, waiting for window and for room in the output.
func (cs *h2cStream) writeData(p []byte) error {
	c := cs.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(p) > 0 {
		for !cs.reset && !c.dead && (c.sendWindow <= 0 || cs.sendWindow <= 0 || len(c.out) > h2MaxOut) {
			c.room.Wait()
		}
		if cs.reset || c.dead {
			return errStreamGone
		}
		n := min(int64(len(p)), int64(c.peerMaxFrame), c.sendWindow, cs.sendWindow)
		c.wfr.WriteData(cs.id, false, p[:n])
		c.sendWindow -= n
		cs.sendWindow -= n
		p = p[n:]
		c.wake.Signal()
	}
	return nil
}

// writeEnd ends the request: its trailers with END_STREAM, or an empty DATA frame with it.
func (cs *h2cStream) writeEnd(trailers []hpack.HeaderField) {
	c := cs.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitRoomLocked()
	if cs.reset || c.dead {
		return
	}
	c.block.Reset()
	for _, f := range trailers {
		c.enc.WriteField(f)
	}
	if c.block.Len() > 0 {
		c.writeBlockLocked(cs.id, true)
	} else {
		c.wfr.WriteData(cs.id, true, nil)
		c.wake.Signal()
	}
	cs.sentEnd = true
	if cs.inEOF {
		c.closeStreamLocked(cs)
	}
}

// failLocked ends the stream's answer with err: a wait for its head or a read of its body
// returns err, and a body still being sent stops.
func (cs *h2cStream) failLocked(err error) {
	if cs.err == nil {
		cs.err = err
	}
	if !cs.headClosed {
		cs.headClosed = true
		close(cs.headDone)
	}
	cs.wakeLocked()
	cs.c.room.Broadcast()
	if cs.reqBody != nil && !cs.sentEnd {
		cs.reqBody.Close() // a read waiting for the client's body returns
	}
}

func (cs *h2cStream) wakeLocked() {
	if cs.ready != nil {
		select {
		case cs.ready <- struct{}{}:
		default:
		}
	}
}

// closeStreamLocked takes the stream off the connection and frees its slot; a connection
// left without streams closes if the host sent GOAWAY or the pool was replaced, and
// otherwise waits for the next stream up to the idle timeout.
func (c *h2cConn) closeStreamLocked(cs *h2cStream) {
	if cs.closed {
		return
	}
	cs.closed = true
	delete(c.streams, cs.id)
	c.active--
	c.room.Broadcast()
	c.cl.wake()
	if c.active == 0 && !c.dead {
		if c.goneAway || c.cl.u.pool.retired.Load() {
			c.goneAway = true
			c.nc.Close() // the reader ends and takes the connection off the client
		} else {
			c.idle.Reset(c.cl.idleTimeout)
		}
	}
}

// resetLocked resets the stream (RST_STREAM code, unless it went already) and fails it.
func (c *h2cConn) resetLocked(cs *h2cStream, code http2.ErrCode, err error) {
	if !cs.reset && !c.dead && !(cs.inEOF && cs.sentEnd) {
		cs.reset = true
		c.wfr.WriteRSTStream(cs.id, code)
		c.wake.Signal()
	}
	cs.reset = true
	c.closeStreamLocked(cs)
	cs.failLocked(err)
}

// waitRoomLocked waits while the output queue is full.
func (c *h2cConn) waitRoomLocked() {
	for len(c.out) > h2MaxOut && !c.dead {
		c.room.Wait()
	}
}

// writeBlockLocked queues the header block in c.block as HEADERS and CONTINUATION frames.
func (c *h2cConn) writeBlockLocked(id uint32, end bool) {
	writeHeaderBlock(c.wfr, id, c.block.Bytes(), c.peerMaxFrame, end)
	c.wake.Signal()
}

// onHeaders takes an answer's head (after any interim ones) or its trailers.
func (c *h2cConn) onHeaders(b *h2Block) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		// The writer failed while this frame was in the reader's buffer: the streams
		// have failed, and take nothing more.
		return c.err
	}
	cs := c.streams[b.streamID]
	if cs == nil {
		if b.streamID%2 == 0 || b.streamID >= c.nextID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // a stream we never opened
		}
		return nil // a stream we reset or finished
	}
	if b.truncated {
		c.resetLocked(cs, http2.ErrCodeCancel, errors.New("proxy: HTTP/2 upstream header list too large"))
		return nil
	}
	if !cs.gotHead {
		status := b.pseudoValue("status")
		code, err := strconv.Atoi(status)
		if len(status) != 3 || err != nil || code < 100 || b.pseudo != 1 {
			c.resetLocked(cs, http2.ErrCodeProtocol, fmt.Errorf("proxy: HTTP/2 upstream answer with status %q", status))
			return nil
		}
		if code < 200 {
			if b.ended || code == 101 {
				c.resetLocked(cs, http2.ErrCodeProtocol, errors.New("proxy: HTTP/2 upstream ended its stream with an interim answer"))
			}
			return nil // interim answers are not passed on
		}
		cs.status, cs.head, cs.respLength = code, b.keepRegular(), -1
		lengths := 0
		for _, hf := range cs.head {
			if hf.Name == "content-length" {
				lengths++
				if n, err := strconv.ParseInt(hf.Value, 10, 64); err == nil && n >= 0 && lengths == 1 {
					cs.respLength = n
				} else {
					cs.respLength = -1
				}
			}
		}
		cs.contentLength = cs.respLength
		if b.ended && !cs.isHead {
			cs.respLength = 0
		}
		if cs.isHead {
			cs.contentLength = -1
		}
		cs.gotHead = true
		cs.headClosed = true
		close(cs.headDone)
		if b.ended {
			cs.contentLength = -1 // the body is empty, whatever a content-length said
			c.endOfAnswerLocked(cs)
		}
		return nil
	}
	// Trailers.
	if !b.ended || b.pseudo > 0 || cs.inEOF {
		c.resetLocked(cs, http2.ErrCodeProtocol, errors.New("proxy: HTTP/2 upstream sent malformed trailers"))
		return nil
	}
	cs.trailers = b.keepRegular()
	c.endOfAnswerLocked(cs)
	return nil
}

// endOfAnswerLocked marks the answer whole (END_STREAM from the host), after checking it
// against its content-length.
func (c *h2cConn) endOfAnswerLocked(cs *h2cStream) {
	if cs.contentLength >= 0 && cs.received != cs.contentLength {
		c.resetLocked(cs, http2.ErrCodeProtocol, fmt.Errorf("proxy: HTTP/2 upstream body of %d bytes; its content-length said %d", cs.received, cs.contentLength))
		return
	}
	cs.inEOF = true
	cs.wakeLocked()
	if cs.sentEnd {
		c.closeStreamLocked(cs)
	}
}

// onData takes a DATA frame of an answer's body into its stream's buffer, which the
// stream's window bounds.
func (c *h2cConn) onData(f *http2.DataFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return c.err // as in onHeaders
	}
	n := int64(f.Length)
	if n > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	cs := c.streams[f.StreamID]
	if cs == nil || cs.inEOF || cs.reset || !cs.gotHead {
		if f.StreamID%2 == 0 || f.StreamID >= c.nextID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.creditLocked(n)
		if cs != nil && !cs.reset {
			c.resetLocked(cs, http2.ErrCodeProtocol, errors.New("proxy: HTTP/2 upstream sent DATA out of place"))
		}
		return nil
	}
	if n > cs.recvWindow {
		c.creditLocked(n)
		c.resetLocked(cs, http2.ErrCodeFlowControl, errors.New("proxy: HTTP/2 upstream overran the stream's window"))
		return nil
	}
	cs.recvWindow -= n
	data := f.Data()
	cs.received += int64(len(data))
	if cs.contentLength >= 0 && cs.received > cs.contentLength {
		c.creditLocked(n)
		c.resetLocked(cs, http2.ErrCodeProtocol, errors.New("proxy: HTTP/2 upstream body longer than its content-length"))
		return nil
	}
	if pad := n - int64(len(data)); pad > 0 {
		c.creditLocked(pad)
		cs.creditLocked(pad)
	}
	cs.in = append(cs.in, data...)
	cs.wakeLocked()
	if f.StreamEnded() {
		c.endOfAnswerLocked(cs)
	}
	return nil
}

// creditLocked gives n bytes of the connection's receive window back, in WINDOW_UPDATEs
// of at least a quarter of the window.
func (c *h2cConn) creditLocked(n int64) {
	c.recvUnacked += n
	if c.recvUnacked >= h2cConnWindow/4 && !c.dead {
		c.wfr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
		c.wake.Signal()
	}
}

// creditLocked gives n bytes of the stream's window back once a quarter was read.
func (cs *h2cStream) creditLocked(n int64) {
	c := cs.c
	cs.recvUnacked += n
	if cs.recvUnacked >= h2cStreamWindow/4 && !cs.inEOF && !cs.reset && !c.dead {
		c.wfr.WriteWindowUpdate(cs.id, uint32(cs.recvUnacked))
		cs.recvWindow += cs.recvUnacked
		cs.recvUnacked = 0
		c.wake.Signal()
	}
}

// h2cBody is an answer's body as it arrives.
type h2cBody struct{ cs *h2cStream }

func (b h2cBody) Read(p []byte) (int, error) {
	cs := b.cs
	c := cs.c
	c.mu.Lock()
	for cs.inOff == len(cs.in) {
		switch {
		case cs.inEOF:
			if cs.trailers != nil && cs.resp != nil {
				tr := make(http.Header, len(cs.trailers))
				for _, hf := range cs.trailers {
					k := http.CanonicalHeaderKey(hf.Name)
					tr[k] = append(tr[k], hf.Value)
				}
				cs.resp.Trailer = tr
			}
			c.mu.Unlock()
			return 0, io.EOF
		case cs.bodyClosed:
			c.mu.Unlock()
			return 0, errors.New("proxy: read of a closed HTTP/2 upstream body")
		case cs.err != nil:
			err := cs.err
			c.mu.Unlock()
			return 0, err
		}
		if cs.ready == nil {
			cs.ready = make(chan struct{}, 1)
		}
		ready := cs.ready
		c.mu.Unlock()
		<-ready
		c.mu.Lock()
	}
	n := copy(p, cs.in[cs.inOff:])
	if cs.inOff += n; cs.inOff == len(cs.in) {
		cs.in, cs.inOff = cs.in[:0], 0
	}
	c.creditLocked(int64(n))
	cs.creditLocked(int64(n))
	c.mu.Unlock()
	return n, nil
}

// Close ends the exchange: a stream whose answer or request is unfinished is reset.
func (b h2cBody) Close() error {
	cs := b.cs
	c := cs.c
	c.mu.Lock()
	cs.bodyClosed = true
	if left := len(cs.in) - cs.inOff; left > 0 {
		c.creditLocked(int64(left))
	}
	cs.in, cs.inOff = nil, 0
	if !cs.closed {
		c.resetLocked(cs, http2.ErrCodeCancel, errStreamGone)
	}
	cs.wakeLocked()
	c.mu.Unlock()
	cs.stop()
	return nil
}
