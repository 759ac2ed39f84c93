//go:build !linux

package proxy

import "net"

// Without Linux's epoll every connection is served by a goroutine of its own (see
// loop_linux.go for the event loop); Config.EventLoops is ignored.

type loop struct{}

func (s *Server) startLoops()             {}
func (s *Server) serveLoop(net.Conn) bool { return false }
func (s *Server) wakeLoops()              {}
