package proxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStaticFile measures one keep-alive GET of a 4 KiB file from a static route:
// parse, route, open and stat the file, write the head, and send the body with sendfile.
func BenchmarkStaticFile(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), bytes.Repeat([]byte{1}, 4096), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Routes: []Route{{Static: &StaticConfig{Dir: dir}}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /f.bin HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	var h head
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n, _, err := readHead(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := br.Peek(n)
		h.reset()
		if err := h.parseResponse(raw); err != nil || h.status != 200 || h.contentLength != 4096 {
			b.Fatalf("status %d length %d, %v", h.status, h.contentLength, err)
		}
		br.Discard(n)
		if _, err := br.Discard(4096); err != nil {
			b.Fatal(err)
		}
	}
}
