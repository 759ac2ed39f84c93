// Package resp reads and writes the Redis serialization protocol (RESP2 and RESP3).
//
// A Reader turns a client's byte stream into commands: arrays of bulk strings
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or inline commands ("GET k\r\n"). It is
// streaming and bounded: every length a client claims is checked against Limits
// before anything is trusted, and buffer space grows only as bytes actually arrive,
// so a client that announces a 512 MB argument and sends nothing costs nothing.
// The arguments it returns alias its buffer, so reading a command does not allocate.
//
// A Writer appends replies to a buffer that the caller flushes once per batch of
// pipelined commands; it writes RESP2 or RESP3 shapes (maps, sets, nulls,
// doubles, push messages) according to the protocol the client chose with HELLO.
//
// The cache server (package cache) is its main user; the package imports nothing of
// gantry's and can be used by any RESP client or server.
package resp
