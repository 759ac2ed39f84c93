package rawsys

import (
	"os"
	"syscall"
)

// Epoll is an event loop's epoll set, with a pipe in it by which other goroutines
// interrupt the loop's wait (Wake): to give it a connection, or to tell it to stop.
type Epoll struct {
	FD   int    // the epoll descriptor, for epoll_ctl and epoll_wait
	wake [2]int // the pipe: a byte written to wake[1] makes wake[0] readable
}

// NewEpoll makes the set and its wake-up pipe.
func NewEpoll() (*Epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	e := &Epoll{FD: fd}
	if err := syscall.Pipe2(e.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("pipe2", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(e.wake[0])}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, e.wake[0], &ev); err != nil {
		e.Close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return e, nil
}

// Close closes the set and the pipe.
func (e *Epoll) Close() {
	syscall.Close(e.wake[0])
	syscall.Close(e.wake[1])
	syscall.Close(e.FD)
}

// Wake interrupts the loop's wait, or makes its next one return at once. Any goroutine
// may call it; a full pipe already wakes the loop, so a failed write is no matter.
func (e *Epoll) Wake() {
	syscall.Write(e.wake[1], []byte{0})
}

// IsWake reports whether an event on fd is a wake-up rather than a socket's.
func (e *Epoll) IsWake(fd int) bool { return fd == e.wake[0] }

// DrainWake empties the pipe, so that the next wait sleeps until the next Wake.
func (e *Epoll) DrainWake() {
	var b [64]byte
	for {
		if n, _ := syscall.Read(e.wake[0], b[:]); n < len(b) {
			return
		}
	}
}
