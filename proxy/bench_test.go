package proxy

import (
	"bufio"
	"context"
	"net"
	"testing"
)

// rawBackend is a minimal HTTP/1.1 server for benchmarks: it answers every request head
// with a fixed 13-byte response, so that the benchmark's allocations are the proxy's.
func rawBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 4096)
				for {
					n, _, err := readHead(br, nil)
					if err != nil {
						return
					}
					br.Discard(n)
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkProxyRoundTrip measures one keep-alive GET through the proxy: parse, route,
// pick, forward on a pooled upstream connection, and copy the answer back.
func BenchmarkProxyRoundTrip(b *testing.B) {
	s, err := New(onePool(rawBackend(b)))
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
	req := []byte("GET /small HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	var h head
	h.reset()
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
		if err := h.parseResponse(raw); err != nil || h.status != 200 {
			b.Fatalf("status %d, %v", h.status, err)
		}
		cl := h.contentLength
		br.Discard(n)
		if _, err := br.Discard(int(cl)); err != nil {
			b.Fatal(err)
		}
	}
}
