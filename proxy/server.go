package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// headerMatch is a route's condition on one header field.
type headerMatch struct {
	name  string // lower case
	value []byte
}

// Server is a running reverse proxy.
type Server struct {
	cfg     Config
	log     *slog.Logger
	via     []byte                // "1.1 " + pseudonym
	table   atomic.Pointer[table] // pools and routes; swapped whole by Reload
	tableMu sync.Mutex            // serialises Reload and the start of health checks
	started bool                  // Serve has run; guarded by tableMu

	h2reqs  sync.Pool // *h2Request
	h2bufs  sync.Pool // *[]byte of 16 KiB, for bodies from h2 upstreams
	readers sync.Pool // *bufio.Reader of MaxHeaderBytes, for client connections
	writers sync.Pool // *bufio.Writer, for client connections

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // guarded by mu
	conns     map[*conn]struct{}        // guarded by mu
	wg        sync.WaitGroup            // client connections and background loops
	closing   atomic.Bool

	stats stats
	fwd   forwarder // forward proxy mode's destinations

	plainOnce sync.Once
	httpsPort string // ":port" written in redirects to HTTPS; "" for 443
	toHTTPS   route  // the redirect answered on plain listeners with HTTPSRedirect

	tls     *tls.Config   // nil: plain listeners
	h2      *h2Hub        // the HTTP/2 connections handed over by the fast path
	h2ln    *connListener // how they are handed over
	h2start sync.Once     // starts the HTTP/2 server on the first Serve

	loops     []*loop       // the HTTP/1.1 event loops (loop_linux.go); set by the first Serve; guarded by mu
	nextLoop  atomic.Uint32 // round robin over loops
	loopConns atomic.Int64  // client connections owned by loops
	loopKill  atomic.Bool   // Shutdown ran out of time: loops close every connection
	// Requests answered whole by a loop, and connections it handed to goroutines.
	loopAnswers, loopHandOffs atomic.Uint64
}

// table is what a configuration reload replaces: the pools and the routes. Requests in
// flight keep the table they started with.
type table struct {
	cfg        Config // the configuration the table was built from
	pools      []*pool
	routes     []*route
	stopChecks chan struct{} // closed when the table is retired, to stop its health checks
	retireOnce sync.Once
}

// retire stops the table's health checks and closes its idle connections; connections in
// use close when their request ends, since put refuses them.
func (t *table) retire() {
	t.retireOnce.Do(func() {
		close(t.stopChecks)
		for _, p := range t.pools {
			p.retired.Store(true)
			for _, u := range p.all {
				u.closeIdle(0)
			}
		}
		for _, r := range t.routes {
			if r.static != nil {
				r.static.close()
			}
		}
	})
}

// route is a compiled Route.
type route struct {
	name    string
	host    string // lower case; "*.x" for a wildcard
	path    string
	prefix  bool
	methods [][]byte
	headers []headerMatch
	pool    *pool
	answers statusCounts // answers sent, by status class

	readTimeout            time.Duration // 0: the pool's; -1: none
	redirect               string        // "" (proxy), "https", or a URL prefix
	redirectCode           int
	stripPrefix, addPrefix string
	reqRules, respRules    headerRules
	static                 *staticDir    // serves files instead of proxying
	timeout                time.Duration // total, up to the response head; 0: none
	latency                latencyHist
}

// headerRules are a route's header edits: fields removed, and fields set (replacing any
// of the same name).
type headerRules struct {
	remove [][]byte
	set    []field
}

func newHeaderRules(h HeaderRules) headerRules {
	var r headerRules
	for _, name := range h.Remove {
		r.remove = append(r.remove, []byte(name))
	}
	for _, name := range slices.Sorted(maps.Keys(h.Set)) {
		r.set = append(r.set, field{[]byte(name), []byte(h.Set[name])})
		r.remove = append(r.remove, []byte(name))
	}
	return r
}

// drops reports whether a field of the message must not be passed on.
func (r *headerRules) drops(name []byte) bool {
	for _, n := range r.remove {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func (r *headerRules) writeSet(w *bufio.Writer) {
	for _, f := range r.set {
		w.Write(f.name)
		w.WriteString(": ")
		w.Write(f.value)
		w.WriteString("\r\n")
	}
}

// rewriteTarget writes target with the route's prefix stripped and added.
func (r *route) rewriteTarget(w *bufio.Writer, target []byte) {
	if p := r.stripPrefix; p != "" && bytes.HasPrefix(target, []byte(p)) {
		// Only whole segments: /api strips /api/x and /api?q, not /apix.
		if rest := target[len(p):]; len(rest) == 0 || rest[0] == '/' || rest[0] == '?' || p[len(p)-1] == '/' {
			target = rest
		}
	}
	w.WriteString(r.addPrefix)
	if len(target) == 0 || target[0] != '/' {
		if r.addPrefix == "" || r.addPrefix[len(r.addPrefix)-1] != '/' {
			w.WriteByte('/')
		}
	} else if r.addPrefix != "" && r.addPrefix[len(r.addPrefix)-1] == '/' {
		target = target[1:]
	}
	w.Write(target)
}

// New validates cfg and builds a proxy. It does not listen yet: call Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Log,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	via := cfg.Via
	if via == "" {
		var b [4]byte
		rand.Read(b[:])
		via = "gantry-" + hex.EncodeToString(b[:])
	}
	s.via = []byte("1.1 " + via)
	s.fwd.srv = s
	s.toHTTPS = route{name: "https-redirect", redirect: "https", redirectCode: 308}
	if cfg.HTTPSPort != 0 && cfg.HTTPSPort != 443 {
		s.httpsPort = ":" + strconv.Itoa(cfg.HTTPSPort)
	}
	s.h2ln = newConnListener()
	s.h2 = s.newH2Server()
	if len(cfg.TLS) > 0 {
		tc, err := loadTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		s.tls = tc
	}
	s.readers.New = func() any { return bufio.NewReaderSize(nil, cfg.MaxHeaderBytes) }
	s.writers.New = func() any { return bufio.NewWriterSize(nil, 8<<10) }
	s.h2reqs.New = func() any { return &h2Request{fw: bufio.NewWriterSize(nil, 8<<10)} }
	s.h2bufs.New = func() any { b := make([]byte, 16<<10); return &b }

	t, err := s.buildTable(cfg)
	if err != nil {
		return nil, err
	}
	s.table.Store(t)
	return s, nil
}

// buildTable builds the pools and routes of a validated configuration.
func (s *Server) buildTable(cfg Config) (*table, error) {
	t := &table{cfg: cfg, stopChecks: make(chan struct{})}
	byName := make(map[string]*pool)
	for _, pc := range cfg.Pools {
		p := &pool{name: pc.Name, cfg: pc, srv: s, policy: newPolicy(pc.Policy), backupPick: newPolicy(pc.Policy)}
		for _, hc := range pc.Hosts {
			u := &upstream{addr: hc.Addr, weight: hc.Weight, backup: hc.Backup, pool: p}
			p.all = append(p.all, u)
			if hc.Backup {
				p.backup = append(p.backup, u)
			} else {
				p.primary = append(p.primary, u)
			}
		}
		if pc.Policy == "ring_hash" || pc.Policy == "maglev" {
			if err := p.buildHash(); err != nil {
				return nil, fmt.Errorf("pools %q: %w", pc.Name, err)
			}
		}
		if pc.StickyCookie != "" {
			p.buildSticky()
		}
		if err := p.setupTransport(); err != nil {
			return nil, fmt.Errorf("pools %q: %w", pc.Name, err)
		}
		p.loopable = pc.Protocol != protoH2
		for _, u := range p.all {
			p.loopable = p.loopable && u.tls == nil
		}
		p.retryTokens.Store(retryBurst)
		t.pools = append(t.pools, p)
		byName[p.name] = p
	}
	rs := cfg.Routes
	if len(rs) == 0 && len(cfg.Pools) > 0 {
		rs = []Route{{Pool: cfg.Pools[0].Name}}
	}
	for i, r := range rs {
		cr := &route{
			name:   routeName(i, r),
			host:   r.Host,
			path:   r.Path,
			pool:   byName[r.Pool],
			prefix: r.PathPrefix != "",
		}
		if cr.prefix {
			cr.path = r.PathPrefix
		}
		for _, m := range r.Methods {
			cr.methods = append(cr.methods, []byte(m))
		}
		for k, v := range r.Headers {
			cr.headers = append(cr.headers, headerMatch{strings.ToLower(k), []byte(v)})
		}
		cr.redirect, cr.redirectCode = r.Redirect, r.RedirectCode
		cr.stripPrefix, cr.addPrefix = r.StripPrefix, r.AddPrefix
		cr.readTimeout = r.ReadTimeout
		cr.timeout = r.Timeout
		cr.reqRules = newHeaderRules(r.RequestHeaders)
		cr.respRules = newHeaderRules(r.ResponseHeaders)
		if r.Static != nil {
			sd, err := newStaticDir(*r.Static, r.StripPrefix)
			if err != nil {
				t.retire()
				return nil, fmt.Errorf("routes[%d].static.dir: %w", i, err)
			}
			cr.static = sd
		}
		t.routes = append(t.routes, cr)
	}
	return t, nil
}

// Reload replaces the pools and routes with those of cfg. Requests in flight finish on
// the old ones; connections are not dropped. A configuration that does not validate, or
// that changes anything besides pools and routes (listener settings need a restart), is
// refused and the old one keeps serving.
func (s *Server) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, b := s.cfg, cfg
	a.Pools, a.Routes, a.Log, b.Pools, b.Routes, b.Log = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(a, b) {
		return errors.New("reload: only pools and routes can change; other settings need a restart")
	}
	t, err := s.buildTable(cfg)
	if err != nil {
		return err
	}
	s.tableMu.Lock()
	defer s.tableMu.Unlock()
	old := s.table.Swap(t)
	if s.started {
		s.startChecks(t)
	}
	old.retire()
	s.log.Info("proxy: configuration reloaded", "pools", len(t.pools), "routes", len(t.routes))
	return nil
}

// startChecks starts the health checkers of a table's pools.
func (s *Server) startChecks(t *table) {
	for _, p := range t.pools {
		if p.cfg.HealthCheck != nil {
			s.wg.Add(1)
			go p.checkHealth(t.stopChecks)
		}
	}
}

func routeName(i int, r Route) string {
	var b strings.Builder
	b.WriteString(r.Host)
	b.WriteString(r.Path)
	b.WriteString(r.PathPrefix)
	if r.PathPrefix != "" {
		b.WriteString("*")
	}
	if b.Len() == 0 {
		return "default"
	}
	return b.String()
}

// Serve accepts connections on ln and proxies their requests until ctx ends or Shutdown
// is called. It returns nil after a Shutdown. When ctx ends first, connections are closed
// at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.tls != nil)
}

// serve is Serve, with TLS terminated on ln or not.
func (s *Server) serve(ctx context.Context, ln net.Listener, useTLS bool) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.closeConns(false)
	})
	defer stop()

	done := make(chan struct{})
	defer close(done)
	s.wg.Add(1)
	go s.sweepIdle(done)
	s.h2start.Do(func() {
		s.startLoops()
		s.wg.Add(1)
		go s.serveH2()
		s.tableMu.Lock()
		s.started = true
		s.startChecks(s.table.Load())
		s.tableMu.Unlock()
	})
	if useTLS && s.cfg.PlainAddr != "" {
		if err := s.startPlain(ctx, ln); err != nil {
			return err
		}
	}

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.startConn(c, useTLS)
	}
}

// sweepIdle closes upstream connections that stayed idle past their pool's idle timeout.
func (s *Server) sweepIdle(done <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, p := range s.table.Load().pools {
				for _, u := range p.all {
					u.closeIdle(p.cfg.IdleTimeout)
				}
			}
			s.fwd.closeIdle(false)
		}
	}
}

func (s *Server) startConn(nc net.Conn, useTLS bool) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if !useTLS && s.serveLoop(nc) {
		return
	}
	c := &conn{srv: s}
	if useTLS {
		nc = tls.Server(nc, s.tls)
		c.https = true
	}
	c.nc, c.cc = nc, &timeoutConn{Conn: nc}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.clientConns.Add(1)
	go c.serve()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.clientConns.Add(-1)
	s.wg.Done()
}

// closeConns wakes the connections waiting for a request (they exit), or closes every
// connection when all is set.
func (s *Server) closeConns(all bool) {
	if all {
		s.loopKill.Store(true)
	}
	s.wakeLoops()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if all {
			c.nc.Close()
		} else if c.state.Load() == stateIdle {
			// Not through c.cc: its deadline field belongs to the connection's goroutine.
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// Shutdown stops accepting, lets each connection finish the request it is serving (then
// closes it), and waits for them until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.tableMu.Lock()
	s.table.Load().retire() // stops the health checks; idle connections close again below
	s.tableMu.Unlock()
	h2err := make(chan error, 1)
	go func() { h2err <- s.shutdownH2(ctx) }()
	defer func() { <-h2err }()
	defer s.h2ln.Close()

	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var err error
	for {
		s.closeConns(false)
		s.mu.Lock()
		n := len(s.conns) + int(s.loopConns.Load())
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
			err = ctx.Err()
			s.closeConns(true)
		}
		break
	}
	s.wg.Wait()
	for _, p := range s.table.Load().pools {
		for _, u := range p.all {
			u.closeIdle(0)
		}
	}
	s.fwd.closeIdle(true)
	return err
}

// redirectsToHTTPS reports whether a request for path that arrived with or without TLS
// is answered with the redirect to HTTPS (https_redirect; ACME challenges are still
// routed). Every listener path must ask it before routing, so that no protocol skips it.
func (s *Server) redirectsToHTTPS(https bool, path []byte) bool {
	return s.cfg.HTTPSRedirect && !https && !bytes.HasPrefix(path, []byte("/.well-known/acme-challenge/"))
}

// match returns the first route of the current table that takes a request, or nil.
func (s *Server) match(host, path []byte, h *head) *route {
	routes := s.table.Load().routes
	for i := range routes {
		r := routes[i]
		if r.matches(host, path, h) {
			return r
		}
	}
	return nil
}

func (r *route) matches(host, path []byte, h *head) bool {
	if r.host != "" {
		if suffix, ok := strings.CutPrefix(r.host, "*"); ok {
			// "*.example.com": a non-empty label then ".example.com".
			if len(host) <= len(suffix) || !equalFold(host[len(host)-len(suffix):], suffix) {
				return false
			}
		} else if !equalFold(host, r.host) {
			return false
		}
	}
	if r.path != "" {
		if r.prefix {
			if len(path) < len(r.path) || string(path[:len(r.path)]) != r.path {
				return false
			}
		} else if string(path) != r.path {
			return false
		}
	}
	if len(r.methods) > 0 {
		ok := false
		for _, m := range r.methods {
			if string(m) == string(h.method) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, f := range r.headers {
		v := h.get(f.name)
		if v == nil || string(v) != string(f.value) {
			return false
		}
	}
	return true
}

// upstreamTimeout is the read timeout for a request of the route on a connection of pool p.
func (r *route) upstreamTimeout(p *pool) time.Duration {
	switch {
	case r.readTimeout < 0:
		return 0
	case r.readTimeout > 0:
		return r.readTimeout
	}
	return p.cfg.ReadTimeout
}
