package testenv

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
)

// echoServer is the smallest server with gantry's Serve/Shutdown shape: it echoes one
// line per connection.
type echoServer struct {
	mu      sync.Mutex
	ln      net.Listener
	stopped bool
}

func (s *echoServer) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.stopped {
				return nil
			}
			return err
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte(line))
		c.Close()
	}
}

func (s *echoServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return errors.New("not serving")
	}
	s.stopped = true
	return s.ln.Close()
}

func TestServeRunsUntilTheTestEnds(t *testing.T) {
	srv := &echoServer{}
	t.Run("serve", func(t *testing.T) {
		addr := Serve(t, srv)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello\n"))
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "hello\n" {
			t.Fatalf("echo = %q, %v", got, err)
		}
	})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.stopped {
		t.Fatal("the server was not shut down when its test ended")
	}
}

func TestServeOwnLeavesShutdownToTheTest(t *testing.T) {
	srv := &echoServer{}
	addr, served := ServeOwn(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi\n"))
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "hi\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned before Shutdown: %v", err)
	default:
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v after Shutdown, want nil", err)
	}
}
