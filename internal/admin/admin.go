// Package admin is the admin listener every gantry server runs beside its main one:
// /metrics for Prometheus, /healthz and /readyz for orchestrators, /debug/pprof for
// profiling, and whatever extra endpoints the component adds.
//
// /debug/pprof/block and /debug/pprof/mutex turn the runtime's contention sampling on
// for the seconds the request asks for (10 by default) and answer with what happened in
// that window, so that a running server can be asked where it waits without paying for
// the sampling the rest of the time.
//
// It listens on loopback unless configured otherwise, because pprof and drain endpoints
// are not for the public.
package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says what the admin listener serves. The zero value serves health and pprof
// and an empty /metrics.
type Config struct {
	// Registry holds the component's metrics. Nil means a new registry with only the
	// Go runtime and process collectors. Never the global registry: tests run several
	// servers in one process.
	Registry *prometheus.Registry

	// Ready reports whether the component can take traffic; /readyz answers 503
	// while it returns false. Nil means always ready.
	Ready func() bool

	// Handlers adds endpoints, keyed by pattern as http.ServeMux takes them
	// (for example "POST /hosts/{host}/drain").
	Handlers map[string]http.Handler
}

// Server is a running admin listener.
type Server struct {
	http *http.Server
}

// New builds the admin server. It does not listen yet: call Serve.
func New(cfg Config) *Server {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.Register(collectors.NewGoCollector())
	reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil && !cfg.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	c := &contention{}
	mux.HandleFunc("GET /debug/pprof/block", c.handler("block", enableBlock))
	mux.HandleFunc("GET /debug/pprof/mutex", c.handler("mutex", enableMutex))
	for pattern, h := range cfg.Handlers {
		mux.Handle(pattern, h)
	}
	return &Server{http: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
	}}
}

// Serve answers on ln until Shutdown is called. It returns nil after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the listener and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}
