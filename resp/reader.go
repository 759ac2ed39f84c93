package resp

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Limits bound what a client may send. A zero field takes the default shown, which
// matches Redis's defaults.
type Limits struct {
	MaxBulk      int // longest bulk string argument: 512 MB (proto-max-bulk-len)
	MaxMultibulk int // most arguments in one command: 1024*1024
	MaxInline    int // longest inline command line: 64 KB
	MaxQuery     int // most bytes one unfinished command may occupy: 1 GB (client-query-buffer-limit)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBulk <= 0 {
		l.MaxBulk = 512 << 20
	}
	if l.MaxMultibulk <= 0 {
		l.MaxMultibulk = 1024 * 1024
	}
	if l.MaxInline <= 0 {
		l.MaxInline = 64 << 10
	}
	if l.MaxQuery <= 0 {
		l.MaxQuery = 1 << 30
	}
	return l
}

// ProtocolError is malformed input. Its text is what Redis replies after "ERR "
// before it closes the connection, for example "Protocol error: invalid bulk length".
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// ErrQueryBufferLimit is returned when one command grows past Limits.MaxQuery.
// Redis closes such a client without a reply.
var ErrQueryBufferLimit = errors.New("resp: query buffer limit reached")

const (
	minBuffer = 16 << 10
	// bulkHeaderMax is the longest "$<len>\r\n" or "*<count>\r\n" line accepted,
	// as Redis: a longer one cannot hold a valid count.
	countLineMax = 64 << 10
)

// span is an argument's place in the buffer; offsets survive the buffer moving.
type span struct{ off, n int }

// Reader reads commands from a stream. It is not safe for concurrent use.
type Reader struct {
	rd   io.Reader
	lim  Limits
	buf  []byte
	r, w int // unread bytes are buf[r:w]

	// Parse state of the multibulk command at buf[r:], kept across reads so that a
	// command arriving in many pieces is not parsed again from its start.
	multi   bool
	want    int // arguments still to parse
	pos     int // next unparsed byte (absolute index into buf)
	spans   []span
	args    [][]byte
	readErr error

	// lineFrom and lineScan remember how far the search for the end of the line
	// starting at lineFrom has got, so that a long line arriving byte by byte is
	// scanned once.
	lineFrom, lineScan int

	beforeRead func() error
	unauth     bool
}

// SetUnauthenticated turns on (or off) the tighter limits Redis applies before a
// client has authenticated: at most 10 arguments and bulks of at most 16 KB, so that
// a client without the password cannot make the server buffer much.
func (r *Reader) SetUnauthenticated(on bool) { r.unauth = on }

// SetBeforeRead sets a function called whenever the Reader is about to read from
// the stream, that is, when no complete command is buffered. A server flushes its
// replies there: a pipeline's replies then go out in one write, and no reply waits
// while the server waits for a client.
func (r *Reader) SetBeforeRead(f func() error) { r.beforeRead = f }

// NewReader returns a Reader of rd with the given limits.
func NewReader(rd io.Reader, lim Limits) *Reader {
	return &Reader{rd: rd, lim: lim.withDefaults(), buf: make([]byte, minBuffer)}
}

// Buffered returns how many bytes have been read from the stream but not yet
// returned as commands. A server flushes its replies when this is zero, so that
// the replies of a pipeline go out in one write.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadCommand returns the next command's arguments; it has at least one.
// The slices alias the Reader's buffer and stay valid only until the next call.
// Empty inline lines and empty arrays are skipped, as Redis does.
// A *ProtocolError means the stream is corrupt and should be closed after the
// error is reported; io.EOF means the client closed cleanly between commands.
func (r *Reader) ReadCommand() ([][]byte, error) {
	if r.r == r.w && len(r.buf) > 4*minBuffer {
		// A big command is done: give its memory back.
		r.buf = make([]byte, minBuffer)
		r.r, r.w = 0, 0
	}
	for {
		args, ok, err := r.parse()
		if err != nil {
			return nil, err
		}
		if ok {
			if len(args) == 0 {
				continue
			}
			return args, nil
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && r.w > r.r {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Fill reads once from the stream into the buffer, without parsing. A server uses
// it while a client waits in a blocking command, to notice the client leaving:
// Fill then returns io.EOF or the connection's error. Bytes read are kept for the
// commands that follow. A timeout error (one with a Timeout method that reports
// true) is returned but not remembered, so a read deadline can interrupt Fill and
// reading goes on afterwards. Fill must not run at the same time as ReadCommand.
func (r *Reader) Fill() error {
	before := r.beforeRead
	r.beforeRead = nil
	err := r.fill()
	r.beforeRead = before
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() && r.readErr == err {
		r.readErr = nil
	}
	return err
}

// fill reads more bytes, compacting or growing the buffer first when it is full.
// It grows only when the unread bytes fill the whole buffer, so memory follows
// what the client sent, not what it announced.
func (r *Reader) fill() error {
	if r.readErr != nil {
		return r.readErr
	}
	if r.beforeRead != nil {
		if err := r.beforeRead(); err != nil {
			return err
		}
	}
	if r.r > 0 && (r.w == len(r.buf) || r.r == r.w) {
		n := copy(r.buf, r.buf[r.r:r.w])
		shift := r.r
		r.r, r.w = 0, n
		r.lineFrom -= shift
		r.lineScan -= shift
		if r.multi {
			r.pos -= shift
			for i := range r.spans {
				r.spans[i].off -= shift
			}
		}
	}
	if r.w == len(r.buf) {
		if r.w >= r.lim.MaxQuery {
			return ErrQueryBufferLimit
		}
		size := min(2*len(r.buf), r.lim.MaxQuery)
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.readErr = err
		if n > 0 {
			return nil
		}
	}
	return err
}

// parse tries to take one command from the buffer. ok is false when more bytes are
// needed.
func (r *Reader) parse() (args [][]byte, ok bool, err error) {
	if r.r == r.w {
		return nil, false, nil
	}
	if !r.multi {
		if r.buf[r.r] != '*' {
			return r.parseInline()
		}
		if args, ok := r.parseWhole(); ok {
			return args, true, nil
		}
		line, next, found := r.line(r.r, countLineMax)
		if !found {
			if next < 0 {
				return nil, false, &ProtocolError{"Protocol error: too big mbulk count string"}
			}
			return nil, false, nil
		}
		n, perr := parseCount(line[1:])
		if perr != nil || n > int64(r.lim.MaxMultibulk) {
			return nil, false, &ProtocolError{"Protocol error: invalid multibulk length"}
		}
		if n > 10 && r.unauth {
			return nil, false, &ProtocolError{"Protocol error: unauthenticated multibulk length"}
		}
		if n <= 0 {
			r.r = next
			return nil, true, nil
		}
		r.multi, r.want, r.pos = true, int(n), next
		r.spans = r.spans[:0]
	}
	for r.want > 0 {
		if r.pos >= r.w {
			return nil, false, nil
		}
		if r.buf[r.pos] != '$' {
			return nil, false, &ProtocolError{"Protocol error: expected '$', got '" + string(r.buf[r.pos]) + "'"}
		}
		line, next, found := r.line(r.pos, countLineMax)
		if !found {
			if next < 0 {
				return nil, false, &ProtocolError{"Protocol error: too big bulk count string"}
			}
			return nil, false, nil
		}
		n, perr := parseCount(line[1:])
		if perr != nil || n < 0 || n > int64(r.lim.MaxBulk) {
			return nil, false, &ProtocolError{"Protocol error: invalid bulk length"}
		}
		if n > 16384 && r.unauth {
			return nil, false, &ProtocolError{"Protocol error: unauthenticated bulk length"}
		}
		end := next + int(n)
		if end+2 > r.w {
			if end+2-r.r > r.lim.MaxQuery {
				return nil, false, ErrQueryBufferLimit
			}
			return nil, false, nil
		}
		// Redis does not check the CRLF after a bulk: it skips two bytes.
		r.spans = append(r.spans, span{next, int(n)})
		r.pos = end + 2
		r.want--
	}
	r.args = r.args[:0]
	for _, s := range r.spans {
		r.args = append(r.args, r.buf[s.off:s.off+s.n:s.off+s.n])
	}
	r.r = r.pos
	r.multi = false
	return r.args, true, nil
}

// parseWhole is the fast path of parse for the usual command: a multibulk command
// that is already whole in the buffer, with every count line in canonical form
// ("*3\r\n", "$16\r\n") and within the limits. It reads the counts as it goes
// instead of searching for each line's end, and takes the arguments without the
// spans that an incremental parse needs. Anything else (an incomplete command, an
// unusual or bad count line) reports false having changed nothing, and the
// general path, which has the same result on every input, takes the command.
func (r *Reader) parseWhole() ([][]byte, bool) {
	b := r.buf[r.r:r.w]
	n, p, ok := canonicalCount(b, 1)
	if !ok || n == 0 || n > r.lim.MaxMultibulk || (r.unauth && n > 10) {
		return nil, false
	}
	args := r.args[:0]
	for range n {
		if p >= len(b) || b[p] != '$' {
			return nil, false
		}
		size, next, ok := canonicalCount(b, p+1)
		if !ok || size > r.lim.MaxBulk || (r.unauth && size > 16384) || next+size+2 > len(b) {
			return nil, false
		}
		args = append(args, b[next:next+size:next+size])
		p = next + size + 2 // Redis does not check the CRLF after a bulk
	}
	r.args = args
	r.r += p
	return args, true
}

// canonicalCount reads the decimal count at b[i:] up to its CRLF: digits without
// a leading zero (or a lone 0), at most 9 of them. next is the index after the
// CRLF; ok is false for anything else, which the general path then judges.
func canonicalCount(b []byte, i int) (n, next int, ok bool) {
	start := i
	for end := min(len(b), i+10); i < end; i++ { // a tenth digit is already too many
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	digits := i - start
	if digits == 0 || digits > 9 || (b[start] == '0' && digits > 1) || i+1 >= len(b) || b[i] != '\r' || b[i+1] != '\n' {
		return 0, 0, false
	}
	return n, i + 2, true
}

// line finds the CRLF-terminated line starting at from. found is false when the
// line is incomplete; then next is -1 if the line is already longer than max.
func (r *Reader) line(from, max int) (line []byte, next int, found bool) {
	i := from
	if r.lineFrom == from && r.lineScan > from {
		i = r.lineScan
	}
	if j := bytes.IndexByte(r.buf[i:r.w], '\n'); j >= 0 {
		end := i + j
		next = end + 1
		if end-from > max {
			return nil, -1, false
		}
		if end > from && r.buf[end-1] == '\r' {
			end--
		}
		return r.buf[from:end], next, true
	}
	r.lineFrom, r.lineScan = from, r.w
	if r.w-from > max {
		return nil, -1, false
	}
	return nil, 0, false
}

func (r *Reader) parseInline() ([][]byte, bool, error) {
	line, next, found := r.line(r.r, r.lim.MaxInline)
	if !found {
		if next < 0 {
			return nil, false, &ProtocolError{"Protocol error: too big inline request"}
		}
		return nil, false, nil
	}
	args, err := splitInline(line, r.args[:0])
	if err != nil {
		return nil, false, err
	}
	r.args = args
	r.r = next
	return args, true, nil
}

// parseCount parses the decimal count of a "*" or "$" line as Redis's string2ll
// does: an optional minus sign, digits without a leading zero, nothing else.
func parseCount(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, strconv.ErrSyntax
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, strconv.ErrRange
		}
	}
	if neg {
		n = -n
	}
	return n, nil
}
