package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// This file moves message bodies between a bufio.Reader and a bufio.Writer without
// buffering them: bytes are written as soon as they are read, and the writer is flushed
// whenever the reader has nothing buffered and is about to block, so a stream (Server-Sent
// Events, a long poll, a chunked download) reaches the other side as it is produced while
// a body that arrives in one burst leaves in one write.

// maxChunkLine bounds a chunk-size line with its extensions, and one trailer line.
const maxChunkLine = 4096

// maxTrailerBytes bounds the trailer section of a chunked body.
const maxTrailerBytes = 16 << 10

// errBodyLimit is returned by a copy that would pass its byte limit.
var errBodyLimit = errors.New("body exceeds the limit")

// fill makes at least one byte available in src, flushing dst first when the read would
// block: what is written so far must not wait for what is not yet read.
func fill(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if src.Buffered() == 0 && dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return nil, &writeError{err}
		}
	}
	if _, err := src.Peek(1); err != nil {
		return nil, err
	}
	return src.Peek(src.Buffered())
}

// writeError marks an error as the writer's, so a copy's caller knows which side failed.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func write(dst *bufio.Writer, p []byte) error {
	if _, err := dst.Write(p); err != nil {
		return &writeError{err}
	}
	return nil
}

// copyN copies exactly n bytes. Running out early is io.ErrUnexpectedEOF. Unlike the
// other copies it does not flush before blocking: a body of known length is usually
// written at once by its sender, and a flush per read would cost a write per segment.
// The writer still flushes whenever it fills up, so a long body streams.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		_, err := src.Peek(1)
		var p []byte
		if err == nil {
			p, err = src.Peek(src.Buffered())
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if int64(len(p)) > n {
			p = p[:n]
		}
		if err := write(dst, p); err != nil {
			return err
		}
		src.Discard(len(p))
		n -= int64(len(p))
	}
	return nil
}

// copyUntilEOF copies until src ends, writing chunked framing when chunk is set (a body
// delimited by the upstream closing is sent to an HTTP/1.1 client in chunks, so the client
// connection can stay open).
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader, chunk bool) error {
	for {
		p, err := fill(dst, src)
		if err == io.EOF {
			if chunk {
				return write(dst, []byte("0\r\n\r\n"))
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := writeData(dst, p, chunk); err != nil {
			return err
		}
		src.Discard(len(p))
	}
}

var crlf = []byte("\r\n")

// writeData writes p to dst, framed as one chunk when chunked.
func writeData(dst *bufio.Writer, p []byte, chunked bool) error {
	if !chunked {
		return write(dst, p)
	}
	if err := writeChunkHeader(dst, len(p)); err != nil {
		return err
	}
	if err := write(dst, p); err != nil {
		return err
	}
	return write(dst, crlf)
}

func writeChunkHeader(dst *bufio.Writer, n int) error {
	b := strconv.AppendUint(dst.AvailableBuffer(), uint64(n), 16)
	b = append(b, '\r', '\n')
	return write(dst, b)
}

// chunkedCopy describes how copyChunked re-encodes a chunked body.
type chunkedCopy struct {
	rechunk  bool  // write chunked framing (else write the bare data: an HTTP/1.0 client)
	trailers bool  // forward the trailer fields that may be trailers; else drop them all
	limit    int64 // most data bytes allowed; < 0 means no limit
}

// copyChunked reads a chunked body (RFC 9112 section 7.1) from src and writes it to dst
// re-encoded: chunk extensions are dropped and sizes written afresh, so what the next hop
// parses is exactly what this parser understood. A malformed body is errBadChunk.
func (o chunkedCopy) copy(dst *bufio.Writer, src *bufio.Reader) (int64, error) {
	var total int64
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return total, err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return total, errBadChunk
		}
		if size == 0 {
			return total, o.copyTrailers(dst, src)
		}
		total += size
		if o.limit >= 0 && total > o.limit {
			return total, errBodyLimit
		}
		if o.rechunk {
			if err := writeChunkHeader(dst, int(size)); err != nil {
				return total, err
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return total, err
		}
		line, err = readLine(dst, src)
		if err != nil {
			return total, err
		}
		if len(line) != 0 {
			return total, errBadChunk
		}
		if o.rechunk {
			if err := write(dst, crlf); err != nil {
				return total, err
			}
		}
	}
}

func (o chunkedCopy) copyTrailers(dst *bufio.Writer, src *bufio.Reader) error {
	if o.rechunk {
		if err := write(dst, []byte("0\r\n")); err != nil {
			return err
		}
	}
	n := 0
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		n += len(line)
		if n > maxTrailerBytes {
			return errBadChunk
		}
		if !validField(line) {
			return errBadChunk
		}
		if o.rechunk && o.trailers && trailerAllowed(line[:bytes.IndexByte(line, ':')]) {
			if err := write(dst, line); err != nil {
				return err
			}
			if err := write(dst, crlf); err != nil {
				return err
			}
		}
	}
	if o.rechunk {
		return write(dst, crlf)
	}
	return nil
}

// readLine reads one CRLF-ended line of at most maxChunkLine bytes and returns it without
// the CRLF. The slice is valid until the next read of src.
func readLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if _, err := fill(dst, src); err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line, err := src.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return nil, errBadChunk
	}
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize parses chunk-size [ chunk-ext ]: hex digits (at most 15, so the size cannot
// overflow), then optionally whitespace and ';' extensions, which are checked for control
// bytes and otherwise ignored.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i == 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) == 0 {
		return n, i == len(line) // whitespace with no extension after it is not allowed
	}
	if rest[0] != ';' || !validFieldValue(rest) {
		return 0, false
	}
	return n, true
}

// validField checks one field line of a trailer section.
func validField(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	return colon > 0 && isToken(line[:colon]) && validFieldValue(line[colon+1:])
}

// trailerAllowed reports whether a field may be forwarded in a trailer section. Fields
// that frame, route, modify or authenticate a message, or say how to read its content,
// must be in the head (RFC 9110 section 6.5.1): a next hop that merged them from a
// trailer would act on something that passed no check here, so they are dropped.
func trailerAllowed(name []byte) bool {
	for _, n := range notTrailers {
		if len(n) == len(name) && equalFold(name, n) {
			return false
		}
	}
	return true
}

var notTrailers = [...]string{
	"authorization", "cache-control", "connection", "content-encoding", "content-length",
	"content-range", "content-type", "expect", "host", "keep-alive", "max-forwards",
	"pragma", "proxy-authenticate", "proxy-authorization", "proxy-connection", "range",
	"set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "www-authenticate",
}
