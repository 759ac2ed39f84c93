package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2BenchConn opens an h2c connection to a proxy in front of a raw HTTP/1.1 backend, with
// the preface and SETTINGS sent, and returns its framer and the header block of a GET
// /small. Every request sends that same literal block: the encoder's table is not used
// again. The connection closes when the benchmark ends.
func h2BenchConn(b *testing.B) (*http2.Framer, []byte) {
	return h2BenchConnTo(b, onePool(rawBackend(b)))
}

// h2BenchConnTo is h2BenchConn to a proxy with the configuration cfg.
func h2BenchConnTo(b *testing.B, cfg Config) (*http2.Framer, []byte) {
	c, err := net.Dial("tcp", serveBench(b, cfg))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(h2Preface)); err != nil {
		b.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.SetReuseFrames()
	if err := fr.WriteSettings(); err != nil {
		b.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "bench"},
		{":path", "/small"}, {"user-agent", "bench"}, {"accept", "*/*"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return fr, block.Bytes()
}

// awaitStreamEnd reads frames until stream id ends (any stream when id is 0), answering
// SETTINGS and giving DATA's bytes back to the connection's window so it stays open.
func awaitStreamEnd(b *testing.B, fr *http2.Framer, id uint32) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		ended := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 {
				fr.WriteWindowUpdate(0, uint32(n))
			}
			ended = f.StreamEnded()
		case *http2.HeadersFrame:
			ended = f.StreamEnded()
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			b.Fatalf("the proxy sent %v", f)
		}
		if ended && (id == 0 || f.Header().StreamID == id) {
			return
		}
	}
}

// BenchmarkH2RoundTrip measures one GET on an h2c connection through the proxy's HTTP/2
// listener to an HTTP/1.1 backend. The client is a bare frame writer and reader, so that
// the allocations reported are the proxy's (its HTTP/2 server included).
func BenchmarkH2RoundTrip(b *testing.B) {
	fr, headers := h2BenchConn(b)
	id := uint32(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headers, EndStream: true, EndHeaders: true}); err != nil {
			b.Fatal(err)
		}
		awaitStreamEnd(b, fr, id)
		id += 2
	}
}

// BenchmarkH2Streams keeps 10 GETs in flight on one h2c connection through the proxy to
// an HTTP/1.1 backend, as h2load -m10 does: each iteration is one answer read and one
// request sent in its place. It measures what the listener's scheduling costs when
// streams overlap (several answers per write, frames from many workers).
func BenchmarkH2Streams(b *testing.B) {
	fr, headers := h2BenchConn(b)
	runH2Streams(b, fr, headers)
}

// runH2Streams keeps 10 GETs in flight on fr, sending the next as each one ends.
func runH2Streams(b *testing.B, fr *http2.Framer, headers []byte) {
	const inFlight = 10
	id := uint32(1)
	send := func() {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headers, EndStream: true, EndHeaders: true}); err != nil {
			b.Fatal(err)
		}
		id += 2
	}
	for range inFlight {
		send()
	}
	b.ReportAllocs()
	for b.Loop() {
		awaitStreamEnd(b, fr, 0)
		send()
	}
}

// BenchmarkH2UpstreamStreams is BenchmarkH2Streams to an h2 pool: 10 GETs in flight on
// one h2c connection through the proxy and its HTTP/2 client to a net/http h2c backend
// answering 13 bytes, the path of bench/proxy's h2up row without TLS.
func BenchmarkH2UpstreamStreams(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world!\n")
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	b.Cleanup(srv.Close)
	fr, headers := h2BenchConnTo(b, Config{Pools: []PoolConfig{{Name: "app", Protocol: "h2",
		Hosts: []HostConfig{{Addr: srv.Listener.Addr().String()}}}}})
	runH2Streams(b, fr, headers)
}
