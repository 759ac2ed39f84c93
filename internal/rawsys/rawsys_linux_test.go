package rawsys

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
)

// socketPair is a connected pair of non-blocking stream sockets, closed with the test.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestReadWrite(t *testing.T) {
	a, b := socketPair(t)
	buf := make([]byte, 16)
	if n, err := Read(b, buf); err != syscall.EAGAIN || n != 0 {
		t.Fatalf("read of an empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	if n, err := Write(a, []byte("hello")); err != nil || n != 5 {
		t.Fatalf("write = %d, %v; want 5, nil", n, err)
	}
	n, err := Read(b, buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("hello")) {
		t.Fatalf("read = %q, %v; want \"hello\", nil", buf[:n], err)
	}
	if n, err := Write(a, nil); err != nil || n != 0 {
		t.Fatalf("empty write = %d, %v; want 0, nil", n, err)
	}
	syscall.Close(a)
	if n, err := Read(b, buf); err != nil || n != 0 {
		t.Fatalf("read after the peer closed = %d, %v; want 0 (end of stream), nil", n, err)
	}
	if _, err := Read(-1, buf); err != syscall.EBADF {
		t.Fatalf("read of a bad descriptor: %v, want EBADF", err)
	}
}

func TestEpollPoll(t *testing.T) {
	a, b := socketPair(t)
	e, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Add(b, syscall.EPOLLIN); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(b, syscall.EPOLLIN); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("Add twice: %v, want EEXIST", err)
	}
	events := make([]syscall.EpollEvent, 4)
	if n, err := e.Poll(events); err != nil || n != 0 {
		t.Fatalf("poll with nothing ready = %d, %v; want 0, nil", n, err)
	}
	if _, err := Write(a, []byte("x")); err != nil {
		t.Fatal(err)
	}
	n, err := e.Poll(events)
	if err != nil || n != 1 || events[0].Fd != int32(b) || events[0].Events&syscall.EPOLLIN == 0 {
		t.Fatalf("poll = %d, %v, %+v; want socket %d readable", n, err, events[0], b)
	}
	if _, err := e.Poll(nil); err != syscall.EINVAL {
		t.Fatalf("poll into no events: %v, want EINVAL", err)
	}
	e.Del(b)
	if n, err := e.Wait(events, 10); err != nil || n != 0 {
		t.Fatalf("wait after Del of the readable socket = %d, %v; want 0, nil", n, err)
	}
}

func TestWriteNow(t *testing.T) {
	a, b := socketPair(t)
	if n, err := WriteNow(a, []byte("hello")); err != nil || n != 5 {
		t.Fatalf("WriteNow to an empty socket = %d, %v; want 5, nil", n, err)
	}
	// Fill the socket: WriteNow then takes what fits and says so with a short count.
	big := make([]byte, 64<<20)
	n, err := WriteNow(a, big)
	if err != nil || n == 0 || n >= len(big) {
		t.Fatalf("WriteNow of 64 MiB to a socket nobody reads = %d, %v; want a short count, nil", n, err)
	}
	if n, err := WriteNow(a, []byte("x")); err != nil || n != 0 {
		t.Fatalf("WriteNow to a full socket = %d, %v; want 0, nil", n, err)
	}
	syscall.Close(b)
	if _, err := WriteNow(a, []byte("x")); err == nil {
		t.Fatal("WriteNow to a socket whose peer closed: no error")
	}
}

// WriteOrKeep keeps what a full socket does not take, and everything after it,
// in order; a reader then gets every byte once.
func TestWriteOrKeep(t *testing.T) {
	a, b := socketPair(t)
	pending, err := WriteOrKeep(a, nil, []byte("first "))
	if err != nil || pending != nil {
		t.Fatalf("write to an empty socket: pending %q, %v; want nil, nil", pending, err)
	}
	big := bytes.Repeat([]byte("x"), 64<<20)
	if pending, err = WriteOrKeep(a, pending, big); err != nil || len(pending) == 0 {
		t.Fatalf("write of 64 MiB to a socket nobody reads: pending %d bytes, %v; want some kept", len(pending), err)
	}
	kept := len(pending)
	if pending, err = WriteOrKeep(a, pending, []byte(" last")); err != nil || len(pending) != kept+5 {
		t.Fatalf("write behind pending bytes: pending %d bytes, %v; want %d", len(pending), err, kept+5)
	}
	// Read what the socket took, then append what was kept: the whole stream, in order.
	var got []byte
	buf := make([]byte, 1<<20)
	for {
		n, err := ReadOnce(b, buf)
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	got = append(got, pending...)
	want := append(append([]byte("first "), big...), " last"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("stream of %d bytes, want %d in order", len(got), len(want))
	}
	syscall.Close(b)
	if _, err := WriteOrKeep(a, nil, []byte("x")); err == nil {
		t.Fatal("write to a socket whose peer closed: no error")
	}
}

// A duplicate of the set sees the set's events, and does not block.
func TestEpollDup(t *testing.T) {
	a, b := socketPair(t)
	e, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fd, err := e.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := e.Add(b, syscall.EPOLLIN); err != nil {
		t.Fatal(err)
	}
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 || flags&syscall.O_NONBLOCK == 0 {
		t.Fatalf("the duplicate's flags = %#x, %v; want O_NONBLOCK", flags, errno)
	}
	if _, err := Write(a, []byte("x")); err != nil {
		t.Fatal(err)
	}
	events := make([]syscall.EpollEvent, 4)
	n, err := syscall.EpollWait(fd, events, 1000)
	if err != nil || n != 1 || events[0].Fd != int32(b) {
		t.Fatalf("wait on the duplicate = %d, %v, %+v; want socket %d readable", n, err, events[0], b)
	}
}

func TestEpollWake(t *testing.T) {
	e, err := NewEpoll()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	events := make([]syscall.EpollEvent, 4)
	if n, err := e.Poll(events); err != nil || n != 0 {
		t.Fatalf("poll of a new set = %d, %v; want 0, nil", n, err)
	}
	for range 100 { // more wake-ups than the drain reads at once
		e.Wake()
	}
	n, err := e.Wait(events, 1000)
	if err != nil || n != 1 || !e.IsWake(int(events[0].Fd)) {
		t.Fatalf("wait after Wake = %d, %v, %+v; want the wake-up", n, err, events[0])
	}
	e.DrainWake()
	if n, err := e.Poll(events); err != nil || n != 0 {
		t.Fatalf("poll after DrainWake = %d, %v; want 0, nil", n, err)
	}
	if e.IsWake(e.fd) {
		t.Fatal("IsWake of the epoll descriptor itself")
	}
}

func TestReadOnce(t *testing.T) {
	a, b := socketPair(t)
	buf := make([]byte, 16)
	if n, err := ReadOnce(b, buf); err != syscall.EAGAIN || n != 0 {
		t.Fatalf("ReadOnce of an empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	if _, err := Write(a, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if n, err := ReadOnce(b, buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("ReadOnce = %q, %v; want \"hi\", nil", buf[:n], err)
	}
	syscall.Close(a)
	if n, err := ReadOnce(b, buf); err != io.EOF || n != 0 {
		t.Fatalf("ReadOnce after the peer closed = %d, %v; want 0, io.EOF", n, err)
	}
}
