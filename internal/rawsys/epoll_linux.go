package rawsys

import (
	"os"
	"syscall"
	"unsafe"
)

// Epoll is an event loop's epoll set, with a pipe in it by which other goroutines
// interrupt the loop's wait (Wake): to give it a connection, or to tell it to stop.
// Only the loop adds, removes and waits; any goroutine may Wake it.
type Epoll struct {
	fd   int
	wake [2]int // the pipe: a byte written to wake[1] makes wake[0] readable
}

// NewEpoll makes the set and its wake-up pipe.
func NewEpoll() (*Epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	e := &Epoll{fd: fd}
	if err := syscall.Pipe2(e.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("pipe2", err)
	}
	if err := e.Add(e.wake[0], syscall.EPOLLIN); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Add puts fd into the set, watched for events (EPOLLIN, ...); an event reports
// fd as its Fd.
func (e *Epoll) Add(fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Del takes fd out of the set. Closing fd does as much, so the error, for a
// descriptor no longer in the set, is no matter.
func (e *Epoll) Del(fd int) {
	syscall.EpollCtl(e.fd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// Poll is epoll_wait(2) with a zero timeout: the events ready now, without waiting,
// and without telling the scheduler. (It is epoll_pwait with no signal mask, which
// every Linux architecture has.)
func (e *Epoll) Poll(events []syscall.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, syscall.EINVAL
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(e.fd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// Wait is epoll_wait(2), which may block for up to msec milliseconds (-1: until an
// event), through the scheduler: the loop's P may serve others meanwhile.
func (e *Epoll) Wait(events []syscall.EpollEvent, msec int) (int, error) {
	return syscall.EpollWait(e.fd, events, msec)
}

// Dup returns a non-blocking duplicate of the set's descriptor, for a loop that
// waits in the runtime's network poller: an epoll set is readable while one of its
// descriptors is ready. Closing one of the two leaves the other's set whole.
func (e *Epoll) Dup() (int, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(e.fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		syscall.Close(int(fd))
		return -1, os.NewSyscallError("fcntl", err)
	}
	return int(fd), nil
}

// Close closes the set and the pipe.
func (e *Epoll) Close() {
	syscall.Close(e.wake[0])
	syscall.Close(e.wake[1])
	syscall.Close(e.fd)
}

// Wake interrupts the loop's wait, or makes its next one return at once. Any goroutine
// may call it; a full pipe already wakes the loop, so a failed write is no matter. The
// pipe does not block, so the write is raw: a Wake from a busy goroutine does not hand
// its P away.
func (e *Epoll) Wake() {
	Write(e.wake[1], []byte{0})
}

// IsWake reports whether an event on fd is a wake-up rather than a socket's.
func (e *Epoll) IsWake(fd int) bool { return fd == e.wake[0] }

// DrainWake empties the pipe, so that the next wait sleeps until the next Wake.
func (e *Epoll) DrainWake() {
	var b [64]byte
	for {
		if n, _ := Read(e.wake[0], b[:]); n < len(b) {
			return
		}
	}
}
