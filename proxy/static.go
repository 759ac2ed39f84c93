package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file serves a route's files from a directory (RFC 9110): GET and HEAD; validators
// (ETag from size and modification time, Last-Modified) with If-None-Match,
// If-Modified-Since, If-Match, If-Unmodified-Since and If-Range; byte ranges (206: one
// range as it is, several as multipart/byteranges; 416 when none can be satisfied);
// gzip for text types when the client accepts it. Files are opened through an os.Root, so neither ".." nor a symbolic link can reach
// outside the directory; dot files are never served; a directory without its index file
// is 404 (there is no listing). Files up to 64 KiB are kept in memory and checked again
// at most once a second (fileCache); larger ones are opened per request and sent with
// sendfile on plain TCP.

// StaticConfig serves a route's requests from files in a directory instead of a pool.
type StaticConfig struct {
	// Dir is the directory served. The request path (after the route's strip_prefix)
	// names a file under it.
	Dir string `yaml:"dir"`
	// Index is the file served for a directory. Default index.html; "-" for none.
	Index string `yaml:"index"`
	// CacheControl, when set, is sent with every file (e.g. "public, max-age=3600").
	CacheControl string `yaml:"cache_control"`
	// NoGzip turns off gzip for text types.
	NoGzip bool `yaml:"no_gzip"`
	// Precompressed serves FILE.gz, made ahead (gzip -k -9 FILE), to clients that accept
	// gzip, when it exists and is not older than FILE: best compression at no CPU cost
	// per request. Without it (or for files without one) text is gzipped as it is sent.
	Precompressed bool `yaml:"precompressed"`
}

func (sc *StaticConfig) validate() error {
	if sc.Dir == "" {
		return errors.New("dir: missing; the directory to serve")
	}
	fi, err := os.Stat(sc.Dir)
	if err != nil {
		return fmt.Errorf("dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dir: %q is not a directory", sc.Dir)
	}
	switch {
	case sc.Index == "":
		sc.Index = "index.html"
	case sc.Index == "-":
	case strings.ContainsAny(sc.Index, `/\`) || sc.Index[0] == '.':
		return fmt.Errorf("index: %q is not a plain file name", sc.Index)
	}
	if !validFieldValue(sc.CacheControl) {
		return errors.New("cache_control: has a control byte")
	}
	return nil
}

// gzipMin is the smallest file worth compressing: below it the gzip header and the
// chunked framing eat the gain.
const gzipMin = 256

// staticDir serves the files of one route.
type staticDir struct {
	root  *os.Root
	cfg   StaticConfig
	strip string // the route's strip_prefix
	gzips sync.Pool
	cache memCache[[]byte] // gzipped bodies by file and validator
	files fileCache
}

func newStaticDir(sc StaticConfig, strip string) (*staticDir, error) {
	root, err := os.OpenRoot(sc.Dir)
	if err != nil {
		return nil, err
	}
	return &staticDir{root: root, cfg: sc, strip: strip}, nil
}

// close releases the directory. Requests in flight hold their own open files.
func (sd *staticDir) close() { sd.root.Close() }

// staticReply is what a static request is answered: a status, header fields, and for a
// body, an open file and the part of it to send, whole or gzipped.
type staticReply struct {
	status int
	fields [][2]string
	f      *os.File // nil: no file body (msg is sent when set)
	off, n int64
	gzip   bool
	mem    []byte // a body from memory (a cached file or gzip); f is then nil
	msg    string
	// parts, for a multipart/byteranges answer: the ranges of f (or mem) with the head
	// written before each, then tail; n is the whole body's length.
	parts []rangePart
	tail  string
}

// rangePart is one part of a multipart/byteranges body.
type rangePart struct {
	byteRange
	head string
}

func (r *staticReply) add(name, value string) { r.fields = append(r.fields, [2]string{name, value}) }

func (r *staticReply) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// staticError is a refusal answered with a short plain-text body.
func staticError(code int, msg string) staticReply {
	return staticReply{status: code, msg: msg}
}

// prepare decides the answer to a request for target (origin form, query included). get returns the value of the request header field it is given the lower-case
// name of ("" when absent).
func (sd *staticDir) prepare(method, target string, get func(string) string) staticReply {
	if method != "GET" && method != "HEAD" {
		r := staticError(405, "method not allowed")
		r.add("Allow", "GET, HEAD")
		return r
	}
	rawPath, query, _ := strings.Cut(target, "?")
	if p := sd.strip; p != "" && strings.HasPrefix(rawPath, p) {
		if rest := rawPath[len(p):]; rest == "" || rest[0] == '/' || p[len(p)-1] == '/' {
			rawPath = "/" + strings.TrimPrefix(rest, "/")
		}
	}
	// An encoded slash, backslash or NUL would let one path name two files, or a file
	// the checks below did not see.
	lower := strings.ToLower(rawPath)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
		return staticError(400, "encoded slash or NUL in path")
	}
	p, err := url.PathUnescape(rawPath)
	if err != nil || p == "" || p[0] != '/' || strings.ContainsAny(p, "\\\x00") {
		return staticError(400, "invalid path")
	}
	name := strings.TrimPrefix(p, "/")
	for seg := range strings.SplitSeq(name, "/") {
		if seg == ".." {
			return staticError(400, "invalid path")
		}
		if seg != "." && strings.HasPrefix(seg, ".") {
			return staticError(404, "not found") // dot files (.git, .env) are never served
		}
	}
	name = path.Clean("/" + name)[1:]
	if name == "" {
		name = "."
	}
	if !strings.HasSuffix(p, "/") {
		if cf := sd.files.get(name, time.Now()); cf != nil {
			return sd.answer(method, name, nil, cf, get)
		}
	}
	f, fi, err := sd.open(name)
	if err != nil {
		return staticError(404, "not found")
	}
	if !fi.IsDir() && strings.HasSuffix(p, "/") {
		f.Close()
		return staticError(404, "not found") // a file is not a directory
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(p, "/") {
			// Relative links in the index resolve against the directory only with the slash.
			r := staticReply{status: 301, msg: ""}
			loc := rawPath + "/"
			if query != "" {
				loc += "?" + query
			}
			r.add("Location", loc)
			return r
		}
		if sd.cfg.Index == "-" {
			return staticError(404, "not found")
		}
		if f, fi, err = sd.open(path.Join(name, sd.cfg.Index)); err != nil || fi.IsDir() {
			if f != nil {
				f.Close()
			}
			return staticError(404, "not found")
		}
		name = path.Join(name, sd.cfg.Index)
	}
	if cf := sd.files.fill(name, f, fi, time.Now()); cf != nil {
		f.Close()
		return sd.answer(method, name, nil, cf, get)
	}
	return sd.answer(method, name, f, newFileMeta(name, fi), get)
}

// open opens a regular file or a directory under the root; anything else is not found.
func (sd *staticDir) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := sd.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}

// answer applies the conditional and range fields to a file: open (f) or held in memory
// by the file cache (f nil, m.body).
func (sd *staticDir) answer(method, name string, f *os.File, m *fileMeta, get func(string) string) staticReply {
	size, mod := m.size, m.mod
	ctype, compressible := m.ctype, m.compressible
	gz := compressible && !sd.cfg.NoGzip && size >= gzipMin && acceptsGzip(get("accept-encoding")) && get("range") == ""
	etag := m.etag
	r := staticReply{status: 200, f: f, mem: m.body, n: size, gzip: gz, fields: make([][2]string, 0, 10)}
	if gz && sd.cfg.Precompressed {
		if zf, zfi, err := sd.open(name + ".gz"); err == nil {
			if zfi.Mode().IsRegular() && zfi.ModTime().UnixNano() >= m.modNano {
				if f != nil {
					f.Close()
				}
				r.f, r.mem, r.n, r.gzip = zf, nil, zfi.Size(), false
				etag = `"` + strconv.FormatInt(zfi.Size(), 16) + "-" + strconv.FormatInt(zfi.ModTime().UnixNano(), 16) + `-gzs"`
				r.add("Content-Encoding", "gzip")
			} else {
				zf.Close() // a stale .gz: compress the file itself
			}
		}
	}
	if r.gzip {
		etag = etag[:len(etag)-1] + `-gz"` // another representation: another strong validator
	}
	r.add("Content-Type", ctype)
	r.add("Last-Modified", m.lastMod)
	r.add("ETag", etag)
	if compressible && !sd.cfg.NoGzip {
		r.add("Vary", "Accept-Encoding")
	}
	if !gz {
		r.add("Accept-Ranges", "bytes")
	}
	if sd.cfg.CacheControl != "" {
		r.add("Cache-Control", sd.cfg.CacheControl)
	}
	r.add("X-Content-Type-Options", "nosniff")

	// RFC 9110 section 13.2.2: the preconditions, in order.
	if im := get("if-match"); im != "" {
		if !etagMatch(im, etag, false) {
			return sd.precondition(r, 412)
		}
	} else if ius := get("if-unmodified-since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return sd.precondition(r, 412)
		}
	}
	if inm := get("if-none-match"); inm != "" {
		if etagMatch(inm, etag, true) {
			return sd.precondition(r, 304)
		}
	} else if ims := get("if-modified-since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			return sd.precondition(r, 304)
		}
	}
	rng := get("range")
	if rng == "" || method != "GET" {
		if r.gzip && (method == "GET" || r.mem != nil) {
			return sd.fromCache(r, name+etag)
		}
		return r
	}
	if ir := get("if-range"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, `W/`) {
			if ir != etag { // strong comparison
				return r
			}
		} else if t, err := http.ParseTime(ir); err != nil || !t.Equal(mod) {
			return r
		}
	}
	rs, ok := parseRanges(rng, size)
	switch {
	case !ok:
		return r // a field the server may ignore: the whole file (RFC 9110 section 14.2)
	case len(rs) == 0:
		r.close()
		e := staticError(416, "range not satisfiable")
		e.add("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return e
	case len(rs) > 1:
		return multipartRanges(r, rs, ctype, size)
	}
	start, n := rs[0].off, rs[0].n
	r.status, r.off, r.n = 206, start, n
	if r.mem != nil {
		r.mem, r.off = r.mem[start:start+n], 0
	}
	r.add("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, size))
	return r
}

// multipartRanges turns r into a 206 multipart/byteranges answer (RFC 9110 section
// 14.6) with one part per range, in the order asked, as nginx sends them. Every part
// head is made here, so the whole length is known and sent as Content-Length.
func multipartRanges(r staticReply, rs []byteRange, ctype string, size int64) staticReply {
	boundary := strconv.FormatUint(rand.Uint64(), 16) + strconv.FormatUint(rand.Uint64(), 16)
	for i := range r.fields {
		if r.fields[i][0] == "Content-Type" {
			r.fields[i][1] = "multipart/byteranges; boundary=" + boundary
		}
	}
	r.status, r.parts, r.n = 206, make([]rangePart, len(rs)), 0
	for i, br := range rs {
		lead := "\r\n"
		if i == 0 {
			lead = ""
		}
		head := fmt.Sprintf("%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n",
			lead, boundary, ctype, br.off, br.off+br.n-1, size)
		r.parts[i] = rangePart{byteRange: br, head: head}
		r.n += int64(len(head)) + br.n
	}
	r.tail = "\r\n--" + boundary + "--\r\n"
	r.n += int64(len(r.tail))
	return r
}

// precondition turns a reply into a 304 or 412 without a body; a 304 keeps the
// validators and the fields a 200 would have had (RFC 9110 section 15.4.5).
func (sd *staticDir) precondition(r staticReply, code int) staticReply {
	r.close()
	r.f, r.mem, r.status = nil, nil, code
	if code == 412 {
		return staticReply{status: 412, msg: "precondition failed"}
	}
	kept := r.fields[:0]
	for _, f := range r.fields {
		if f[0] != "Content-Type" && f[0] != "Accept-Ranges" && f[0] != "Content-Encoding" {
			kept = append(kept, f)
		}
	}
	r.fields = kept
	return r
}

// byteRange is one satisfiable range of a file: n bytes from off.
type byteRange struct{ off, n int64 }

// maxRanges is the most ranges one request may ask for; a Range field with more is
// ignored (the whole file is sent), as are ranges that add up to more than the file: a
// client must not make the server send a file many times over (RFC 9110 section 14.2).
const maxRanges = 16

// parseRanges parses a Range field against a file of size bytes and returns its
// satisfiable ranges in the order asked. ok is false for a field the server may ignore
// (bad syntax, another unit, too many ranges, ranges adding up to more than the file);
// no ranges with ok means none can be satisfied (416).
func parseRanges(s string, size int64) (rs []byteRange, ok bool) {
	spec, found := strings.CutPrefix(s, "bytes=")
	if !found {
		return nil, false
	}
	count, total := 0, int64(0)
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue // an empty list element (RFC 9110 section 5.6.1)
		}
		if count++; count > maxRanges {
			return nil, false
		}
		start, n, ok := parseRange(part, size)
		if !ok {
			return nil, false
		}
		if n == 0 {
			continue
		}
		if total += n; total > size {
			return nil, false
		}
		rs = append(rs, byteRange{start, n})
	}
	return rs, count > 0
}

// parseRange parses one range spec (first-last, first- or -suffix) against a file of
// size bytes. ok is false for bad syntax; n == 0 with ok means the range cannot be
// satisfied.
func parseRange(spec string, size int64) (start, n int64, ok bool) {
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	if a == "" { // the last b bytes
		last, ok := num(b)
		if !ok {
			return 0, 0, false
		}
		if last == 0 || size == 0 {
			return 0, 0, true
		}
		last = min(last, size)
		return size - last, last, true
	}
	first, ok := num(a)
	if !ok {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		if end, ok = num(b); !ok || end < first {
			return 0, 0, false
		}
		end = min(end, size-1)
	}
	if first >= size {
		return 0, 0, true
	}
	return first, end - first + 1, true
}

// etagMatch reports whether tag is in list (an If-Match or If-None-Match value). The weak
// comparison ignores W/ prefixes; the strong one never matches a weak tag.
func etagMatch(list, tag string, weak bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if w, ok := strings.CutPrefix(t, "W/"); ok {
			if !weak {
				continue
			}
			t = w
		}
		if t == tag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding value admits gzip (q above zero).
func acceptsGzip(ae string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// contentType names a file's media type by its extension, application/octet-stream when
// the extension names none (as nginx does: guessing from the bytes could serve uploaded
// content as HTML), and says whether gzip pays for it.
func contentType(name string) (ctype string, compressible bool) {
	ctype = mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		return "application/octet-stream", false
	}
	base, _, _ := strings.Cut(ctype, ";")
	switch {
	case strings.HasPrefix(base, "text/"), strings.HasSuffix(base, "+xml"), strings.HasSuffix(base, "+json"):
		compressible = true
	case base == "application/javascript", base == "application/json", base == "application/xml",
		base == "application/wasm", base == "image/svg+xml", base == "application/manifest+json":
		compressible = true
	}
	return ctype, compressible
}

// writeBody sends the reply's body to w: the file's range or ranges, or all of it gzipped.
func (sd *staticDir) writeBody(w io.Writer, r *staticReply) error {
	if r.parts != nil {
		return r.writeParts(w)
	}
	if r.gzip {
		zw, _ := sd.gzips.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // nginx's default level: speed over size
		} else {
			zw.Reset(w)
		}
		defer sd.gzips.Put(zw)
		var src io.Reader = r.f
		if r.f == nil {
			src = bytes.NewReader(r.mem)
		}
		if _, err := io.Copy(zw, src); err != nil {
			return err
		}
		return zw.Close()
	}
	if r.off > 0 { // a file just opened is at offset 0
		if _, err := r.f.Seek(r.off, io.SeekStart); err != nil {
			return err
		}
	}
	// A LimitedReader of an *os.File lets the TCP connection send it with sendfile.
	n, err := io.Copy(w, &io.LimitedReader{R: r.f, N: r.n})
	if err == nil && n < r.n {
		err = io.ErrUnexpectedEOF // the file shrank under us
	}
	return err
}

// writeParts writes a multipart/byteranges body: each part's head and its bytes, from
// memory or from the file, then the closing boundary.
func (r *staticReply) writeParts(w io.Writer) error {
	for _, p := range r.parts {
		if _, err := io.WriteString(w, p.head); err != nil {
			return err
		}
		if r.f == nil {
			if _, err := w.Write(r.mem[p.off : p.off+p.n]); err != nil {
				return err
			}
			continue
		}
		n, err := io.Copy(w, io.NewSectionReader(r.f, p.off, p.n))
		if err == nil && n < p.n {
			err = io.ErrUnexpectedEOF // the file shrank under us
		}
		if err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, r.tail)
	return err
}

// serveStatic answers a request of a static route on the HTTP/1.x path and reports
// whether the connection stays open.
func (c *conn) serveStatic(r *route, target []byte, n int) bool {
	h, w, s := &c.req, c.bw, c.srv
	method := string(h.method)
	rep := r.static.prepare(method, string(target), func(name string) string { return string(h.get(name)) })
	defer rep.close()
	// A request body is not read: the connection ends after the answer.
	keep := !h.close && !h.chunked && h.contentLength <= 0 && !s.closing.Load()
	bodyless := method == "HEAD" || rep.status == 304
	if rep.f != nil && rep.gzip && h.minor == 0 {
		keep = false // an HTTP/1.0 client learns the end of the gzip stream from the close
	}
	c.status = rep.status
	s.countAnswer(r, nil, rep.status)
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(rep.status), 10))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(rep.status))
	w.WriteString("\r\nDate: ")
	w.Write(time.Now().UTC().AppendFormat(w.AvailableBuffer(), http.TimeFormat))
	w.WriteString("\r\n")
	for _, f := range rep.fields {
		if r.respRules.drops([]byte(f[0])) {
			continue
		}
		w.WriteString(f[0])
		w.WriteString(": ")
		w.WriteString(f[1])
		w.WriteString("\r\n")
	}
	r.respRules.writeSet(w)
	switch {
	case rep.parts != nil:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), rep.n, 10))
		w.WriteString("\r\n")
	case rep.mem != nil:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(rep.mem)), 10))
		w.WriteString("\r\n")
	case rep.f != nil && rep.gzip:
		w.WriteString("Content-Encoding: gzip\r\n")
		if h.minor == 1 && !bodyless {
			w.WriteString("Transfer-Encoding: chunked\r\n")
		}
	case rep.f != nil:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), rep.n, 10))
		w.WriteString("\r\n")
	case rep.status != 304:
		w.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(rep.msg)+1), 10))
		w.WriteString("\r\n")
	}
	if !keep {
		w.WriteString("Connection: close\r\n")
	} else if h.minor == 0 {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
	c.br.Discard(n)
	switch {
	case bodyless:
	case rep.parts != nil:
		if err := rep.writeParts(w); err != nil {
			s.log.Debug("proxy: static file", "file", string(target), "err", err)
			return false
		}
	case rep.mem != nil:
		w.Write(rep.mem)
	case rep.f == nil:
		w.WriteString(rep.msg)
		w.WriteByte('\n')
	case rep.gzip && h.minor == 1:
		cw := chunkWriter{w}
		if err := r.static.writeBody(cw, &rep); err != nil {
			return false
		}
		w.WriteString("0\r\n\r\n")
	default:
		if rep.gzip {
			if err := r.static.writeBody(w, &rep); err != nil {
				return false
			}
			break
		}
		// A body that fits goes out with the head in one write; a larger one is sent after
		// the head is flushed, so that the copy goes from the file to the socket directly
		// (sendfile on plain TCP).
		if rep.n > int64(w.Available()) && w.Flush() != nil {
			return false
		}
		if err := r.static.writeBody(w, &rep); err != nil {
			s.log.Debug("proxy: static file", "file", string(target), "err", err)
			return false
		}
	}
	if !keep {
		w.Flush()
	}
	return keep
}

// chunkWriter writes each Write as one HTTP/1.1 chunk.
type chunkWriter struct{ w *bufio.Writer }

func (cw chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	cw.w.Write(strconv.AppendInt(cw.w.AvailableBuffer(), int64(len(p)), 16))
	cw.w.WriteString("\r\n")
	cw.w.Write(p)
	_, err := cw.w.WriteString("\r\n")
	return len(p), err
}

// serveStaticHTTP answers a request of a static route through net/http (the HTTP/2
// path), with the route's response header rules.
func (r *route) serveStaticHTTP(w http.ResponseWriter, req *http.Request, s *Server) {
	rep := r.static.prepare(req.Method, req.URL.EscapedPath()+queryOf(req), req.Header.Get)
	defer rep.close()
	hd := w.Header()
	for _, f := range rep.fields {
		if !r.respRules.drops([]byte(f[0])) {
			hd.Set(f[0], f[1])
		}
	}
	for _, f := range r.respRules.set {
		hd.Set(string(f.name), string(f.value))
	}
	switch {
	case rep.parts != nil:
		hd.Set("Content-Length", strconv.FormatInt(rep.n, 10))
	case rep.mem != nil:
		hd.Set("Content-Length", strconv.Itoa(len(rep.mem)))
	case rep.f != nil && rep.gzip:
		hd.Set("Content-Encoding", "gzip")
	case rep.f != nil:
		hd.Set("Content-Length", strconv.FormatInt(rep.n, 10))
	case rep.status != 304:
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	}
	s.countAnswer(r, nil, rep.status)
	w.WriteHeader(rep.status)
	if req.Method == "HEAD" || rep.status == 304 {
		return
	}
	if rep.parts != nil {
		rep.writeParts(w)
		return
	}
	if rep.mem != nil {
		w.Write(rep.mem)
		return
	}
	if rep.f == nil {
		io.WriteString(w, rep.msg+"\n")
		return
	}
	r.static.writeBody(w, &rep)
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

// Gzipped answers of files up to gzipCacheFile bytes are kept in memory, up to
// gzipCacheBytes per static route, keyed by the file's name and validator: Go's deflate
// costs more CPU than the copy it saves on the wire, so a text file is compressed once
// per version rather than once per request. The cache forgets arbitrary entries when full.
const (
	gzipCacheFile  = 256 << 10
	gzipCacheBytes = 16 << 20
)

// memCache is a map of cached bodies whose costs add up to at most limit bytes; a value
// that would pass the limit makes arbitrary entries go (map order is random). Both static
// caches use it: they are small, read far more than written, and hold nothing that must
// stay.
type memCache[V any] struct {
	mu    sync.Mutex
	m     map[string]costed[V] // guarded by mu
	bytes int                  // the entries' costs; guarded by mu
}

type costed[V any] struct {
	v    V
	cost int
}

func (c *memCache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e.v, ok
}

// put stores v under key at the given cost, making room within limit.
func (c *memCache[V]) put(key string, v V, cost, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]costed[V])
	}
	if old, ok := c.m[key]; ok {
		delete(c.m, key)
		c.bytes -= old.cost
	}
	for k, e := range c.m {
		if c.bytes+cost <= limit {
			break
		}
		delete(c.m, k)
		c.bytes -= e.cost
	}
	c.m[key] = costed[V]{v, cost}
	c.bytes += cost
}

// fromCache turns a reply to be gzipped as it is sent into one from the cache, compressing
// the file into it first if needed. Large files stay as they were.
func (sd *staticDir) fromCache(r staticReply, key string) staticReply {
	if r.n > gzipCacheFile {
		return r
	}
	b, ok := sd.cache.get(key)
	if !ok {
		var buf bytes.Buffer
		if err := sd.writeBody(&buf, &r); err != nil {
			return r // the file's offset moved: no longer usable; the caller's close handles it
		}
		b = buf.Bytes()
		sd.cache.put(key, b, len(b), gzipCacheBytes)
	}
	r.close()
	r.f, r.gzip, r.mem = nil, false, b
	r.add("Content-Encoding", "gzip")
	return r
}

// Small files are kept in memory, as nginx's open_file_cache keeps descriptors, but with
// their bytes: a request for one costs no open, stat, read or close, and its head fields
// are formatted once. An entry is trusted for fileCacheValid after the last check; the
// next request after that opens and stats the file again, which renews the entry when
// size and modification time are unchanged and reads the file anew when not. A changed
// or deleted file is therefore seen within fileCacheValid (nginx's open_file_cache_valid
// is 60 s by default).
const (
	fileCacheFile  = 64 << 10 // larger files are opened per request and sent with sendfile
	fileCacheBytes = 16 << 20 // per static route
	fileCacheValid = time.Second
	fileCacheEntry = 512 // bytes an entry costs besides its body, so empty files count too
)

// fileMeta is what a reply needs to know of a file; a cached one holds the body too.
type fileMeta struct {
	size, modNano int64
	mod           time.Time // to the second, UTC: the resolution of Last-Modified
	lastMod       string
	etag          string // from size and modification time
	ctype         string
	compressible  bool
	body          []byte       // the whole file (cached entries only)
	checked       atomic.Int64 // UnixNano of the last open and stat that found it unchanged
}

func newFileMeta(name string, fi fs.FileInfo) *fileMeta {
	m := &fileMeta{size: fi.Size(), modNano: fi.ModTime().UnixNano(), mod: fi.ModTime().UTC().Truncate(time.Second)}
	m.lastMod = m.mod.Format(http.TimeFormat)
	m.etag = `"` + strconv.FormatInt(m.size, 16) + "-" + strconv.FormatInt(m.modNano, 16) + `"`
	m.ctype, m.compressible = contentType(name)
	return m
}

type fileCache struct{ memCache[*fileMeta] }

// get returns the entry for name if it was checked within fileCacheValid, else nil.
func (c *fileCache) get(name string, now time.Time) *fileMeta {
	m, _ := c.memCache.get(name)
	if m == nil || now.UnixNano()-m.checked.Load() > int64(fileCacheValid) {
		return nil
	}
	return m
}

// fill returns the entry for the file f, just opened and stat'ed as fi, reading the file
// into a new entry when there is none or it is stale. It returns nil for a file too large
// to keep, one that changed while it was read, or a read error; f's offset never moves.
func (c *fileCache) fill(name string, f *os.File, fi fs.FileInfo, now time.Time) *fileMeta {
	if !fi.Mode().IsRegular() || fi.Size() > fileCacheFile {
		return nil
	}
	old, _ := c.memCache.get(name)
	if old != nil && old.size == fi.Size() && old.modNano == fi.ModTime().UnixNano() {
		old.checked.Store(now.UnixNano())
		return old
	}
	m := newFileMeta(name, fi)
	m.body = make([]byte, m.size)
	if _, err := f.ReadAt(m.body, 0); err != nil && !(err == io.EOF && m.size == 0) {
		return nil
	}
	// A writer may have changed the file while it was read: keep only a settled copy.
	if fi2, err := f.Stat(); err != nil || fi2.Size() != m.size || fi2.ModTime().UnixNano() != m.modNano {
		return nil
	}
	m.checked.Store(now.UnixNano())
	c.put(name, m, len(m.body)+fileCacheEntry, fileCacheBytes)
	return m
}
