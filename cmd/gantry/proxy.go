package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gantry/internal/admin"
	"gantry/proxy"
)

func runProxy(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "proxy", "proxy [--config FILE] [--addr ADDR] [--to URL]... [--admin ADDR]",
		"Proxy runs the HTTP/1.1 reverse proxy and load balancer. With --config it reads a YAML\n"+
			"configuration (see docs/proxy.md and examples/proxy/); without, --to names the upstream\n"+
			"hosts (http:// or https://) of one pool that takes every request.")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	adminAddr := fs.String("admin", "127.0.0.1:9080", `admin listener address (metrics, health, pprof); "" for none`)
	config := fs.String("config", "", "YAML configuration file")
	policy := fs.String("policy", "", "balancing policy for --to hosts: round_robin, weighted_round_robin, least_conn, two_choices")
	drain := fs.Duration("drain", 10*time.Second, "how long shutdown waits for requests in flight")
	watch := fs.Duration("watch", 2*time.Second, "how often to check --config for changes and reload (0: only on SIGHUP)")
	var to stringList
	fs.Var(&to, "to", "upstream host: http://host:port or host:port (plain HTTP), or https://host:port\n"+
		"(TLS, verified against the system's roots; a config file sets ca_file and client certificates);\n"+
		"repeat for several, all plain or all https")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	var cfg proxy.Config
	switch {
	case *config != "" && len(to) > 0:
		return fs.fail(fmt.Errorf("--config and --to exclude each other; put the hosts in the file"))
	case *config != "":
		var err error
		if cfg, err = proxy.LoadConfig(*config); err != nil {
			return err
		}
	case len(to) > 0:
		p := proxy.PoolConfig{Name: "default", Policy: *policy}
		for _, t := range to {
			p.Hosts = append(p.Hosts, proxy.HostConfig{Addr: t})
		}
		cfg.Pools = []proxy.PoolConfig{p}
	default:
		return fs.fail(fmt.Errorf("give --config FILE or at least one --to URL"))
	}
	log := fs.logger(s.err)
	cfg.Log = log
	srv, err := proxy.New(cfg)
	if err != nil {
		if len(to) > 0 {
			return fs.fail(err)
		}
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.Collector())
	if *config != "" {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			watchConfig(wctx, *config, *watch, srv, log)
		}()
		defer func() { stop(); <-done }()
	}
	return serve(ctx, srv, serveOptions{
		name:      "proxy",
		addr:      *addr,
		adminAddr: *adminAddr,
		admin:     admin.Config{Registry: reg, Handlers: srv.AdminHandlers()},
		drain:     *drain,
		log:       log,
	})
}

// watchConfig reloads the proxy's configuration on SIGHUP and when the file changes. A
// configuration that fails to load or validate is logged and refused; the running one
// keeps serving.
func watchConfig(ctx context.Context, path string, every time.Duration, srv *proxy.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	stamp := func() string {
		fi, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	}
	last := stamp()
	reload := func(why string) {
		cfg, err := proxy.LoadConfig(path)
		if err == nil {
			cfg.Log = log
			err = srv.Reload(cfg)
		}
		if err != nil {
			log.Error("proxy: new configuration refused; the old one keeps serving", "why", why, "err", err)
			return
		}
		log.Info("proxy: configuration reloaded", "why", why, "file", path)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			last = stamp()
			reload("SIGHUP")
		case <-tick:
			if now := stamp(); now != last {
				last = now
				reload("file changed")
			}
		}
	}
}
