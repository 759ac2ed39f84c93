package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// The HTTP/2 server: one goroutine per connection reads frames, a goroutine per stream
// forwards its request, and one writer per connection sends what the streams queue.
//
// Streams encode their frames (HEADERS through the connection's hpack encoder, DATA within
// the flow-control windows) into the connection's out buffer under its mutex; the writer
// takes the whole buffer and writes it at once, so every frame queued while the previous
// write was in the kernel leaves in the next single write (and, over TLS, in as few
// records as fit). Nothing waits for a timer: a write happens when there is something to
// write and the previous one is done.

// Limits and windows of the HTTP/2 server.
const (
	h2MaxStreams   = 250       // SETTINGS_MAX_CONCURRENT_STREAMS
	h2StreamWindow = 256 << 10 // what one stream's request body may send ahead of the proxy
	h2ConnWindow   = 1 << 20   // what all streams together may send ahead: the buffer bound
	h2MaxFrame     = 16384     // the largest frame read (the protocol's default, not raised)
	h2MaxOut       = 1 << 20   // queued output beyond which streams wait for the writer
	h2MaxRefused   = 1000      // streams refused on one connection before it is closed
)

// h2Hub holds the HTTP/2 connections, so that Shutdown can send them GOAWAY.
type h2Hub struct {
	mu      sync.Mutex
	conns   map[*h2Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// newH2Server returns the (empty) set of HTTP/2 connections.
func (s *Server) newH2Server() *h2Hub {
	return &h2Hub{conns: make(map[*h2Conn]struct{})}
}

// serveH2 serves the HTTP/2 connections the fast path hands over, until Shutdown.
func (s *Server) serveH2() {
	defer s.wg.Done()
	hub := s.h2
	for {
		nc, err := s.h2ln.Accept()
		if err != nil {
			return
		}
		c := newH2Conn(s, nc)
		hub.mu.Lock()
		if hub.closing {
			hub.mu.Unlock()
			nc.Close()
			continue
		}
		hub.conns[c] = struct{}{}
		hub.wg.Add(1)
		hub.mu.Unlock()
		go func() {
			defer hub.wg.Done()
			c.serve()
			hub.mu.Lock()
			delete(hub.conns, c)
			hub.mu.Unlock()
		}()
	}
}

// shutdownH2 sends GOAWAY on every HTTP/2 connection, and waits until their streams have
// finished and they have closed, or until ctx ends (then it closes them).
func (s *Server) shutdownH2(ctx context.Context) error {
	hub := s.h2
	hub.mu.Lock()
	hub.closing = true
	for c := range hub.conns {
		c.goAway(http2.ErrCodeNo)
	}
	hub.mu.Unlock()
	s.h2ln.Close()
	done := make(chan struct{})
	go func() {
		hub.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	hub.mu.Lock()
	for c := range hub.conns {
		c.nc.Close()
	}
	hub.mu.Unlock()
	return ctx.Err()
}

// h2Conn is one HTTP/2 client connection.
type h2Conn struct {
	s          *Server
	nc         net.Conn
	br         *bufio.Reader
	fr         *http2.Framer  // reads; only the serving goroutine uses it
	blocks     *h2BlockReader // decodes the header blocks fr reads
	remote     []byte         // client IP
	tls        *tls.ConnectionState
	remoteAddr string
	via        []string // the Via value, shared by every response (read only)

	mu    sync.Mutex
	wake  sync.Cond // the writer waits here for output
	room  sync.Cond // streams wait here for window or for room in out
	out   []byte    // frames queued for the writer
	spare []byte    // the writer's other buffer
	wfr   *http2.Framer
	enc   *hpackEncoder
	block bytes.Buffer // the header block being encoded

	sendWindow   int64 // the client's connection window for our DATA
	initWindow   int64 // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerMaxFrame int   // the client's SETTINGS_MAX_FRAME_SIZE
	recvWindow   int64 // what the client may still send on the connection
	recvUnacked  int64 // received and consumed, not yet given back
	streams      map[uint32]*h2Stream
	lastID       uint32 // the highest stream the client opened
	refused      int
	goneAway     bool // GOAWAY sent: no new streams
	finishing    bool // GOAWAY sent and no stream left: the writer ends after its last write
	dead         bool // the connection is closed or broken: nothing more is written
	idle         *time.Timer

	handlers   sync.WaitGroup // the stream workers
	work       chan *h2Stream // hands a new stream to an idle worker
	quit       chan struct{}  // closed when the connection ends: idle workers exit
	writerDone chan struct{}
}

// h2Out appends the frames a Framer writes to the connection's out buffer; c.mu is held.
type h2Out struct{ c *h2Conn }

func (o h2Out) Write(p []byte) (int, error) {
	o.c.out = append(o.c.out, p...)
	return len(p), nil
}

func newH2Conn(s *Server, nc net.Conn) *h2Conn {
	c := &h2Conn{
		s:            s,
		nc:           nc,
		via:          []string{string(s.via)},
		sendWindow:   65535,
		initWindow:   65535,
		peerMaxFrame: 16384,
		recvWindow:   65535,
		streams:      make(map[uint32]*h2Stream),
		writerDone:   make(chan struct{}),
		work:         make(chan *h2Stream),
		quit:         make(chan struct{}),
	}
	c.wake.L, c.room.L = &c.mu, &c.mu
	c.wfr = http2.NewFramer(h2Out{c}, nil)
	c.enc = newHpackEncoder(&c.block)
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		c.tls = &cs
	}
	c.remoteAddr = nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.remote = []byte(host)
	}
	return c
}

// serve reads the connection's frames until it ends, then waits for its streams.
func (c *h2Conn) serve() {
	s := c.s
	c.br = s.readers.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	defer func() {
		c.br.Reset(nil)
		s.readers.Put(c.br)
	}()
	err := c.readFrames()
	c.mu.Lock()
	if !c.dead && !c.finishing {
		var ce http2.ConnectionError
		switch {
		case errors.As(err, &ce):
			c.goAwayLocked(http2.ErrCode(ce))
		case errors.Is(err, http2.ErrFrameTooLarge):
			c.goAwayLocked(http2.ErrCodeFrameSize)
		}
		if c.goneAway {
			// A GOAWAY with an error code goes out before the connection closes.
			c.finishing = true
			c.wake.Signal()
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		} else {
			c.dead = true
			c.wake.Signal()
		}
	}
	c.mu.Unlock()
	if c.writerStarted() {
		<-c.writerDone
	}
	c.mu.Lock()
	c.dieLocked()
	c.mu.Unlock()
	c.nc.Close()
	if c.idle != nil {
		c.idle.Stop()
	}
	close(c.quit)
	c.handlers.Wait()
	s.log.Debug("proxy: HTTP/2 connection closed", "remote", string(c.remote), "err", err)
}

func (c *h2Conn) writerStarted() bool { return c.idle != nil }

// dieLocked marks the connection dead and wakes whatever waits on it: every stream's
// handler and body reader, and streams waiting for window or for room in the output
// queue. c.mu is held.
func (c *h2Conn) dieLocked() {
	c.dead = true
	for _, st := range c.streams {
		st.cancelLocked()
		st.wakeBody()
	}
	c.room.Broadcast()
}

// readFrames reads the preface and then frames until the connection ends or breaks.
func (c *h2Conn) readFrames() error {
	s := c.s
	c.nc.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	var pre [len(h2Preface)]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil {
		return err
	}
	if string(pre[:]) != h2Preface {
		return errors.New("no HTTP/2 preface")
	}
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.fr.SetReuseFrames()
	c.blocks = newH2BlockReader(c.fr, uint32(s.cfg.MaxHeaderBytes))

	c.mu.Lock()
	c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(s.cfg.MaxHeaderBytes)},
	)
	c.wfr.WriteWindowUpdate(0, h2ConnWindow-65535)
	c.recvWindow = h2ConnWindow
	c.idle = time.AfterFunc(s.cfg.IdleTimeout, c.idleTimeout)
	c.mu.Unlock()
	go c.writeLoop()

	// The preface ends with the client's SETTINGS.
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.nc.SetReadDeadline(time.Time{})
	for {
		if err := c.handle(f); err != nil {
			return err
		}
		for {
			if f, err = c.fr.ReadFrame(); err == nil {
				break
			}
			var se http2.StreamError
			if !errors.As(err, &se) {
				return err
			}
			c.streamError(se)
		}
	}
}

// streamError resets the stream of a malformed header block or frame and lets the
// connection go on (the block was decoded, so the hpack state holds).
func (c *h2Conn) streamError(se http2.StreamError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if se.StreamID%2 == 1 && se.StreamID > c.lastID {
		c.lastID = se.StreamID
	}
	if st := c.streams[se.StreamID]; st != nil {
		c.resetLocked(st, se.Code)
		return
	}
	c.waitRoomLocked()
	c.wfr.WriteRSTStream(se.StreamID, se.Code)
	c.wake.Signal()
}

// handle acts on one frame read from the client.
func (c *h2Conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		b, err := c.blocks.read(f)
		if se := (http2.StreamError{}); errors.As(err, &se) {
			c.streamError(se)
			return nil
		}
		if err != nil {
			return err
		}
		return c.onHeaders(b)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		if f.StreamID != 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if !f.IsAck() {
			c.mu.Lock()
			c.waitRoomLocked()
			c.wfr.WritePing(true, f.Data)
			c.wake.Signal()
			c.mu.Unlock()
		}
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		defer c.mu.Unlock()
		if f.StreamID > c.lastID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		if st := c.streams[f.StreamID]; st != nil {
			st.reset = true
			st.cancelLocked()
			st.wakeBody()
			c.room.Broadcast()
		}
	case *http2.GoAwayFrame:
		// The client opens no more streams; those in flight finish.
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients do not push
	case *http2.ContinuationFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // blocks.read takes valid ones
	}
	// PRIORITY, PRIORITY_UPDATE and unknown frames are ignored.
	return nil
}

func (c *h2Conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		if err := st.Valid(); err != nil {
			return err
		}
		switch st.ID {
		case http2.SettingInitialWindowSize:
			// Open streams' windows move by the difference (RFC 9113 section 6.9.2).
			d := int64(st.Val) - c.initWindow
			c.initWindow = int64(st.Val)
			for _, s := range c.streams {
				s.sendWindow += d
				if s.sendWindow > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.room.Broadcast()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(st.Val)
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(st.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.waitRoomLocked()
	c.wfr.WriteSettingsAck()
	c.wake.Signal()
	return nil
}

func (c *h2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if c.sendWindow += inc; c.sendWindow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.room.Broadcast()
		return nil
	}
	if f.StreamID > c.lastID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	if st := c.streams[f.StreamID]; st != nil && !st.reset {
		if st.sendWindow += inc; st.sendWindow > 1<<31-1 {
			c.resetLocked(st, http2.ErrCodeFlowControl)
			return nil
		}
		c.room.Broadcast()
	}
	return nil
}

// onData takes a DATA frame of a request body into its stream's buffer.
func (c *h2Conn) onData(f *http2.DataFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(f.Length) // padding counts against the windows too
	if n > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	st := c.streams[f.StreamID]
	if st == nil || st.inEOF || st.reset {
		if f.StreamID > c.lastID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		// A closed stream (its answer is complete, or it was reset): the bytes are
		// dropped, and the connection's window gets them back.
		c.creditLocked(n)
		if st == nil || !st.reset {
			c.wfr.WriteRSTStream(f.StreamID, http2.ErrCodeStreamClosed)
			c.wake.Signal()
		}
		return nil
	}
	if n > st.recvWindow {
		c.creditLocked(n)
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	st.recvWindow -= n
	data := f.Data()
	st.received += int64(len(data))
	if st.contentLength >= 0 && (st.received > st.contentLength ||
		f.StreamEnded() && st.received != st.contentLength) {
		c.creditLocked(n)
		c.resetLocked(st, http2.ErrCodeProtocol) // the body does not match content-length
		return nil
	}
	if pad := n - int64(len(data)); pad > 0 {
		c.creditLocked(pad)
		st.creditLocked(pad)
	}
	st.in = append(st.in, data...)
	if f.StreamEnded() {
		st.inEOF = true
	}
	st.wakeBody()
	return nil
}

// creditLocked gives n bytes of the connection's receive window back, in WINDOW_UPDATEs
// of at least a quarter of the window.
func (c *h2Conn) creditLocked(n int64) {
	c.recvUnacked += n
	if c.recvUnacked >= h2ConnWindow/4 {
		c.wfr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
		c.wake.Signal()
	}
}

// resetLocked resets a stream: RST_STREAM to the client, and the stream's handler is
// cancelled (it finishes on its own; nothing more of it is sent).
func (c *h2Conn) resetLocked(st *h2Stream, code http2.ErrCode) {
	if st.reset {
		return
	}
	st.reset = true
	st.cancelLocked()
	st.wakeBody()
	c.wfr.WriteRSTStream(st.id, code)
	c.wake.Signal()
	c.room.Broadcast()
}

// waitRoomLocked waits while the output queue is full, so that a client that sends
// without reading cannot make it grow without bound.
func (c *h2Conn) waitRoomLocked() {
	for len(c.out) > h2MaxOut && !c.dead {
		c.room.Wait()
	}
}

// goAway sends GOAWAY: the client opens no more streams, and the connection closes when
// those in flight are done.
func (c *h2Conn) goAway(code http2.ErrCode) {
	c.mu.Lock()
	c.goAwayLocked(code)
	c.mu.Unlock()
}

func (c *h2Conn) goAwayLocked(code http2.ErrCode) {
	if c.dead {
		return
	}
	if c.idle == nil {
		// Still in the preface: the server's first frame must be its SETTINGS, so there
		// is no GOAWAY to send yet. The connection just closes.
		c.dead = true
		c.nc.Close()
		return
	}
	if !c.goneAway {
		c.goneAway = true
		c.wfr.WriteGoAway(c.lastID, code, nil)
		c.wake.Signal()
	}
	if len(c.streams) == 0 {
		c.finishing = true
		c.wake.Signal()
	}
}

func (c *h2Conn) idleTimeout() {
	c.mu.Lock()
	if len(c.streams) == 0 {
		c.goAwayLocked(http2.ErrCodeNo)
	}
	c.mu.Unlock()
}

// writeLoop writes what the streams queue, all of it at once, until the connection dies
// or finishes. After a finishing write it half-closes the connection and gives the
// client a moment to close its side, so that the GOAWAY is read before the close.
func (c *h2Conn) writeLoop() {
	defer close(c.writerDone)
	timeout := c.s.cfg.IdleTimeout
	var deadline time.Time
	for {
		c.mu.Lock()
		for len(c.out) == 0 && !c.dead && !c.finishing {
			c.wake.Wait()
		}
		if !c.dead {
			gather(&c.mu, len(c.out))
		}
		if c.dead || len(c.out) == 0 {
			fin := c.finishing && !c.dead
			c.mu.Unlock()
			if fin {
				closeWrite(c.nc)
				c.nc.SetReadDeadline(time.Now().Add(time.Second))
			}
			return
		}
		buf := c.out
		c.out, c.spare = c.spare[:0], nil
		c.room.Broadcast()
		c.mu.Unlock()
		// The deadline moves only when it would move by a sixteenth of the timeout:
		// setting it costs a little on every call.
		if now := time.Now(); deadline.Sub(now) < timeout-timeout/16 {
			deadline = now.Add(timeout)
			c.nc.SetWriteDeadline(deadline)
		}
		_, err := c.nc.Write(buf)
		c.mu.Lock()
		if cap(buf) <= 4*h2MaxOut {
			c.spare = buf[:0]
		}
		if err != nil {
			c.dieLocked()
			c.mu.Unlock()
			c.nc.Close() // the reader stops too
			return
		}
		c.mu.Unlock()
	}
}

// h2Gather is the output below which a writer lets the other goroutines run once before
// it writes, so that the frames they are about to queue (other streams' answers, or
// requests) leave in the same write: a write per frame costs a system call each, and over
// TLS a record each.
const h2Gather = 16 << 10

// gather lets the other goroutines run once, with mu (held) released meanwhile, when
// fewer than h2Gather bytes of output are queued.
func gather(mu *sync.Mutex, queued int) {
	if queued > 0 && queued < h2Gather {
		mu.Unlock()
		runtime.Gosched()
		mu.Lock()
	}
}
