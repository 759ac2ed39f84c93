package cache

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"gantry/internal/testenv"
)

// redisCLI returns a function that runs the real redis-cli against addr with the given
// arguments and returns its output, trimmed; a failing redis-cli fails the test.
func redisCLI(t *testing.T, addr string) func(args ...string) string {
	cli := testenv.LookPath(t, "redis-cli")
	host, port, _ := strings.Cut(addr, ":")
	return func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
}

// startServer runs a gantry cache on a free loopback port until the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, testenv.Serve(t, srv)
}

// startRedis runs a real redis-server without persistence on a free loopback port.
func startRedis(t testing.TB, extra ...string) string {
	t.Helper()
	path := testenv.LookPath(t, "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, extra...)
	cmd := exec.Command(path, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawConn is a test client that sends commands and returns each reply's raw bytes.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func encodeCommand(args []string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// do sends one command and returns its raw reply ("" when the connection closed).
func (r *rawConn) do(args ...string) string {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(encodeCommand(args)); err != nil {
		r.t.Fatalf("write %q: %v", args, err)
	}
	return r.reply()
}

// reply reads one complete reply and returns it raw.
func (r *rawConn) reply() string {
	r.t.Helper()
	var b strings.Builder
	if err := readReply(r.br, &b); err != nil {
		return b.String()
	}
	return b.String()
}

// readReply reads one RESP2 or RESP3 reply into b, raw, and fails when it is not well
// formed: an unknown type, a length or integer that is not a number, a bulk string not
// ended by CRLF.
func readReply(br *bufio.Reader, b *strings.Builder) error {
	line, err := br.ReadString('\n')
	b.WriteString(line)
	if err != nil {
		return err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return fmt.Errorf("reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', '-', ',', '(', '_':
		return nil
	case ':':
		_, err := strconv.ParseInt(body, 10, 64)
		return err
	case '#':
		if body != "t" && body != "f" {
			return fmt.Errorf("boolean %q", line)
		}
		return nil
	}
	n, err := strconv.Atoi(body)
	if err != nil || n < -1 {
		return fmt.Errorf("length in %q", line)
	}
	switch line[0] {
	case '$', '=', '!':
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(br, buf); err != nil {
			return err
		}
		b.Write(buf)
		if string(buf[n:]) != "\r\n" {
			return fmt.Errorf("bulk string of %d bytes not ended by CRLF", n)
		}
		return nil
	case '*', '~', '>', '%', '|':
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range n {
			if err := readReply(br, b); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("reply type %q", line[0])
}

func ioReadFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var timeNow = time.Now

const millisecond = time.Millisecond
