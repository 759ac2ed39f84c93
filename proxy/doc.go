// Package proxy is gantry's HTTP/1.1 reverse proxy and load balancer.
//
// A Server reads requests with its own head parser, which works in place on pooled
// buffers and allocates nothing, routes each request by host, path, method and headers
// to an upstream pool, picks a host with a policy from package balance, and forwards the
// request on a keep-alive connection taken straight from that host's idle list. On the
// goroutine path (TLS connections, and every request an event loop hands over; below),
// one goroutine serves a client connection from its first request to its last, so a
// request costs no goroutine hand-off; bodies stream both ways without being buffered.
//
//	client ──► conn.next: readHead ─► parseRequest ─► match route ─► pool.pick ─► upstream.get
//	   ▲                                                                            │
//	   └──────────── forwardResponse ◄── readResponseHead ◄── write head, copy body ◄┘
//
// The parser is strict where leniency enables request smuggling (RFC 9112 section 11.2):
// a request with both Content-Length and Transfer-Encoding, a repeated or malformed
// Content-Length, a transfer coding other than chunked, a malformed chunk, obs-fold, a
// bare LF or a control byte in a field is answered 400 and its connection closed.
// Oversized heads get 431, oversized bodies 413, slow heads 408.
//
// On Linux, event loops (loop_linux.go, Config.EventLoops) serve plain HTTP/1.1 client
// connections instead of a goroutine each: a loop owns its client sockets and their
// upstream connections in one edge-triggered epoll set, so that a socket is read only when
// it has bytes and no request parks a goroutine. A loop serves the common shape of a
// request whole (idempotent, no body, a plain HTTP/1.1 pool, a response of known length of
// at most 64 KiB) with the same parser, routing, picking and head writers, and hands
// anything else once to the goroutine path with the bytes already read: bodies, upgrades,
// streams, TLS, HTTP/2, and any try that failed, so that the retry rules are the
// goroutine path's.
//
// Retries happen only when they are safe (the connection failed before the request was
// sent, or the request is idempotent and has no body) and only within a per-pool retry
// budget; hosts that fail in a row are ejected for a growing time (passive outlier
// detection), never more than a set share of a pool.
package proxy
