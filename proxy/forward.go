package proxy

import (
	"bytes"
	"net"
	"strings"
	"sync"
)

// Forward proxy mode (RFC 9112 section 3.2.2): a client configured to use the proxy sends
// plain-HTTP requests in absolute form, "GET http://host:port/path HTTP/1.1", and the proxy
// sends each to the host it names. Only destinations on the allow list are reached; any
// other is refused with 403, because an open proxy lets anyone reach any host and port
// from this one (the internal network included). HTTPS goes through CONNECT tunnels,
// which share the allow list.
//
// Each allowed destination gets a pool of one host, made on first use, so forwarded
// requests get the same keep-alive connections, timeouts, hop-by-hop stripping, Via and
// loop detection as proxied ones.

// maxForwardDests bounds the destinations whose pools are kept; past it, the destinations
// with nothing in flight are forgotten (their idle connections closed).
const maxForwardDests = 512

// forwarder holds the pools of forward-proxy destinations.
type forwarder struct {
	srv *Server

	mu    sync.Mutex
	dests map[string]*route // host:port → a route whose pool has that one host; guarded by mu
}

// forwarding reports whether forward proxy mode is on: some destination is allowed.
func (s *Server) forwarding() bool {
	return len(s.cfg.ForwardAllow) > 0 || len(s.cfg.ConnectAllow) > 0
}

// forwardRoute returns the route to the destination of an absolute-form request, whose
// authority is host ("example.com" or "example.com:8080"), or a status error.
func (s *Server) forwardRoute(host []byte) (*route, error) {
	name, port := host, []byte("80")
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && !bytes.HasSuffix(host, []byte("]")) {
		name, port = host[:i], host[i+1:]
	}
	if len(name) == 0 || !isPort(string(port)) {
		return nil, errBadTarget
	}
	if !s.connectAllowed(name, port) {
		return nil, errForbidden
	}
	addr := net.JoinHostPort(strings.Trim(strings.ToLower(string(name)), "[]"), string(port))
	return s.fwd.route(addr)
}

func (f *forwarder) route(addr string) (*route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.dests[addr]; r != nil {
		return r, nil
	}
	if f.dests == nil {
		f.dests = make(map[string]*route)
	}
	if len(f.dests) >= maxForwardDests {
		f.forgetIdle()
		if len(f.dests) >= maxForwardDests {
			return nil, errOverloaded
		}
	}
	pc := PoolConfig{Name: "forward", Hosts: []HostConfig{{Addr: addr}}}
	if err := pc.validate(); err != nil {
		return nil, errBadTarget
	}
	p := &pool{name: pc.Name, cfg: pc, srv: f.srv, policy: newPolicy(pc.Policy), backupPick: newPolicy(pc.Policy)}
	u := &upstream{addr: addr, weight: 1, pool: p}
	p.all, p.primary = []*upstream{u}, hostSet{u}
	p.retryTokens.Store(retryBurst)
	r := &route{name: "forward", pool: p}
	f.dests[addr] = r
	return r, nil
}

// forgetIdle drops the destinations with no request in flight. A request that still
// holds one finishes on it; its connection is then closed rather than kept.
func (f *forwarder) forgetIdle() {
	for addr, r := range f.dests {
		u := r.pool.primary[0]
		if u.inflight.Load() == 0 {
			r.pool.retired.Store(true)
			u.closeIdle(0)
			delete(f.dests, addr)
		}
	}
}

// closeIdle closes the destinations' idle connections past their idle timeout, or all of
// them.
func (f *forwarder) closeIdle(all bool) {
	f.mu.Lock()
	rs := make([]*route, 0, len(f.dests))
	for _, r := range f.dests {
		rs = append(rs, r)
	}
	f.mu.Unlock()
	for _, r := range rs {
		if all {
			r.pool.primary[0].closeIdle(0)
		} else {
			r.pool.primary[0].closeIdle(r.pool.cfg.IdleTimeout)
		}
	}
}
