package resp

import (
	"io"
	"math"
	"strconv"
)

// Writer appends replies to a buffer and writes them to the stream on Flush.
// Proto is the protocol version the client speaks, 2 (the default) or 3; it decides
// the shape of nulls, maps, sets, doubles and push messages. A Writer is not safe
// for concurrent use.
type Writer struct {
	w     io.Writer
	buf   []byte
	Proto int
}

// NewWriter returns a RESP2 Writer of w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 16<<10), Proto: 2}
}

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush writes the buffered replies in one write.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		// One huge reply should not pin its memory for the life of the connection.
		w.buf = make([]byte, 0, 16<<10)
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Reset drops what is buffered and not yet flushed.
func (w *Writer) Reset() { w.buf = w.buf[:0] }

// Mark returns the current length of the buffer, for Truncate.
func (w *Writer) Mark() int { return len(w.buf) }

// Truncate drops replies appended since Mark returned n.
func (w *Writer) Truncate(n int) { w.buf = w.buf[:n] }

// Raw appends bytes that are already RESP.
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// OK appends +OK.
func (w *Writer) OK() { w.buf = append(w.buf, "+OK\r\n"...) }

// Status appends a simple string: +s.
func (w *Writer) Status(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// Error appends an error reply. msg starts with its code ("ERR ...", "WRONGTYPE ...").
// Newlines in msg would break the protocol, so they become spaces, as Redis does.
func (w *Writer) Error(msg string) {
	w.buf = append(w.buf, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, '\r', '\n')
}

// Int appends an integer reply.
func (w *Writer) Int(n int64) {
	if n >= 0 && n < 10 {
		w.buf = append(w.buf, ':', byte('0'+n), '\r', '\n')
		return
	}
	w.buf = append(w.buf, ':')
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Bulk appends a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.header('$', len(b))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkString appends a bulk string.
func (w *Writer) BulkString(s string) {
	w.header('$', len(s))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkInt appends n as a bulk string of its decimal form.
func (w *Writer) BulkInt(n int64) {
	var tmp [20]byte
	w.Bulk(strconv.AppendInt(tmp[:0], n, 10))
}

// Null appends the null bulk string: $-1 in RESP2, _ in RESP3.
func (w *Writer) Null() {
	if w.Proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "$-1\r\n"...)
}

// NullArray appends the null array: *-1 in RESP2, _ in RESP3.
func (w *Writer) NullArray() {
	if w.Proto == 3 {
		w.buf = append(w.buf, "_\r\n"...)
		return
	}
	w.buf = append(w.buf, "*-1\r\n"...)
}

// Array appends the header of an array of n elements.
func (w *Writer) Array(n int) { w.header('*', n) }

// Map appends the header of a map of n key-value pairs: %n in RESP3, an array of
// 2n elements in RESP2.
func (w *Writer) Map(n int) {
	if w.Proto == 3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// Set appends the header of a set of n elements: ~n in RESP3, an array in RESP2.
func (w *Writer) Set(n int) {
	if w.Proto == 3 {
		w.header('~', n)
		return
	}
	w.header('*', n)
}

// Push appends the header of an out-of-band push message of n elements: >n in
// RESP3, an array in RESP2 (where pub/sub messages are plain arrays).
func (w *Writer) Push(n int) {
	if w.Proto == 3 {
		w.header('>', n)
		return
	}
	w.header('*', n)
}

// Bool appends a boolean: #t or #f in RESP3, the integer 1 or 0 in RESP2.
func (w *Writer) Bool(b bool) {
	switch {
	case w.Proto == 3 && b:
		w.buf = append(w.buf, "#t\r\n"...)
	case w.Proto == 3:
		w.buf = append(w.buf, "#f\r\n"...)
	case b:
		w.Int(1)
	default:
		w.Int(0)
	}
}

// Double appends a floating-point reply: a RESP3 double, or in RESP2 a bulk string,
// formatted as Redis 7.0 does ("%.17g", and inf/-inf).
func (w *Writer) Double(f float64) {
	var tmp [32]byte
	b := AppendDouble(tmp[:0], f)
	if w.Proto == 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.Bulk(b)
}

// Verbatim appends a verbatim string: =len\r\ntxt:... in RESP3, a bulk string in RESP2.
func (w *Writer) Verbatim(s string) {
	if w.Proto != 3 {
		w.BulkString(s)
		return
	}
	w.header('=', len(s)+4)
	w.buf = append(w.buf, "txt:"...)
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

func (w *Writer) header(c byte, n int) {
	w.buf = append(w.buf, c)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendDouble appends f as Redis 7.0 prints a double in a reply: "%.17g", with
// "inf" and "-inf" for the infinities.
func AppendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}
