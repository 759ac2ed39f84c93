package proxy

import (
	"context"
	"fmt"
	"net"
)

// startPlain opens the plain listener of PlainAddr beside the TLS listener tln, once, and
// serves it until ctx ends or Shutdown. Redirects to HTTPS name tln's port unless the
// configuration names one.
func (s *Server) startPlain(ctx context.Context, tln net.Listener) error {
	var err error
	s.plainOnce.Do(func() {
		if s.cfg.HTTPSPort == 0 {
			if _, port, e := net.SplitHostPort(tln.Addr().String()); e == nil && port != "443" {
				s.httpsPort = ":" + port
			}
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.cfg.PlainAddr); err != nil {
			err = fmt.Errorf("plain_addr: %w", err)
			return
		}
		s.log.Info("proxy: plain listener", "addr", ln.Addr().String(), "https_redirect", s.cfg.HTTPSRedirect)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.serve(ctx, ln, false); err != nil {
				s.log.Error("proxy: plain listener", "err", err)
			}
		}()
	})
	return err
}
