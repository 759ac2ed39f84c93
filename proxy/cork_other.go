//go:build !linux

package proxy

import "net"

// cork is TCP_CORK on Linux; elsewhere the head and the file go out as they are written.
func cork(net.Conn, bool) bool { return false }
