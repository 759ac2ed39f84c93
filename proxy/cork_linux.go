package proxy

import (
	"net"
	"syscall"
)

// cork holds back partial segments on a plain TCP connection (TCP_CORK) while on, so that
// a response head and the start of a file sent after it with sendfile share the first
// segment, as nginx's tcp_nopush does; turning it off sends what is held at once. It
// reports whether the option was set: TLS and other connections are left as they are.
func cork(nc net.Conn, on bool) bool {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	}); err != nil {
		return false
	}
	return serr == nil
}
