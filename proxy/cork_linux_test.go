package proxy

import (
	"bytes"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func corked(t *testing.T, nc net.Conn) int {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

// TestCork sets and clears TCP_CORK on a real loopback connection and sees what was held
// arrive once it is cleared; a connection that is not TCP is left alone.
func TestCork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.(*net.TCPConn).SetNoDelay(true)

	if !cork(server, true) {
		t.Fatal("cork on a TCP connection: not set")
	}
	if v := corked(t, server); v != 1 {
		t.Fatalf("TCP_CORK = %d after cork(true), want 1", v)
	}
	if _, err := server.Write([]byte("head ")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(bytes.Repeat([]byte("b"), 100)); err != nil {
		t.Fatal(err)
	}
	if !cork(server, false) {
		t.Fatal("cork(false) on a TCP connection: not cleared")
	}
	if v := corked(t, server); v != 0 {
		t.Fatalf("TCP_CORK = %d after cork(false), want 0", v)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 105)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("reading what was corked: %v", err)
	}
	if want := "head " + strings.Repeat("b", 100); string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if cork(a, true) {
		t.Error("cork on a pipe reported set")
	}
}

// TestStaticCorkedKeepAlive sends a file by sendfile under TCP_CORK, a range of it, then
// a small cached file and an error on the same keep-alive connection: every answer arrives
// whole and in order.
func TestStaticCorkedKeepAlive(t *testing.T) {
	checkLeaks(t)
	dir, files := staticSite(t)
	addr := staticProxy(t, dir)
	got := rawExchange(t, addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-\r\n\r\n"+
		"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	big := string(files["big.bin"])
	for _, want := range []string{
		"HTTP/1.1 200 OK\r\n", "\r\n\r\n" + big + "HTTP/1.1 206 ",
		"\r\n\r\n" + big[100:] + "HTTP/1.1 200 OK\r\n",
		"<title>home</title>\n" + "HTTP/1.1 404 ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("keep-alive after sendfile: missing %.60q", want)
		}
	}
}
