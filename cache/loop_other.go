//go:build !linux

package cache

import "net"

// Without Linux's epoll every connection is served by a goroutine of its own
// (see loop_linux.go for the event loop).

type loop struct{}

func (s *Server) startLoops(int, bool) bool { return false }
func (s *Server) serveLoop(*client)         {}
func (s *Server) wakeLoops()                {}
func (l *loop) wait(*client)                {}
func (s *Server) backToLoop(*client) bool   { return false }

func adoptConn(conn net.Conn) (net.Conn, bool) { return conn, false }
