package proxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// staticSite writes a small site to a temporary directory: an index, a compressible
// script, a binary file, a directory without an index, a dot file, and symbolic links
// that point inside and outside the directory.
func staticSite(t *testing.T) (dir string, files map[string][]byte) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "site")
	outside := filepath.Join(base, "secret.txt")
	files = map[string][]byte{
		"index.html": []byte("<!doctype html><title>home</title>\n"),
		"app.js":     bytes.Repeat([]byte("console.log('gantry static');\n"), 100),
		"data.bin": func() []byte {
			b := make([]byte, 3000)
			for i := range b {
				b[i] = byte(i * 7)
			}
			return b
		}(),
		"sub/page.txt":   []byte("a page in a directory without an index\n"),
		".env":           []byte("SECRET=1\n"),
		"docs/index.htm": []byte("not the index name\n"),
		// Larger than the write buffer: sent by sendfile after the head.
		"big.bin": func() []byte {
			b := make([]byte, 200<<10)
			for i := range b {
				b[i] = byte(i % 251)
			}
			return b
		}(),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(outside, []byte("outside the root\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(base, filepath.Join(dir, "up"))
	os.Symlink("app.js", filepath.Join(dir, "alias.js")) // inside: served
	// A fixed modification time, so that Last-Modified is known.
	mod := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for name := range files {
		os.Chtimes(filepath.Join(dir, name), mod, mod)
	}
	return dir, files
}

func staticProxy(t *testing.T, dir string) string {
	t.Helper()
	_, addr := start(t, Config{Routes: []Route{
		{PathPrefix: "/assets/", StripPrefix: "/assets", Static: &StaticConfig{Dir: dir, CacheControl: "max-age=60"},
			ResponseHeaders: HeaderRules{Set: map[string]string{"X-Static": "yes"}}},
		{Static: &StaticConfig{Dir: dir}},
	}})
	return addr
}

type staticCase struct {
	name    string
	method  string
	path    string
	hdr     map[string]string
	status  int
	body    string            // exact body ("" = not checked unless noBody)
	noBody  bool              // the body must be empty
	want    map[string]string // header fields that must have these values ("" = absent)
	gunzipd string            // with Content-Encoding gzip: the decompressed body
}

func runStaticCases(t *testing.T, addr string, cases []staticCase) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = "GET"
		}
		req, _ := http.NewRequest(method, "http://"+addr+tc.path, nil)
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("%s: body: %v", tc.name, err)
			continue
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (body %q)", tc.name, resp.StatusCode, tc.status, b)
			continue
		}
		if tc.body != "" && string(b) != tc.body {
			t.Errorf("%s: body %q, want %q", tc.name, b, tc.body)
		}
		if tc.noBody && len(b) != 0 {
			t.Errorf("%s: body %q, want none", tc.name, b)
		}
		for k, v := range tc.want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
		}
		if tc.gunzipd != "" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: gzip: %v", tc.name, err)
				continue
			}
			plain, err := io.ReadAll(zr)
			if err != nil || string(plain) != tc.gunzipd {
				t.Errorf("%s: gunzipped %d bytes (%v), want %d", tc.name, len(plain), err, len(tc.gunzipd))
			}
		}
	}
}

// etagOf fetches a file's validators.
func etagOf(t *testing.T, addr, path, ae string) (etag, lastMod string) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("HEAD", "http://"+addr+path, nil)
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
}

func TestStaticFiles(t *testing.T) {
	checkLeaks(t)
	dir, files := staticSite(t)
	addr := staticProxy(t, dir)
	etag, lastMod := etagOf(t, addr, "/data.bin", "")
	jsTag, _ := etagOf(t, addr, "/app.js", "")
	jsGzTag, _ := etagOf(t, addr, "/app.js", "gzip")
	if etag == "" || lastMod != "Sat, 01 Mar 2025 12:00:00 GMT" || jsTag == jsGzTag {
		t.Fatalf("validators: %q %q; app.js %q and gzipped %q", etag, lastMod, jsTag, jsGzTag)
	}
	data := string(files["data.bin"])
	size := strconv.Itoa(len(data))
	js := string(files["app.js"])
	runStaticCases(t, addr, []staticCase{
		{name: "index", path: "/", status: 200, body: string(files["index.html"]),
			want: map[string]string{"Content-Type": "text/html; charset=utf-8", "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff"}},
		{name: "file", path: "/index.html", status: 200, body: string(files["index.html"])},
		{name: "unknown extension", path: "/data.bin", status: 200, body: data,
			want: map[string]string{"Content-Type": "application/octet-stream", "Content-Length": size, "Vary": "", "Last-Modified": lastMod}},
		{name: "javascript", path: "/app.js", status: 200, body: js,
			want: map[string]string{"Content-Type": "text/javascript; charset=utf-8", "Vary": "Accept-Encoding", "Content-Encoding": ""}},
		{name: "HEAD", method: "HEAD", path: "/data.bin", status: 200, noBody: true,
			want: map[string]string{"Content-Length": size, "ETag": etag}},
		{name: "POST", method: "POST", path: "/index.html", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "missing", path: "/nope.html", status: 404},
		{name: "directory without slash", path: "/sub?x=1", status: 301, want: map[string]string{"Location": "/sub/?x=1"}},
		{name: "directory without index", path: "/sub/", status: 404},
		{name: "no listing", path: "/docs/", status: 404},
		{name: "file in directory", path: "/sub/page.txt", status: 200, body: string(files["sub/page.txt"])},
		{name: "file with a slash", path: "/index.html/", status: 404},
		{name: "dot file", path: "/.env", status: 404},
		{name: "symlink inside", path: "/alias.js", status: 200, body: js},
		{name: "symlink outside", path: "/escape.txt", status: 404},
		{name: "symlinked parent", path: "/up/secret.txt", status: 404},
		{name: "escaped name", path: "/%69ndex.html", status: 200, body: string(files["index.html"])},
		{name: "large file", path: "/big.bin", status: 200, body: string(files["big.bin"]),
			want: map[string]string{"Content-Length": strconv.Itoa(200 << 10)}},
		{name: "large file range", path: "/big.bin", hdr: map[string]string{"Range": "bytes=100000-100099"}, status: 206,
			body: string(files["big.bin"][100000:100100])},
		{name: "route prefix stripped, headers set", path: "/assets/sub/page.txt", status: 200, body: string(files["sub/page.txt"]),
			want: map[string]string{"X-Static": "yes", "Cache-Control": "max-age=60"}},

		// Ranges.
		{name: "range", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-9"}, status: 206, body: data[:10],
			want: map[string]string{"Content-Range": "bytes 0-9/" + size, "Content-Length": "10"}},
		{name: "range open end", path: "/data.bin", hdr: map[string]string{"Range": "bytes=2990-"}, status: 206, body: data[2990:],
			want: map[string]string{"Content-Range": "bytes 2990-2999/" + size}},
		{name: "range suffix", path: "/data.bin", hdr: map[string]string{"Range": "bytes=-5"}, status: 206, body: data[2995:]},
		{name: "range past end clipped", path: "/data.bin", hdr: map[string]string{"Range": "bytes=2998-5000"}, status: 206, body: data[2998:]},
		{name: "range unsatisfiable", path: "/data.bin", hdr: map[string]string{"Range": "bytes=3000-"}, status: 416,
			want: map[string]string{"Content-Range": "bytes */" + size}},
		{name: "ranges adding up to more than the file: whole file", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-,0-"}, status: 200, body: data},
		{name: "one of two ranges satisfiable", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-1, 5000-"}, status: 206, body: data[:2],
			want: map[string]string{"Content-Range": "bytes 0-1/" + size}},
		{name: "more than 16 ranges: whole file", path: "/data.bin", hdr: map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", 16) + "1-1"}, status: 200, body: data},
		{name: "ranges none satisfiable", path: "/data.bin", hdr: map[string]string{"Range": "bytes=3000-,4000-"}, status: 416},
		{name: "bad range: whole file", path: "/data.bin", hdr: map[string]string{"Range": "bytes=9-1"}, status: 200, body: data},
		{name: "If-Range matches", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-0", "If-Range": etag}, status: 206, body: data[:1]},
		{name: "If-Range date matches", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-0", "If-Range": lastMod}, status: 206, body: data[:1]},
		{name: "If-Range stale", path: "/data.bin", hdr: map[string]string{"Range": "bytes=0-0", "If-Range": `"old"`}, status: 200, body: data},

		// Conditional requests.
		{name: "If-None-Match", path: "/data.bin", hdr: map[string]string{"If-None-Match": etag}, status: 304, noBody: true,
			want: map[string]string{"ETag": etag, "Content-Length": ""}},
		{name: "If-None-Match weak", path: "/data.bin", hdr: map[string]string{"If-None-Match": `"x", W/` + etag}, status: 304},
		{name: "If-None-Match star", path: "/data.bin", hdr: map[string]string{"If-None-Match": "*"}, status: 304},
		{name: "If-None-Match other", path: "/data.bin", hdr: map[string]string{"If-None-Match": `"other"`}, status: 200, body: data},
		{name: "If-None-Match wins over If-Modified-Since", path: "/data.bin",
			hdr: map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lastMod}, status: 200},
		{name: "If-Modified-Since same", path: "/data.bin", hdr: map[string]string{"If-Modified-Since": lastMod}, status: 304},
		{name: "If-Modified-Since earlier", path: "/data.bin", hdr: map[string]string{"If-Modified-Since": "Sat, 01 Feb 2025 12:00:00 GMT"}, status: 200},
		{name: "If-Match fails", path: "/data.bin", hdr: map[string]string{"If-Match": `"other"`}, status: 412},
		{name: "If-Match", path: "/data.bin", hdr: map[string]string{"If-Match": etag}, status: 200},
		{name: "If-Unmodified-Since earlier", path: "/data.bin", hdr: map[string]string{"If-Unmodified-Since": "Sat, 01 Feb 2025 12:00:00 GMT"}, status: 412},

		// gzip.
		{name: "gzip", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "br, gzip"}, status: 200, gunzipd: js,
			want: map[string]string{"Content-Encoding": "gzip", "Vary": "Accept-Encoding", "ETag": jsGzTag, "Accept-Ranges": ""}},
		{name: "gzip refused by q=0", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip;q=0"}, status: 200, body: js,
			want: map[string]string{"Content-Encoding": ""}},
		{name: "gzip etag conditional", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": jsGzTag}, status: 304},
		{name: "identity etag does not match gzip", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": jsTag}, status: 200, gunzipd: js},
		{name: "no gzip for binary", path: "/data.bin", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, body: data,
			want: map[string]string{"Content-Encoding": ""}},
		{name: "no gzip for a small file", path: "/index.html", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200,
			body: string(files["index.html"]), want: map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
		{name: "range is served identity", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-6"}, status: 206,
			body: js[:7], want: map[string]string{"Content-Encoding": ""}},
	})
}

// TestStaticRawPaths sends targets that a client library would clean up, on raw sockets.
func TestStaticRawPaths(t *testing.T) {
	checkLeaks(t)
	dir, _ := staticSite(t)
	addr := staticProxy(t, dir)
	for _, tc := range []struct{ target, status string }{
		{"/../secret.txt", "400"},
		{"/sub/../../secret.txt", "400"},
		{"/%2e%2e/secret.txt", "400"},
		{"/sub%2fpage.txt", "400"},
		{"/sub%2Fpage.txt", "400"},
		{"/sub%5cpage.txt", "400"},
		{"/index.html%00", "400"},
		{"/%zz", "400"},
		{"/sub/./page.txt", "200"},
		{"//index.html", "200"},
		{"/assets/../index.html", "400"},
	} {
		got := rawExchange(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("%s: got %q, want %s", tc.target, firstLine(got), tc.status)
		}
		if strings.Contains(got, "outside the root") {
			t.Errorf("%s: served a file outside the directory", tc.target)
		}
	}
	// Keep-alive survives a 404 and an HTTP/1.0 client gets a gzip body ended by close.
	got := rawExchange(t, addr, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if strings.Count(got, "HTTP/1.1 ") != 2 || !strings.Contains(got, "<title>home</title>") {
		t.Errorf("keep-alive after a 404: %q", got)
	}
	got = rawExchange(t, addr, "GET /app.js HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
	if !strings.Contains(got, "Content-Encoding: gzip") || !strings.Contains(got, "Connection: close") || strings.Contains(got, "chunked") {
		t.Errorf("HTTP/1.0 gzip: %q", firstLine(got))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func TestStaticConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct{ yaml, want string }{
		{"routes:\n  - static: {}\n", "routes[0].static.dir: missing"},
		{"routes:\n  - static: {dir: " + dir + "/none}\n", "routes[0].static.dir: stat"},
		{"routes:\n  - static: {dir: " + file + "}\n", "routes[0].static.dir: \"" + file + "\" is not a directory"},
		{"routes:\n  - static: {dir: " + dir + ", index: ../x}\n", "routes[0].static.index: \"../x\" is not a plain file name"},
		{"routes:\n  - static: {dir: " + dir + ", listing: true}\n", "field listing is unknown; allowed: dir, index, cache_control, no_gzip"},
		{"pools: [{name: a, hosts: [{addr: 'x:1'}]}]\nroutes:\n  - static: {dir: " + dir + "}\n    pool: a\n", "routes[0].static: set together with pool"},
		{"routes:\n  - static: {dir: " + dir + "}\n    redirect: https\n", "routes[0].redirect: set together with pool or static"},
	} {
		if _, err := ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := ParseConfig([]byte("routes:\n  - static: {dir: " + dir + "}\n")); err != nil {
		t.Errorf("a static-only configuration: %v", err)
	}
}

func TestParseRange(t *testing.T) {
	type rs = []byteRange
	for _, tc := range []struct {
		s    string
		size int64
		want rs
		ok   bool
	}{
		{"bytes=0-0", 10, rs{{0, 1}}, true},
		{"bytes=0-", 10, rs{{0, 10}}, true},
		{"bytes=-3", 10, rs{{7, 3}}, true},
		{"bytes=-30", 10, rs{{0, 10}}, true},
		{"bytes=-0", 10, nil, true},
		{"bytes=10-", 10, nil, true},
		{"bytes=5-100", 10, rs{{5, 5}}, true},
		{"bytes=0-0", 0, nil, true},
		{"bytes=3-2", 10, nil, false},
		{"bytes=a-b", 10, nil, false},
		{"bytes=+1-2", 10, nil, false},
		{"bytes=1-2,4-5", 10, rs{{1, 2}, {4, 2}}, true},
		{"bytes=4-5, 1-2", 10, rs{{4, 2}, {1, 2}}, true},  // the order asked
		{"bytes=1-2,,4-5,", 10, rs{{1, 2}, {4, 2}}, true}, // empty list elements
		{"bytes=1-2,20-30", 10, rs{{1, 2}}, true},         // the unsatisfiable one dropped
		{"bytes=1-2,x", 10, nil, false},
		{"bytes=0-,0-", 10, nil, false}, // twice the file
		{"bytes=" + strings.Repeat("0-0,", 16) + "1-1", 100, nil, false},
		{"bytes=", 10, nil, false},
		{"items=1-2", 10, nil, false},
		{"bytes=99999999999999999999-", 10, nil, false},
	} {
		got, ok := parseRanges(tc.s, tc.size)
		if !slices.Equal(got, tc.want) || ok != tc.ok {
			t.Errorf("parseRanges(%q, %d) = %v, %v; want %v, %v", tc.s, tc.size, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStaticMultipartRanges: several ranges get one 206 multipart/byteranges answer
// with a part per range, in the order asked, read with mime/multipart over HTTP/1.1 and
// HTTP/2, from a file held in memory and from one sent from disk.
func TestStaticMultipartRanges(t *testing.T) {
	checkLeaks(t)
	dir, files := staticSite(t)
	addr := staticProxy(t, dir)
	h1 := &http.Transport{DisableCompression: true}
	h2 := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true}
	h2.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	type part struct {
		rng  string
		body []byte
	}
	data, big := files["data.bin"], files["big.bin"]
	for _, tc := range []struct {
		path, rng, ctype string
		parts            []part
	}{
		{"/data.bin", "bytes=0-1,5-6", "application/octet-stream",
			[]part{{"bytes 0-1/3000", data[:2]}, {"bytes 5-6/3000", data[5:7]}}},
		{"/big.bin", "bytes=100000-100099, 0-9, -5", "application/octet-stream",
			[]part{{"bytes 100000-100099/204800", big[100000:100100]}, {"bytes 0-9/204800", big[:10]}, {"bytes 204795-204799/204800", big[204795:]}}},
		{"/app.js", "bytes=0-9,20-", "text/javascript; charset=utf-8",
			[]part{{"bytes 0-9/3000", files["app.js"][:10]}, {"bytes 20-2999/3000", files["app.js"][20:]}}},
	} {
		for _, tr := range []*http.Transport{h1, h2} {
			req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
			req.Header.Set("Range", tc.rng)
			req.Header.Set("Accept-Encoding", "gzip") // ranges are sent as identity bytes
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if resp.StatusCode != 206 || mt != "multipart/byteranges" || params["boundary"] == "" ||
				resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) || resp.Header.Get("Content-Encoding") != "" {
				t.Fatalf("%s %s over %s: %d, %v, body %d bytes", tc.path, tc.rng, resp.Proto, resp.StatusCode, resp.Header, len(body))
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for i, want := range tc.parts {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("%s %s over %s: part %d: %v", tc.path, tc.rng, resp.Proto, i, err)
				}
				b, _ := io.ReadAll(p)
				if p.Header.Get("Content-Range") != want.rng || p.Header.Get("Content-Type") != tc.ctype || !bytes.Equal(b, want.body) {
					t.Errorf("%s over %s: part %d: %v, %d bytes; want %s", tc.path, resp.Proto, i, p.Header, len(b), want.rng)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("%s over %s: after the last part: %v", tc.path, resp.Proto, err)
			}
		}
	}
}

func FuzzStaticPath(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644)
	sd, err := newStaticDir(StaticConfig{Dir: dir, Index: "index.html"}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sd.close)
	for _, s := range []string{"/a.txt", "/../a.txt", "/%2e%2e/", "/a.txt?x", "//a.txt", "/./a.txt/"} {
		f.Add(s, "bytes=0-0")
	}
	f.Fuzz(func(t *testing.T, target, rng string) {
		r := sd.prepare("GET", target, func(name string) string {
			if name == "range" {
				return rng
			}
			return ""
		})
		defer r.close()
		if r.status == 200 || r.status == 206 {
			if r.f == nil && r.mem == nil || r.off < 0 || r.n < 0 || r.off+r.n > 1 || len(r.mem) > 1 {
				t.Fatalf("%q %q: status %d with file %v, memory %q, %d+%d", target, rng, r.status, r.f != nil, r.mem, r.off, r.n)
			}
		}
	})
}

// TestStaticExampleServes runs examples/proxy/static-site.yaml and fetches its files.
func TestStaticExampleServes(t *testing.T) {
	checkLeaks(t)
	cfg, err := LoadConfig("../examples/proxy/static-site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, cfg)
	css, err := os.ReadFile("../examples/proxy/site/css/site.css")
	if err != nil {
		t.Fatal(err)
	}
	runStaticCases(t, addr, []staticCase{
		{name: "index", path: "/", status: 200, want: map[string]string{"X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8"}},
		{name: "css gzipped", path: "/static/css/site.css", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, gunzipd: string(css),
			want: map[string]string{"Cache-Control": "public, max-age=86400", "Content-Type": "text/css; charset=utf-8"}},
		{name: "no listing", path: "/css/", status: 404},
	})
}

// TestStaticOverHTTP2 fetches files over h2c with prior knowledge: the HTTP/2 path serves
// static routes too, with ranges, validators and gzip.
func TestStaticOverHTTP2(t *testing.T) {
	checkLeaks(t)
	dir, files := staticSite(t)
	addr := staticProxy(t, dir)
	tr := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	data, js := string(files["data.bin"]), string(files["app.js"])
	for _, tc := range []struct {
		path, hdr, val string
		status         int
		body           string
	}{
		{"/data.bin", "", "", 200, data},
		{"/data.bin", "Range", "bytes=1-3", 206, data[1:4]},
		{"/data.bin", "Range", "bytes=5000-", 416, "range not satisfiable\n"},
		{"/nope", "", "", 404, "not found\n"},
		{"/assets/app.js", "Accept-Encoding", "gzip", 200, ""},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
		if tc.hdr != "" {
			req.Header.Set(tc.hdr, tc.val)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.status || (tc.body != "" && string(b) != tc.body) {
			t.Errorf("%s %s: %s %d %q", tc.path, tc.val, resp.Proto, resp.StatusCode, b)
		}
		if tc.hdr == "Accept-Encoding" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("gzip: %v", err)
			}
			plain, _ := io.ReadAll(zr)
			if string(plain) != js || resp.Header.Get("X-Static") != "yes" || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("gzip over h2: %d bytes, headers %v", len(plain), resp.Header)
			}
		}
	}
}

// TestStaticPrecompressed: with precompressed, FILE.gz is sent as it is (with its length)
// to clients that accept gzip, unless it is older than FILE.
func TestStaticPrecompressed(t *testing.T) {
	checkLeaks(t)
	dir, files := staticSite(t)
	js := files["app.js"]
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	zw.Name = "made ahead" // tells this file from what the proxy would make
	zw.Write(js)
	zw.Close()
	os.WriteFile(filepath.Join(dir, "app.js.gz"), zb.Bytes(), 0o644)
	later := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "app.js.gz"), later, later)
	// A stale one: older than its file.
	os.WriteFile(filepath.Join(dir, "sub", "page.txt"), bytes.Repeat([]byte("page "), 100), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "page.txt.gz"), []byte("stale"), 0o644)
	earlier := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "sub", "page.txt.gz"), earlier, earlier)

	_, addr := start(t, Config{Routes: []Route{{Static: &StaticConfig{Dir: dir, Precompressed: true}}}})
	tag, _ := etagOf(t, addr, "/app.js", "gzip")
	if !strings.HasSuffix(tag, `-gzs"`) {
		t.Fatalf("ETag of the precompressed file: %q", tag)
	}
	runStaticCases(t, addr, []staticCase{
		{name: "precompressed", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, body: zb.String(),
			want: map[string]string{"Content-Encoding": "gzip", "Content-Length": strconv.Itoa(zb.Len()), "Vary": "Accept-Encoding",
				"Content-Type": "text/javascript; charset=utf-8"}},
		{name: "precompressed 304", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": tag}, status: 304,
			want: map[string]string{"Content-Encoding": "", "ETag": tag}},
		{name: "identity", path: "/app.js", status: 200, body: string(js), want: map[string]string{"Content-Encoding": ""}},
		{name: "range is identity", path: "/app.js", hdr: map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-3"}, status: 206, body: string(js[:4])},
		{name: "stale .gz ignored", path: "/sub/page.txt", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200,
			gunzipd: strings.Repeat("page ", 100), want: map[string]string{"Content-Encoding": "gzip"}},
	})
}

// TestStaticGzipCache: a text file is compressed once per version: a changed file is
// compressed again, and a file too large for the cache is streamed.
func TestStaticGzipCache(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	css := filepath.Join(dir, "a.css")
	v1 := strings.Repeat("body { color: red; }\n", 50)
	os.WriteFile(css, []byte(v1), 0o644)
	big := strings.Repeat("p { margin: 0; }\n", (gzipCacheFile/17)+100)
	os.WriteFile(filepath.Join(dir, "big.css"), []byte(big), 0o644)
	_, addr := start(t, Config{Routes: []Route{{Static: &StaticConfig{Dir: dir}}}})
	gz := map[string]string{"Accept-Encoding": "gzip"}
	runStaticCases(t, addr, []staticCase{
		{name: "first", path: "/a.css", hdr: gz, status: 200, gunzipd: v1, want: map[string]string{"Content-Encoding": "gzip"}},
		{name: "cached", path: "/a.css", hdr: gz, status: 200, gunzipd: v1},
		{name: "large: streamed", path: "/big.css", hdr: gz, status: 200, gunzipd: big,
			want: map[string]string{"Content-Encoding": "gzip", "Content-Length": ""}},
	})
	v2 := strings.Repeat("body { color: blue; }\n", 60)
	os.WriteFile(css, []byte(v2), 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(css, later, later)
	// The file cache notices the change within fileCacheValid.
	waitBody(t, addr, "/a.css", gz, func(b []byte) bool { return gunzip(b) == v2 })
}

// waitBody polls path until ok accepts the body of a 200 answer, or fails the test after
// a deadline well past fileCacheValid.
func waitBody(t *testing.T, addr, path string, hdr map[string]string, ok func([]byte) bool) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	var last string
	for deadline := time.Now().Add(5 * fileCacheValid); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && ok(b) && resp.StatusCode < 300 || (resp.StatusCode >= 300 && ok(nil)) {
			return
		}
		last = resp.Status + " " + strconv.Quote(string(b[:min(len(b), 64)]))
	}
	t.Fatalf("%s: still %s after %v", path, last, 5*fileCacheValid)
}

func gunzip(b []byte) string {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	plain, _ := io.ReadAll(zr)
	return string(plain)
}

// TestStaticFileCache: a small file is answered from memory (ranges, gzip and HEAD too),
// and a change, a new file of the same name, or a removal is seen within fileCacheValid.
func TestStaticFileCache(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	txt := filepath.Join(dir, "a.txt")
	v1 := strings.Repeat("first version\n", 40)
	os.WriteFile(txt, []byte(v1), 0o644)
	s, addr := start(t, Config{Routes: []Route{{Static: &StaticConfig{Dir: dir}}}})
	gz := map[string]string{"Accept-Encoding": "gzip"}
	runStaticCases(t, addr, []staticCase{
		{name: "first", path: "/a.txt", status: 200, body: v1, want: map[string]string{"Content-Length": strconv.Itoa(len(v1))}},
		{name: "cached", path: "/a.txt", status: 200, body: v1},
		{name: "range", path: "/a.txt", hdr: map[string]string{"Range": "bytes=6-12"}, status: 206, body: v1[6:13],
			want: map[string]string{"Content-Range": "bytes 6-12/" + strconv.Itoa(len(v1)), "Content-Length": "7"}},
		{name: "suffix range", path: "/a.txt", hdr: map[string]string{"Range": "bytes=-3"}, status: 206, body: v1[len(v1)-3:]},
		{name: "416", path: "/a.txt", hdr: map[string]string{"Range": "bytes=9999-"}, status: 416},
		{name: "gzip", path: "/a.txt", hdr: gz, status: 200, gunzipd: v1, want: map[string]string{"Content-Encoding": "gzip"}},
		{name: "file as directory", path: "/a.txt/", status: 404},
	})
	etag, _ := etagOf(t, addr, "/a.txt", "")
	runStaticCases(t, addr, []staticCase{
		{name: "304", path: "/a.txt", hdr: map[string]string{"If-None-Match": etag}, status: 304, noBody: true,
			want: map[string]string{"ETag": etag, "Content-Length": ""}},
	})
	// HEAD of a gzipped answer gives the length of the gzipped body a GET sends.
	zlen := func(method string) string {
		req, _ := http.NewRequest(method, "http://"+addr+"/a.txt", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		tr := &http.Transport{DisableCompression: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Content-Length")
	}
	if h, g := zlen("HEAD"), zlen("GET"); h == "" || h != g {
		t.Errorf("gzipped Content-Length: HEAD %q, GET %q", h, g)
	}

	// Same size, new contents and time: the new file, with a new ETag.
	v2 := strings.Repeat("secnd version\n", 40)
	os.WriteFile(txt, []byte(v2), 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(txt, later, later)
	waitBody(t, addr, "/a.txt", nil, func(b []byte) bool { return string(b) == v2 })
	if e2, _ := etagOf(t, addr, "/a.txt", ""); e2 == etag {
		t.Errorf("ETag %s unchanged after the file changed", e2)
	}
	// Replaced by another file (a new inode, as an atomic deploy does).
	v3 := "third\n"
	os.WriteFile(txt+".new", []byte(v3), 0o644)
	os.Rename(txt+".new", txt)
	waitBody(t, addr, "/a.txt", nil, func(b []byte) bool { return string(b) == v3 })
	// Removed: 404 within fileCacheValid.
	os.Remove(txt)
	waitBody(t, addr, "/a.txt", nil, func(b []byte) bool { return b == nil })

	// The cache keeps to its byte budget.
	sd := s.table.Load().routes[0].static
	sd.files.mu.Lock()
	n, total := len(sd.files.m), sd.files.bytes
	sd.files.mu.Unlock()
	if total > fileCacheBytes || n > 1 {
		t.Errorf("file cache: %d entries, %d bytes", n, total)
	}
}
