package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/semaphore"
)

// conn is one client connection. Its reader goroutine parses requests and does the
// work that must happen in request order (appends); its writer goroutine finishes each
// request (waits for an fsync or for fetchable data) and writes the answers in order.
type conn struct {
	s       *Server
	nc      net.Conn
	host    string // the client's address, as DescribeGroups reports it
	lg      *slog.Logger
	pending chan *pending
	budget  *semaphore.Weighted // bytes of requests read and not yet answered
}

// pending is a request read but not yet answered.
type pending struct {
	key      int16
	corr     int32
	clientID string
	flexible bool                 // the response header carries tagged fields
	resp     kmsg.Response        // the answer, when known at once
	wait     func() kmsg.Response // or how to get it, run by the writer
	none     bool                 // no answer at all (Produce with acks=0)
	size     int64                // bytes of the request, returned to the budget when answered
	done     func()               // run once the answer is written or dropped (returns buffers)
}

func newConn(s *Server, nc net.Conn) *conn {
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	return &conn{s: s, nc: nc, host: "/" + host, lg: s.log.With("remote", nc.RemoteAddr().String()),
		pending: make(chan *pending, s.cfg.MaxInFlight), budget: semaphore.NewWeighted(s.cfg.MaxConnBytes)}
}

func (c *conn) serve() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop()
	}()
	err := c.readLoop()
	close(c.pending)
	<-done
	c.nc.Close()
	if err != nil {
		c.lg.Warn("closing connection", "err", err)
	}
}

// stopReading makes the reader stop at its next read: the connection finishes what it
// has read and closes.
func (c *conn) stopReading() { c.nc.SetReadDeadline(time.Now()) }

// errBadRequest marks a malformed or unsupported request: the connection is closed.
var errBadRequest = errors.New("bad request")

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var size [4]byte
	for {
		if _, err := io.ReadFull(br, size[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				return nil // the client went away, or the broker is shutting down
			}
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 10 || n > c.s.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: frame of %d bytes (limit %d)", errBadRequest, n, c.s.cfg.MaxRequestBytes)
		}
		// Wait until answers have freed room for this request (one request bigger than
		// the whole budget takes all of it).
		size := min(int64(n), c.s.cfg.MaxConnBytes)
		if err := c.budget.Acquire(c.s.ctx, size); err != nil {
			return nil
		}
		frame, pooled := c.frameBuf(br, int(n))
		if _, err := io.ReadFull(br, frame); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("%w: frame cut short: %v", errBadRequest, err)
		}
		p, err := c.parse(frame)
		if err != nil {
			c.budget.Release(size)
			return err
		}
		p.size = size
		if pooled != nil {
			// A Produce: its frame goes back to the pool once the request is answered.
			done := p.done
			p.done = func() {
				if done != nil {
					done()
				}
				c.s.readBufs.put(pooled)
			}
		}
		c.pending <- p
	}
}

// frameBuf returns the buffer to read a request frame of n bytes into. A Produce
// frame comes from the server's pool (pooled is its handle): its records are written to
// the log while the request is handled, and nothing of the frame is kept after it is
// answered (strings are copied out: see parse). Other requests get a fresh buffer,
// since the broker may keep their byte fields (a group member's metadata and
// assignment).
func (c *conn) frameBuf(br *bufio.Reader, n int) (frame []byte, pooled *[]byte) {
	if k, err := br.Peek(2); err == nil && int16(binary.BigEndian.Uint16(k)) == kmsg.Produce.Int16() {
		return c.s.readBufs.get(n)
	}
	return make([]byte, n), nil
}

// parse decodes one request frame and runs its handler.
func (c *conn) parse(frame []byte) (*pending, error) {
	be := binary.BigEndian
	key, version, corr := int16(be.Uint16(frame)), int16(be.Uint16(frame[2:])), int32(be.Uint32(frame[4:]))
	clientLen := int(int16(be.Uint16(frame[8:])))
	body, clientID := frame[10:], ""
	if clientLen > 0 {
		if clientLen > len(body) {
			return nil, fmt.Errorf("%w: client id of %d bytes in a %d-byte frame", errBadRequest, clientLen, len(frame))
		}
		clientID, body = string(body[:clientLen]), body[clientLen:]
	}
	vr, ok := apiVersions[kmsg.Key(key)]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported API key %d version %d", errBadRequest, key, version)
	}
	req := kmsg.RequestForKey(key)
	p := &pending{key: key, corr: corr, clientID: clientID}
	if version < vr.min || version > vr.max {
		if kmsg.Key(key) == kmsg.ApiVersions {
			// KIP-511: answer with v0 and the versions we do support, so that the
			// client can retry with one of them.
			r := kmsg.NewPtrApiVersionsResponse()
			r.ErrorCode = 35 // UNSUPPORTED_VERSION
			r.ApiKeys = apiVersionList()
			p.resp = r
			return p, nil
		}
		return nil, fmt.Errorf("%w: %s version %d (supported %d to %d)", errBadRequest, kmsg.Key(key).Name(), version, vr.min, vr.max)
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		rest, err := skipTags(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %s header: %v", errBadRequest, kmsg.Key(key).Name(), err)
		}
		body = rest
	}
	// Strings are copied out of the frame (ReadFrom, not UnsafeReadFrom): the broker
	// keeps some of them (topic names, group ids, committed offsets' keys), and a string
	// pointing into the frame would pin the whole frame, up to MaxRequestBytes, for as
	// long as it is kept. Byte fields (records) still point into the frame, which lives
	// until the request is answered.
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %v", errBadRequest, kmsg.Key(key).Name(), version, err)
	}
	p.flexible = req.IsFlexible() && kmsg.Key(key) != kmsg.ApiVersions
	c.s.handle(c, req, p)
	return p, nil
}

// skipTags skips the tagged fields of a flexible request header.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("bad tag count")
	}
	b = b[k:]
	for range n {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errors.New("bad tag size")
		}
		b = b[k+int(size):]
	}
	return b, nil
}

func (c *conn) writeLoop() {
	var buf []byte
	failed := false
	for p := range c.pending {
		if failed {
			c.finish(p)
			continue // drain, so that the reader is never stuck
		}
		resp := p.resp
		if p.wait != nil {
			resp = p.wait()
		}
		if p.none || resp == nil {
			c.finish(p)
			continue
		}
		buf = append(buf[:0], 0, 0, 0, 0)
		buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
		if p.flexible {
			buf = append(buf, 0) // no tagged fields in the response header
		}
		var err error
		if fr, ok := resp.(*kmsg.FetchResponse); ok {
			err = c.writeFetch(buf, fr)
		} else {
			buf = resp.AppendTo(buf)
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
			_, err = c.nc.Write(buf)
		}
		c.finish(p) // after the write: a Fetch's answer points into its read buffers
		if err != nil {
			failed = true
			c.nc.Close() // the reader stops too
			if !errors.Is(err, net.ErrClosed) {
				c.lg.Debug("write", "err", err)
			}
		}
		if cap(buf) > 4<<20 {
			buf = nil // do not keep one big response's buffer for the connection's life
		}
	}
}

// finish gives back what an answered (or dropped) request held.
func (c *conn) finish(p *pending) {
	if p.done != nil {
		p.done()
	}
	c.budget.Release(p.size)
}

// writeFetch writes a Fetch response whose record batches go from the log's read
// buffers to the socket without another copy (one writev).
func (c *conn) writeFetch(hdr []byte, fr *kmsg.FetchResponse) error {
	bufs, ok := fetchFrame(hdr, fr)
	if !ok {
		b := fr.AppendTo(hdr)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		_, err := c.nc.Write(b)
		return err
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	binary.BigEndian.PutUint32(bufs[0], uint32(n-4))
	_, err := bufs.WriteTo(c.nc)
	return err
}
