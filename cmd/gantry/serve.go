package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"gantry/internal/admin"
)

// server is the shape of every gantry server: its New validates the configuration,
// Serve answers on a listener, Shutdown drains.
type server interface {
	Serve(ctx context.Context, ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// serveOptions says where a server listens and how it is stopped.
type serveOptions struct {
	name      string // component name for log lines: "proxy", "cache"
	addr      string // main listener
	adminAddr string // admin listener; "" for none
	admin     admin.Config
	drain     time.Duration // how long Shutdown may take before Serve is cut off
	log       *slog.Logger
}

// serve runs srv and its admin listener until ctx ends (SIGINT or SIGTERM), then drains
// both. A server that fails on its own stops the command with its error.
func serve(ctx context.Context, srv server, o serveOptions) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var adm *admin.Server
	var admLn net.Listener
	if o.adminAddr != "" {
		admLn, err = net.Listen("tcp", o.adminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		adm = admin.New(o.admin)
	}

	serveCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(serveCtx, ln) }()
	if adm != nil {
		go func() { errc <- adm.Serve(admLn) }()
		o.log.Info(o.name+" admin listening", "addr", admLn.Addr().String())
	}
	o.log.Info(o.name+" listening", "addr", ln.Addr().String())

	running := 1
	if adm != nil {
		running = 2
	}
	var first error
	select {
	case <-ctx.Done():
		o.log.Info(o.name+" shutting down", "drain", o.drain.String())
	case first = <-errc:
		running--
		if first != nil {
			o.log.Error(o.name+" failed", "err", first)
		} else {
			o.log.Info(o.name + " stopped")
		}
	}

	drainCtx, stop := context.WithTimeout(context.Background(), o.drain)
	defer stop()
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		o.log.Warn(o.name+" shutdown", "err", err)
	}
	if adm != nil {
		adm.Shutdown(drainCtx)
	}
	cancel()
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	return first
}
