package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echoServer echoes each line back until the peer closes.
func echoServer(t *testing.T) string {
	return tcpServer(t, func(c net.Conn) { io.Copy(c, c) })
}

// tcpServer starts a TCP server on loopback that serves its connections one at a time
// with serve, closing each after, until the test ends; it returns the address.
func tcpServer(t testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestConnectTunnel(t *testing.T) {
	checkLeaks(t)
	echo := echoServer(t)
	_, port, _ := net.SplitHostPort(echo)
	cfg := onePool(backend(t, func(w http.ResponseWriter, r *http.Request) {}))
	cfg.ConnectAllow = []string{"127.0.0.1:" + port}
	_, addr := start(t, cfg)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "CONNECT "+echo+" HTTP/1.1\r\nHost: "+echo+"\r\n\r\nearly\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "early\n" {
		t.Errorf("bytes sent with the head: %q", line)
	}
	io.WriteString(c, "later\n")
	if line, _ := br.ReadString('\n'); line != "later\n" {
		t.Errorf("got %q", line)
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after close: %v", err)
	}

	for _, target := range []string{"127.0.0.1:1", "example.com:443", "nohost", "127.0.0.1:x"} {
		got := rawExchange(t, addr, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		want := "HTTP/1.1 403 "
		if !strings.Contains(target, ":") || strings.HasSuffix(target, "x") {
			want = "HTTP/1.1 400 "
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("CONNECT %s: %q, want %q", target, got, want)
		}
	}
}

func TestConnectDeniedByDefault(t *testing.T) {
	checkLeaks(t)
	echo := echoServer(t)
	_, addr := start(t, onePool(backend(t, func(w http.ResponseWriter, r *http.Request) {})))
	got := rawExchange(t, addr, "CONNECT "+echo+" HTTP/1.1\r\nHost: "+echo+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 403 ") {
		t.Errorf("got %q", got)
	}
}
