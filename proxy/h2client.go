package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 client of h2 pools: one per host, holding a few multiplexed connections.
//
// Each connection has one goroutine that reads frames and one that writes: streams encode
// their frames (HEADERS through the connection's hpack encoder, DATA within the
// flow-control windows) into the connection's out buffer under its mutex, and the writer
// sends all that is queued in one write, as the server side (h2server.go) does. Many
// requests in flight thus cost one write for many HEADERS frames, where x/net's client
// flushes each request on its own. A connection carries at most the streams the host's
// SETTINGS_MAX_CONCURRENT_STREAMS allows; beyond, another connection is dialed, up to the
// pool's max_idle_per_host connections per host, and past that requests wait for a
// stream to end.
//
// Each host of an h2 pool has its client (u.h2), an http.RoundTripper: requests and
// health checks go through it.

// Windows and limits of the HTTP/2 client.
const (
	h2cStreamWindow = 256 << 10 // what one response body may send ahead of its reader
	h2cConnWindow   = 1 << 20   // what all response bodies of a connection may send ahead
	h2cRetries      = 10        // transparent retries of a request the hosts did not process
	h2cPingTimeout  = 5 * time.Second
)

// errH2ConnLost is a request whose connection ended before any of the answer came: an
// idempotent request without a body may be sent again, as over a stale HTTP/1.1
// keep-alive connection.
var errH2ConnLost = errors.New("proxy: HTTP/2 upstream connection lost before the answer")

// errH2Unprocessed is a request the host did not process (RST_STREAM REFUSED_STREAM, or a
// stream above a GOAWAY's last stream): it may be sent again as it is.
var errH2Unprocessed = errors.New("proxy: HTTP/2 upstream did not process the request")

// h2Client is the HTTP/2 client of one upstream host.
type h2Client struct {
	u              *upstream
	maxConns       int
	idleTimeout    time.Duration
	maxHeaderBytes int

	mu         sync.Mutex // before any connection's mu
	conns      []*h2cConn
	dialing    bool // a dial for more streams is under way (one at a time)
	freshDials int  // dials under way for requests sent again

	roomMu  sync.Mutex    // taken with no other lock after it
	room    chan struct{} // closed (and replaced) when a stream ends or a connection changes
	waiting bool          // room was handed out since it was last closed
}

func newH2Client(u *upstream) *h2Client {
	p := u.pool
	return &h2Client{
		u:              u,
		maxConns:       max(p.cfg.MaxIdlePerHost, 1),
		idleTimeout:    p.cfg.IdleTimeout,
		maxHeaderBytes: p.srv.cfg.MaxHeaderBytes,
		room:           make(chan struct{}),
	}
}

// wake wakes the requests that wait for a stream slot. When none took the channel since
// it was last closed, there is nobody to wake: every stream's end would otherwise cost a
// channel.
func (cl *h2Client) wake() {
	cl.roomMu.Lock()
	if cl.waiting {
		close(cl.room)
		cl.room, cl.waiting = make(chan struct{}), false
	}
	cl.roomMu.Unlock()
}

// roomChan returns the channel that the next wake closes.
func (cl *h2Client) roomChan() chan struct{} {
	cl.roomMu.Lock()
	defer cl.roomMu.Unlock()
	cl.waiting = true
	return cl.room
}

// CloseIdleConnections closes the connections that carry no stream.
func (cl *h2Client) CloseIdleConnections() {
	cl.mu.Lock()
	conns := append([]*h2cConn(nil), cl.conns...)
	cl.mu.Unlock()
	for _, c := range conns {
		c.closeIfIdle()
	}
}

// RoundTrip sends req and returns the response once its head arrived. A request the host
// did not process is sent again on another connection, if its body (if any) was not read.
func (cl *h2Client) RoundTrip(req *http.Request) (*http.Response, error) {
	fields, err := cl.requestFields(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	var body *h2cSend
	if req.Body != nil && req.Body != http.NoBody {
		body = &h2cSend{r: req.Body, length: req.ContentLength, trailers: func() []hpack.HeaderField {
			return headerFields(req.Trailer) // the transport's contract: read once the body ended
		}}
	}
	cs, err := cl.exchange(req.Context(), req.Method, fields, body)
	if err != nil {
		return nil, err
	}
	return cs.response(req), nil
}

// exchange sends a request — its header list (pseudo-fields first, names in lower case)
// and body, if any — and returns its stream once the answer's head arrived. A request the
// host did not process is sent again on another connection, if it has no body (a body is
// read as it is sent). The body is closed in every case. ctx ending resets the stream.
func (cl *h2Client) exchange(ctx context.Context, method string, fields []hpack.HeaderField, body *h2cSend) (*h2cStream, error) {
	for try := 0; ; try++ {
		cs, err := cl.open(ctx, method, fields, body, try > 0)
		if err == nil {
			if err = cs.awaitHead(ctx); err == nil {
				return cs, nil
			}
			cs.stop()
		}
		// A request without a body that the host did not process goes again; one with
		// a body does not (its body is being read), and fails as any other.
		if body == nil && try < h2cRetries && (errors.Is(err, errH2Unprocessed) ||
			errors.Is(err, errH2ConnLost) && idempotent([]byte(method))) {
			continue
		}
		if cs == nil && body != nil {
			body.r.Close()
		}
		return nil, err
	}
}

// requestFields returns the header list of req: pseudo-fields, then its fields in lower
// case without the connection-specific ones, which HTTP/2 forbids.
func (cl *h2Client) requestFields(req *http.Request) ([]hpack.HeaderField, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	path := req.URL.RequestURI()
	if req.Method == http.MethodConnect || path == "" {
		return nil, fmt.Errorf("proxy: HTTP/2 request %s %q cannot be sent", req.Method, path)
	}
	fs := make([]hpack.HeaderField, 0, 4+len(req.Header)+2)
	fs = append(fs,
		hpack.HeaderField{Name: ":method", Value: req.Method},
		hpack.HeaderField{Name: ":scheme", Value: req.URL.Scheme},
		hpack.HeaderField{Name: ":authority", Value: host},
		hpack.HeaderField{Name: ":path", Value: path})
	size := 0
	for k, vs := range req.Header {
		switch k {
		case "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Content-Length", "Trailer":
			continue
		case "Te":
			vs = []string{"trailers"}
			if !strings.Contains(req.Header.Get("Te"), "trailers") {
				continue
			}
		}
		name := lowerName(k)
		for _, v := range vs {
			fs = append(fs, hpack.HeaderField{Name: name, Value: v})
			size += len(name) + len(v) + 32
		}
	}
	if len(req.Trailer) > 0 {
		var names []string
		for k := range req.Trailer {
			names = append(names, k)
		}
		fs = append(fs, hpack.HeaderField{Name: "trailer", Value: strings.Join(names, ", ")})
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody && req.ContentLength > 0 || req.ContentLength == 0 && !hasBody && (req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH") {
		fs = append(fs, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(req.ContentLength, 10)})
	}
	if size > cl.maxHeaderBytes {
		return nil, errHeadTooLarge
	}
	return fs, nil
}

// open takes a stream on a connection with room for one (dialing one when needed, and
// waiting when the host's connections are full) and sends the request's head. The body,
// if any, is sent by a goroutine of the stream's.
//
// A request sent again (fresh) goes on a new connection when the host may have one more:
// its stream is then the connection's first, and cannot lose the race for the streams a
// host takes before it fails again to the requests that came after it.
func (cl *h2Client) open(ctx context.Context, method string, fields []hpack.HeaderField, body *h2cSend, fresh bool) (*h2cStream, error) {
	cl.mu.Lock()
	if fresh = fresh && len(cl.conns)+cl.freshDials < cl.maxConns; fresh {
		cl.freshDials++
	}
	cl.mu.Unlock()
	if fresh {
		c, err := cl.dial(ctx)
		var cs *h2cStream
		cl.mu.Lock()
		cl.freshDials--
		if err == nil {
			cs = c.reserve()
			cl.conns = append(cl.conns, c)
		}
		cl.mu.Unlock()
		if err != nil {
			return nil, err
		}
		cl.wake()
		if cs != nil {
			if err := cs.start(ctx, method, fields, body); err != nil {
				return nil, err
			}
			return cs, nil
		}
	}
	for {
		room := cl.roomChan() // taken before looking: a slot freed after the look wakes us
		cl.mu.Lock()
		for _, c := range cl.conns {
			if cs := c.reserve(); cs != nil {
				cl.mu.Unlock()
				if err := cs.start(ctx, method, fields, body); err != nil {
					return nil, err
				}
				return cs, nil
			}
		}
		if !cl.dialing && len(cl.conns)+cl.freshDials < cl.maxConns {
			cl.dialing = true
			cl.mu.Unlock()
			c, err := cl.dial(ctx)
			cl.mu.Lock()
			cl.dialing = false
			if c != nil {
				cl.conns = append(cl.conns, c)
			}
			cl.mu.Unlock()
			cl.wake()
			if err != nil {
				return nil, err
			}
			continue
		}
		cl.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// remove forgets a connection that takes no more streams.
func (cl *h2Client) remove(c *h2cConn) {
	cl.mu.Lock()
	for i, x := range cl.conns {
		if x == c {
			cl.conns = append(cl.conns[:i], cl.conns[i+1:]...)
			break
		}
	}
	cl.mu.Unlock()
	cl.wake()
}

// dial connects to the host, sends the preface and our SETTINGS, and waits for the host's
// SETTINGS, so that its stream limit and windows are known before the first stream.
func (cl *h2Client) dial(ctx context.Context) (*h2cConn, error) {
	u := cl.u
	nc, err := u.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	if u.tls != nil {
		if tc, ok := nc.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol != "h2" {
			nc.Close()
			return nil, fmt.Errorf("%s did not agree to HTTP/2 in the TLS handshake (ALPN)", u.addr)
		}
	}
	c := &h2cConn{
		cl:           cl,
		nc:           nc,
		br:           bufio.NewReaderSize(nc, 32<<10),
		sendWindow:   65535,
		initWindow:   65535,
		peerMaxFrame: 16384,
		maxStreams:   100,
		recvWindow:   h2cConnWindow,
		nextID:       1,
		streams:      make(map[uint32]*h2cStream),
		readerDone:   make(chan struct{}),
		writerDone:   make(chan struct{}),
	}
	c.wake.L, c.room.L = &c.mu, &c.mu
	c.wfr = http2.NewFramer(h2Out2{c}, nil)
	c.enc = newHpackEncoder(&c.block)
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.fr.SetReuseFrames() // onData copies a DATA frame's bytes before the next read
	c.blocks = newH2BlockReader(c.fr, uint32(cl.maxHeaderBytes))

	c.out = append(c.out, h2Preface...)
	c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2cStreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(cl.maxHeaderBytes)},
	)
	c.wfr.WriteWindowUpdate(0, h2cConnWindow-65535)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := nc.Write(c.out); err != nil {
		nc.Close()
		return nil, err
	}
	c.out = c.out[:0]
	f, err := c.fr.ReadFrame()
	if err != nil {
		nc.Close()
		return nil, err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		nc.Close()
		return nil, fmt.Errorf("%s: the HTTP/2 preface did not start with SETTINGS", u.addr)
	}
	if err := c.onSettings(sf); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c.lastRead.Store(time.Now().UnixNano())
	c.idle = time.AfterFunc(cl.idleTimeout, c.closeIfIdle)
	u.open.Add(1) // until readLoop ends: gantry_proxy_upstream_connections counts HTTP/2 too
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// h2cConn is one connection to the host.
type h2cConn struct {
	cl     *h2Client
	nc     net.Conn
	br     *bufio.Reader
	fr     *http2.Framer  // reads; only the reader uses it
	blocks *h2BlockReader // decodes the header blocks fr reads

	mu    sync.Mutex
	wake  sync.Cond // the writer waits here for output
	room  sync.Cond // streams wait here for window or for room in out
	out   []byte
	spare []byte
	wfr   *http2.Framer
	enc   *hpackEncoder
	block bytes.Buffer

	sendWindow   int64
	initWindow   int64 // the host's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame int
	maxStreams   int // the host's SETTINGS_MAX_CONCURRENT_STREAMS
	recvWindow   int64
	recvUnacked  int64
	nextID       uint32
	active       int // streams reserved or open
	streams      map[uint32]*h2cStream
	goneAway     bool // the host sent GOAWAY, or we stopped taking streams
	dead         bool
	err          error // why it died
	idle         *time.Timer
	pinging      bool // a PING went out to check the host is there; its ACK is awaited

	lastRead               atomic.Int64 // unix nanoseconds of the last frame read
	readerDone, writerDone chan struct{}
}

// h2Out2 appends the frames a Framer writes to the connection's out buffer; c.mu is held.
type h2Out2 struct{ c *h2cConn }

func (o h2Out2) Write(p []byte) (int, error) {
	o.c.out = append(o.c.out, p...)
	return len(p), nil
}

// reserve takes a stream slot on the connection, or returns nil when it has none.
func (c *h2cConn) reserve() *h2cStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.goneAway || c.active >= c.maxStreams || c.nextID > 1<<31-1 {
		return nil
	}
	c.active++
	c.idle.Stop()
	return &h2cStream{c: c, headDone: make(chan struct{}), contentLength: -1}
}

// closeIfIdle closes the connection if it carries no stream.
func (c *h2cConn) closeIfIdle() {
	c.mu.Lock()
	idle := c.active == 0 && !c.dead
	if idle {
		c.goneAway = true
	}
	c.mu.Unlock()
	if idle {
		c.cl.remove(c)
		c.nc.Close() // the reader ends, and fails nothing: no stream
	}
}

// readLoop reads the host's frames until the connection ends.
func (c *h2cConn) readLoop() {
	defer close(c.readerDone)
	var err error
	for {
		var f http2.Frame
		if f, err = c.fr.ReadFrame(); err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.mu.Lock()
				if cs := c.streams[se.StreamID]; cs != nil {
					c.resetLocked(cs, se.Code, fmt.Errorf("proxy: HTTP/2 upstream stream: %w", se))
				}
				c.mu.Unlock()
				continue
			}
			break
		}
		c.lastRead.Store(time.Now().UnixNano())
		if err = c.handle(f); err != nil {
			break
		}
	}
	var ce http2.ConnectionError
	c.mu.Lock()
	goAway := errors.As(err, &ce) && !c.dead
	if goAway {
		// The host broke the protocol: it is told why before the close.
		c.wfr.WriteGoAway(0, http2.ErrCode(ce), nil)
	}
	c.dieLocked(fmt.Errorf("proxy: HTTP/2 upstream connection: %w", err))
	c.mu.Unlock()
	if !goAway {
		c.nc.Close() // a writer blocked on a host that reads nothing returns
	}
	<-c.writerDone
	c.nc.Close()
	c.idle.Stop()
	c.cl.remove(c)
	c.cl.u.open.Add(-1)
}

// checkLocked sends a PING when the host has been silent for a while as a request gives
// up on it (its read timeout, or its client gone): a host that does not answer within
// h2cPingTimeout is taken for gone and its connection closed, so that new requests do not
// wait on it in turn. c.mu is held.
func (c *h2cConn) checkLocked() {
	if c.pinging || c.dead || time.Since(time.Unix(0, c.lastRead.Load())) < h2cPingTimeout {
		return
	}
	c.pinging = true
	sent := time.Now().UnixNano()
	c.wfr.WritePing(false, [8]byte{'g', 'a', 'n', 't', 'r', 'y'})
	c.wake.Signal()
	time.AfterFunc(h2cPingTimeout, func() {
		if c.lastRead.Load() < sent {
			c.nc.Close() // the reader fails the streams and takes the connection away
		}
	})
}

// dieLocked ends the connection: every stream fails with err. c.mu is held.
func (c *h2cConn) dieLocked(err error) {
	if c.dead {
		return
	}
	c.dead, c.err = true, err
	for _, cs := range c.streams {
		if cs.gotHead {
			cs.failLocked(err)
		} else {
			cs.failLocked(fmt.Errorf("%w: %w", errH2ConnLost, err))
		}
	}
	c.wake.Signal()
	c.room.Broadcast()
}

// writeLoop writes what the streams queue, all at once, until the connection dies.
func (c *h2cConn) writeLoop() {
	defer close(c.writerDone)
	for {
		c.mu.Lock()
		for len(c.out) == 0 && !c.dead {
			c.wake.Wait()
		}
		if !c.dead {
			gather(&c.mu, len(c.out))
		}
		if len(c.out) == 0 {
			c.mu.Unlock()
			return
		}
		buf := c.out
		c.out, c.spare = c.spare[:0], nil
		dead := c.dead
		c.room.Broadcast()
		c.mu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := c.nc.Write(buf)
		c.mu.Lock()
		if cap(buf) <= 4*h2MaxOut {
			c.spare = buf[:0]
		}
		if err != nil || dead {
			c.dieLocked(fmt.Errorf("proxy: HTTP/2 upstream write: %w", err))
			c.mu.Unlock()
			c.nc.Close() // the reader stops too
			return
		}
		c.mu.Unlock()
	}
}

// handle acts on one frame from the host.
func (c *h2cConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		b, err := c.blocks.read(f)
		if se := (http2.StreamError{}); errors.As(err, &se) {
			c.mu.Lock()
			if cs := c.streams[se.StreamID]; cs != nil {
				c.resetLocked(cs, se.Code, fmt.Errorf("proxy: HTTP/2 upstream stream: %w", se))
			}
			c.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		return c.onHeaders(b)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.onSettingsLocked(f)
	case *http2.WindowUpdateFrame:
		c.mu.Lock()
		defer c.mu.Unlock()
		inc := int64(f.Increment)
		if f.StreamID == 0 {
			if c.sendWindow += inc; c.sendWindow > 1<<31-1 {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
		} else if cs := c.streams[f.StreamID]; cs != nil {
			if cs.sendWindow += inc; cs.sendWindow > 1<<31-1 {
				c.resetLocked(cs, http2.ErrCodeFlowControl, errors.New("proxy: HTTP/2 upstream stream window overflow"))
			}
		}
		c.room.Broadcast()
	case *http2.PingFrame:
		if f.StreamID != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.mu.Lock()
		if f.IsAck() {
			c.pinging = false
		} else {
			c.wfr.WritePing(true, f.Data)
			c.wake.Signal()
		}
		c.mu.Unlock()
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		defer c.mu.Unlock()
		if cs := c.streams[f.StreamID]; cs != nil {
			err := fmt.Errorf("proxy: HTTP/2 upstream reset the stream: %v", f.ErrCode)
			if f.ErrCode == http2.ErrCodeRefusedStream && !cs.gotHead {
				err = errH2Unprocessed
			}
			cs.reset = true // no RST_STREAM back
			c.closeStreamLocked(cs)
			cs.failLocked(err)
		}
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.goneAway = true
		for id, cs := range c.streams {
			if id > f.LastStreamID {
				// Not processed, by the host's word: the request may go elsewhere.
				cs.reset = true
				c.closeStreamLocked(cs)
				cs.failLocked(errH2Unprocessed)
			}
		}
		if f.ErrCode != http2.ErrCodeNo {
			c.dieLocked(fmt.Errorf("proxy: HTTP/2 upstream GOAWAY %v", f.ErrCode))
		}
		idle := c.active == 0
		c.mu.Unlock()
		c.cl.remove(c)
		if idle {
			c.nc.Close()
		}
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // push is off (SETTINGS_ENABLE_PUSH 0)
	}
	return nil
}

func (c *h2cConn) onSettings(f *http2.SettingsFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.onSettingsLocked(f)
}

func (c *h2cConn) onSettingsLocked(f *http2.SettingsFrame) error {
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = int(min(s.Val, 1000))
			c.cl.wake()
		case http2.SettingInitialWindowSize:
			d := int64(s.Val) - c.initWindow
			c.initWindow = int64(s.Val)
			for _, cs := range c.streams {
				if cs.sendWindow += d; cs.sendWindow > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.room.Broadcast()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(s.Val)
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.wfr.WriteSettingsAck()
	c.wake.Signal()
	return nil
}
