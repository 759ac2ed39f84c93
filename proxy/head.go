package proxy

import (
	"bytes"
)

// This file parses HTTP/1.1 message heads (RFC 9112 section 2-5) in place: every field of a
// parsed head is a slice of the buffer it was read into, so parsing allocates nothing. The
// parser is strict where leniency lets two parsers disagree about where a message ends
// (request smuggling): only CRLF ends a line, obs-fold and whitespace before a colon are
// rejected, Content-Length must be one plain decimal, and Transfer-Encoding must be exactly
// "chunked" and never appear beside Content-Length.

// statusError is a request the proxy refuses, with the status and the short body it answers.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// The errors a head can fail with. They are values so that failing costs no allocation.
var (
	errBadRequestLine  = &statusError{400, "bad request line"}
	errBadVersion      = &statusError{505, "HTTP version not supported"}
	errBareLF          = &statusError{400, "line not ended by CRLF"}
	errObsFold         = &statusError{400, "obsolete line folding"}
	errBadHeaderName   = &statusError{400, "invalid header name"}
	errBadHeaderValue  = &statusError{400, "invalid header value"}
	errTooManyHeaders  = &statusError{431, "too many header fields"}
	errHeadTooLarge    = &statusError{431, "request header fields too large"}
	errBadLength       = &statusError{400, "invalid Content-Length"}
	errRepeatedLength  = &statusError{400, "repeated Content-Length"}
	errLengthAndChunk  = &statusError{400, "both Content-Length and Transfer-Encoding"}
	errBadTE           = &statusError{400, "invalid Transfer-Encoding"}
	errUnknownTE       = &statusError{501, "transfer coding not implemented"}
	errTEInHTTP10      = &statusError{400, "Transfer-Encoding in an HTTP/1.0 message"}
	errNoHost          = &statusError{400, "missing or repeated Host"}
	errBadHost         = &statusError{400, "invalid Host"}
	errBodyTooLarge    = &statusError{413, "request body too large"}
	errBadChunk        = &statusError{400, "invalid chunked encoding"}
	errLoop            = &statusError{508, "proxy loop detected"}
	errNoRoute         = &statusError{404, "no route for this request"}
	errTimeout         = &statusError{408, "request timeout"}
	errExpectation     = &statusError{417, "expectation failed"}
	errBadTarget       = &statusError{400, "invalid request target"}
	errMethodForbidden = &statusError{405, "method not allowed"}
	errForbidden       = &statusError{403, "destination not allowed"}
	errUpgradeH2       = &statusError{501, "upgrade not supported: this route's pool speaks HTTP/2"}
)

// maxHeaders bounds the number of header fields in one head.
const maxHeaders = 100

// field is one header field; name and value point into the head's buffer. The value has
// its surrounding whitespace trimmed.
type field struct {
	name, value []byte
}

// head is a parsed request or response head. A zero head is ready for parse; reset makes a
// used one ready again without freeing its field array.
type head struct {
	// Request line, or for a response: the status code and reason.
	method, target []byte
	status         int
	reason         []byte
	minor          int // HTTP/1.minor

	fields []field

	// What the proxy needs from the fields, gathered during the parse.
	host          []byte
	hosts         int
	contentLength int64 // -1 when absent
	chunked       bool
	close         bool // Connection: close, or HTTP/1.0 without keep-alive
	keepAlive     bool // Connection: keep-alive (matters for HTTP/1.0)
	upgrade       bool // Connection: upgrade together with an Upgrade field
	expect100     bool
	connTokens    [][]byte // tokens of Connection: the fields they name are hop-by-hop
	via           [][]byte // Via values, for loop detection
}

func (h *head) reset() {
	fs, ct, via := h.fields[:0], h.connTokens[:0], h.via[:0]
	*h = head{fields: fs, connTokens: ct, via: via, contentLength: -1}
}

// headEnd returns the length of the head at the start of b including its final empty line,
// or 0 when b does not yet hold a whole head. It fails fast on a bare LF, so a client cannot
// hold a buffer by sending lines the parser would reject anyway. Empty lines before the
// start line are skipped (RFC 9112 section 2.2); skip reports how many bytes they take.
func headEnd(b []byte) (n, skip int, err error) {
	for skip+1 < len(b) && b[skip] == '\r' && b[skip+1] == '\n' {
		skip += 2
	}
	start := skip
	for i := skip; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, skip, nil
		}
		j += i
		if j == 0 || b[j-1] != '\r' {
			return 0, skip, errBareLF
		}
		if j-1 == start && start > skip {
			return j + 1, skip, nil
		}
		start = j + 1
		i = j + 1
	}
	return 0, skip, nil
}

// parseRequest parses a whole request head (as found by headEnd, without leading empty
// lines) into h.
func (h *head) parseRequest(b []byte) error {
	line, rest := cutLine(b)
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequestLine
	}
	h.method = line[:sp1]
	if !isToken(h.method) {
		return errBadRequestLine
	}
	line = line[sp1+1:]
	sp2 := bytes.IndexByte(line, ' ')
	if sp2 <= 0 {
		return errBadRequestLine
	}
	h.target = line[:sp2]
	for _, c := range h.target {
		if c <= ' ' || c == 0x7f {
			return errBadRequestLine
		}
	}
	minor, err := parseVersion(line[sp2+1:])
	if err != nil {
		return err
	}
	h.minor = minor
	if err := h.parseFields(rest); err != nil {
		return err
	}
	if h.minor == 0 {
		h.close = !h.keepAlive
	}
	if h.chunked && h.minor == 0 {
		return errTEInHTTP10
	}
	// RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host.
	if h.hosts > 1 || (h.hosts == 0 && h.minor == 1) {
		return errNoHost
	}
	if h.hosts == 1 && !validHost(h.host) {
		return errBadHost
	}
	return nil
}

// parseResponse parses a whole response head into h.
func (h *head) parseResponse(b []byte) error {
	line, rest := cutLine(b)
	if len(line) < 12 || line[8] != ' ' {
		return errBadRequestLine
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return err
	}
	h.minor = minor
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errBadRequestLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || (len(line) > 12 && line[12] != ' ') {
		return errBadRequestLine
	}
	h.status = code
	if len(line) > 13 {
		h.reason = line[13:]
	}
	if err := h.parseFields(rest); err != nil {
		return err
	}
	if h.minor == 0 {
		h.close = !h.keepAlive
	}
	return nil
}

// parseVersion accepts exactly HTTP/1.0 and HTTP/1.1; other well-formed versions get 505.
func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, errBadRequestLine
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, errBadVersion
	}
	return int(v[7] - '0'), nil
}

// cutLine splits b at its first CRLF. headEnd has checked that every LF follows a CR.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	return b[:i-1], b[i+1:]
}

// parseFields parses the field lines of a head up to its empty line.
func (h *head) parseFields(b []byte) error {
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadHeaderName
		}
		name := line[:colon]
		if !isToken(name) { // also rejects whitespace before the colon (RFC 9112 5.1)
			return errBadHeaderName
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return errBadHeaderValue
		}
		if len(h.fields) == maxHeaders {
			return errTooManyHeaders
		}
		h.fields = append(h.fields, field{name, value})
		if err := h.noteField(name, value); err != nil {
			return err
		}
	}
	if h.chunked && h.contentLength >= 0 {
		return errLengthAndChunk
	}
	return nil
}

// noteField records what the proxy needs to know of one field.
func (h *head) noteField(name, value []byte) error {
	switch len(name) {
	case 3:
		if equalFold(name, "via") {
			h.via = append(h.via, value)
		}
	case 4:
		if equalFold(name, "host") {
			h.host = value
			h.hosts++
		}
	case 6:
		if equalFold(name, "expect") {
			if !equalFold(value, "100-continue") {
				return errExpectation
			}
			h.expect100 = true
		}
	case 7:
		if equalFold(name, "upgrade") {
			h.upgrade = true // confirmed by Connection: upgrade in finishUpgrade
		}
	case 10:
		if equalFold(name, "connection") {
			h.noteConnection(value)
		}
	case 14:
		if equalFold(name, "content-length") {
			if h.contentLength >= 0 {
				return errRepeatedLength
			}
			n, ok := parseLength(value)
			if !ok {
				return errBadLength
			}
			h.contentLength = n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			if h.chunked {
				return errBadTE
			}
			if !equalFold(value, "chunked") {
				if bytes.IndexByte(value, ',') >= 0 || len(value) == 0 {
					return errBadTE
				}
				return errUnknownTE
			}
			h.chunked = true
		}
	}
	return nil
}

// noteConnection reads the tokens of a Connection field.
func (h *head) noteConnection(v []byte) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = trimOWS(v[:i]), v[i+1:]
		} else {
			tok, v = trimOWS(v), nil
		}
		switch {
		case len(tok) == 0:
		case equalFold(tok, "close"):
			h.close = true
		case equalFold(tok, "keep-alive"):
			h.keepAlive = true
		default:
			if len(h.connTokens) < maxHeaders {
				h.connTokens = append(h.connTokens, tok)
			}
		}
	}
}

// wantsUpgrade reports whether the head asks for a protocol upgrade: an Upgrade field
// named in Connection (RFC 9110 section 7.8).
func (h *head) wantsUpgrade() bool {
	if !h.upgrade {
		return false
	}
	for _, t := range h.connTokens {
		if equalFold(t, "upgrade") {
			return true
		}
	}
	return false
}

// onlyH2CUpgrade reports whether every protocol the Upgrade field offers is h2c: an
// HTTP/1.1 client asking to go on in HTTP/2, which a server may ignore (RFC 9110
// section 7.8) and answer in HTTP/1.1.
func (h *head) onlyH2CUpgrade() bool {
	for t := range bytes.SplitSeq(h.get("upgrade"), []byte(",")) {
		if !equalFold(bytes.TrimSpace(t), "h2c") {
			return false
		}
	}
	return true
}

// get returns the value of the first field called name (lower case), or nil.
func (h *head) get(name string) []byte {
	for i := range h.fields {
		if equalFold(h.fields[i].name, name) {
			return h.fields[i].value
		}
	}
	return nil
}

// hopByHop reports whether a field must not be forwarded: the fields RFC 9110 section 7.6.1
// names, the de-facto ones, and the fields the message's Connection field names. The
// framing fields are also dropped because the proxy writes its own framing.
func (h *head) hopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 7:
		return equalFold(name, "upgrade") || equalFold(name, "trailer")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 14:
		return equalFold(name, "content-length")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding")
	case 19:
		return equalFold(name, "proxy-authorization")
	}
	for _, t := range h.connTokens {
		if bytes.EqualFold(name, t) {
			return true
		}
	}
	return false
}

// parseLength parses a Content-Length value: one or more digits, nothing else (no sign,
// no list, no spaces), at most 18 digits so it cannot overflow.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// trimOWS trims optional whitespace (SP and HTAB) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// tokenChars marks the bytes allowed in a token (RFC 9110 section 5.6.2).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validFieldValue reports whether v is free of control bytes other than tab, as a
// field value (RFC 9110 section 5.5), a chunk extension and a configured value must be.
func validFieldValue[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validHost accepts a uri-host with an optional port: reg-name or IPv4 characters, or an
// IP literal in brackets. It exists to keep bytes that could split or confuse a head, or
// a log line, out of the Host that is forwarded and routed on.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == ':', c == '[', c == ']', c == '%':
		default:
			return false
		}
	}
	return true
}
