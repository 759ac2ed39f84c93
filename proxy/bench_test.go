package proxy

import (
	"bufio"
	"context"
	"net"
	"testing"
)

// benchResponse is what the benchmarks' backends answer: 13 bytes of body.
var benchResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")

// rawBackend is a minimal HTTP/1.1 server for benchmarks: it answers every request head
// with a fixed 13-byte response, so that the benchmark's allocations are the proxy's.
func rawBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serveRaw(b, ln)
	return ln.Addr().String()
}

// serveRaw answers every request head on ln with benchResponse until the benchmark ends.
func serveRaw(b *testing.B, ln net.Listener) {
	b.Cleanup(func() { ln.Close() })
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
					if _, err := c.Write(benchResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// serveBench starts a proxy with cfg on a loopback port, stopped when the benchmark ends,
// and returns its address.
func serveBench(b *testing.B, cfg Config) string {
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// benchGets sends keep-alive GETs for target to the proxy at addr, one per iteration,
// reading each answer's head and body and failing on any answer but a 200 with a body of
// bodyLen bytes.
func benchGets(b *testing.B, addr, target string, bodyLen int64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET " + target + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
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
		if err := h.parseResponse(raw); err != nil || h.status != 200 || h.contentLength != bodyLen {
			b.Fatalf("status %d length %d, %v", h.status, h.contentLength, err)
		}
		br.Discard(n)
		if _, err := br.Discard(int(bodyLen)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyRoundTrip measures one keep-alive GET through the proxy: parse, route,
// pick, forward on a pooled upstream connection, and copy the answer back.
func BenchmarkProxyRoundTrip(b *testing.B) {
	benchGets(b, serveBench(b, onePool(rawBackend(b))), "/small", 13)
}
