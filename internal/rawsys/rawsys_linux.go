package rawsys

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Read is read(2) on a descriptor that does not block: an empty non-blocking socket
// answers syscall.EAGAIN at once.
func Read(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Write is write(2) on a descriptor that does not block: a full non-blocking socket
// answers syscall.EAGAIN, or takes part of p.
func Write(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// ReadOnce reads from a non-blocking socket once, going on after interrupted calls:
// io.EOF when the peer has closed, syscall.EAGAIN when nothing is there.
func ReadOnce(fd int, p []byte) (int, error) {
	for {
		n, err := Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// WriteNow writes as much of p to a non-blocking socket as it takes now, going on
// after partial writes and interrupted calls. A count short of len(p) with a nil error
// means the socket is full: the caller keeps the rest for a writer that may wait.
func WriteNow(fd int, p []byte) (int, error) {
	for n := 0; n < len(p); {
		m, err := Write(fd, p[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return n, nil
		case err != nil:
			return n, os.NewSyscallError("write", err)
		}
		n += m
	}
	return len(p), nil
}

// WriteOrKeep writes p to a non-blocking socket without waiting, for a loop's
// writer: what the socket does not take now is appended to pending, the bytes
// still to be written by a writer that may wait (a loop hands such a connection
// to a goroutine). While pending holds anything, all of p goes after it, so that
// the bytes keep their order. It returns the new pending, nil when all went out.
func WriteOrKeep(fd int, pending, p []byte) ([]byte, error) {
	if pending != nil {
		return append(pending, p...), nil
	}
	n, err := WriteNow(fd, p)
	if err != nil {
		return nil, err
	}
	if n < len(p) {
		return append([]byte(nil), p[n:]...), nil
	}
	return nil, nil
}

// Gettid is the calling thread's id; a loop locked to its thread checks with it that it
// has not moved.
func Gettid() int {
	tid, _, _ := syscall.RawSyscall(syscall.SYS_GETTID, 0, 0, 0)
	return int(tid)
}

func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}
