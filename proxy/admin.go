package proxy

import (
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// AdminHandlers returns the proxy's endpoints for the admin listener:
//
//	GET  /config                               the running configuration, as YAML
//	GET  /pools                                every host with its state
//	POST /pools/{pool}/hosts/{host}/drain      stop sending new requests to a host
//	POST /pools/{pool}/hosts/{host}/enable     send requests to it again
//
// A drained host finishes the requests it has in flight; its idle connections close.
func (s *Server) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /config": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			b, err := yaml.Marshal(s.table.Load().cfg)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Write(b)
		}),
		"GET /pools": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := nowNano()
			for _, p := range s.table.Load().pools {
				for _, u := range p.all {
					state := "up"
					switch {
					case u.drained.Load():
						state = "drained"
					case u.unhealthy.Load():
						state = "unhealthy"
					case !u.up(now):
						state = "ejected"
					}
					fmt.Fprintf(w, "%s %s %s in_flight=%d backup=%v\n", p.name, u.addr, state, u.inflight.Load(), u.backup)
				}
			}
		}),
		"POST /pools/{pool}/hosts/{host}/drain":  s.drainHandler(true),
		"POST /pools/{pool}/hosts/{host}/enable": s.drainHandler(false),
	}
}

func (s *Server) drainHandler(drain bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Drain(r.PathValue("pool"), r.PathValue("host"), drain); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// Drain stops (drain true) or resumes sending new requests to the host addr (host:port)
// of a pool.
func (s *Server) Drain(pool, addr string, drain bool) error {
	for _, p := range s.table.Load().pools {
		if p.name != pool {
			continue
		}
		for _, u := range p.all {
			if u.addr == addr {
				u.drained.Store(drain)
				if drain {
					u.closeIdle(0)
				}
				return nil
			}
		}
		return fmt.Errorf("pool %q has no host %q", pool, addr)
	}
	return fmt.Errorf("no pool %q", pool)
}
