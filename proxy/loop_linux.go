package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"gantry/internal/rawsys"
)

// The HTTP/1.1 event loop (Linux, Config.EventLoops). Under wrk a goroutine per
// connection pays, per request, a read of the client that returns EAGAIN and a park, a
// wake-up when the next request comes, and the same on the upstream side while the
// answer is on its way: 2.44 reads per request against nginx's 2, and a goroutine switch
// for every wait. A loop owns the sockets of its client connections and of the upstream
// connections they use, in one epoll instance in edge-triggered mode: it reads a socket
// only when epoll said it has bytes, and takes a read shorter than the buffer as proof
// that the socket is empty, so no read returns EAGAIN and nothing parks.
//
// The loop serves only the plain shape of a request, the one that dominates real and
// benchmark traffic: a plain-TCP client, an idempotent request without a body, routed to
// a plain HTTP/1.1 pool, answered with a body of known length (or none) of at most
// loopBodyMax. Everything else is handed over, once, to the goroutine path of conn.go
// with the bytes already read (conn.run): a request the loop does not serve before it
// starts (the goroutine path then reads it as if it had just arrived, and refuses,
// redirects, tunnels or streams it), a retry after the first try failed (with the tries'
// state, so the retry rules count it once), a response to stream, a reply the client's
// socket does not take at once, a slow head. The code that writes heads, picks hosts,
// counts answers and ejects hosts is the goroutine path's own.

const (
	// loopTick is how often a loop checks its deadlines: the idle, head and upstream
	// read timeouts fire up to this late.
	loopTick = 50 * time.Millisecond
	// loopBodyMax is the largest response body a loop buffers whole; a larger one
	// streams from a goroutine.
	loopBodyMax = 64 << 10
)

// States of a loop's client connection.
const (
	lcClient   = iota // waiting for (or reading) a request head
	lcDial            // a request waits for a connection to its host
	lcUpstream        // a request is at its host; the answer is awaited
	lcClosed
)

// loop is one event loop: an epoll instance and the connections it owns.
type loop struct {
	s      *Server
	ep     *rawsys.Epoll
	events []syscall.EpollEvent

	mu       sync.Mutex // guards incoming, dialed and exited
	incoming []*lconn
	dialed   []dialResult
	exited   bool

	// Only the loop's goroutine touches the fields below.
	byFD      []any // *lconn or *lup, by file descriptor
	conns     map[*lconn]struct{}
	idle      map[*upstream][]*lup // keep-alive connections, most recently used last
	dialing   int                  // dials in flight
	lastTick  time.Time
	lastYield time.Time // see yield
	tid       int       // the thread the loop is locked to
	moved     int       // times yield found the loop on another thread: 0, being locked
}

// lconn is a client connection owned by a loop.
type lconn struct {
	c        conn // the request's state, for the goroutine path's head writers
	fd       int
	sw       sockWriter // c.bw's destination
	in       []byte     // in[r:w] is read and not yet consumed
	r, w     int
	readable bool // epoll said the socket has bytes, and no short read has followed
	hup      bool // epoll said the peer hung up (or the socket failed)
	state    int
	deadline time.Time // idle or head deadline while in lcClient; zero: none
	headBy   bool      // the deadline is the head deadline (part of a head is in)

	// The request in progress.
	n, skip        int // its head is in[r : r+n], after skip bytes of empty lines
	host, target   []byte
	start          time.Time
	method, tgt    string // for the access log
	clientMinor    int
	clientClose    bool
	isHead         bool
	cookieID       string
	att            attempts
	u              *upstream
	up             *lup
	redialed       bool
	respN, bodyEnd int // response head length and where its body ends in up.in
}

// lup is an upstream connection owned by a loop.
type lup struct {
	fd       int
	u        *upstream
	sw       sockWriter
	bw       *bufio.Writer
	in       []byte // in[:n] is read from the host
	n        int
	readable bool
	hup      bool
	owner    *lconn // nil while idle
	reused   bool
	idle     bool      // counted in u.loopIdle
	since    time.Time // idle since
	timeout  time.Duration
	deadline time.Time // per-read silence deadline while a request waits; zero: none
}

// dialResult is a connection dialed for a loop's client by a goroutine.
type dialResult struct {
	lc  *lconn
	u   *upstream
	fd  int
	err error
}

// startLoops starts the event loops the configuration asks for, on the first Serve.
func (s *Server) startLoops() {
	n := s.cfg.EventLoops
	if n == 0 {
		// One loop per core. Unlike a cache command, proxying a request is mostly the
		// kernel's work on four sockets, and one loop on two cores left a core idle:
		// two loops served 1.09-1.27x one loop's requests in every round of
		// docs/benchmarks.md's "loops per core" run.
		n = runtime.GOMAXPROCS(0)
	}
	var loops []*loop
	for range n {
		l, err := newLoop(s)
		if err != nil {
			s.log.Warn("proxy: event loop unavailable, serving connections with goroutines", "err", err)
			for _, l := range loops {
				l.ep.Close()
			}
			return
		}
		loops = append(loops, l)
	}
	for _, l := range loops {
		s.wg.Add(1)
		go l.run()
	}
	s.mu.Lock()
	s.loops = loops
	s.mu.Unlock()
}

func newLoop(s *Server) (*loop, error) {
	ep, err := rawsys.NewEpoll()
	if err != nil {
		return nil, err
	}
	return &loop{s: s, ep: ep, events: make([]syscall.EpollEvent, 128),
		conns: make(map[*lconn]struct{}), idle: make(map[*upstream][]*lup), lastTick: time.Now()}, nil
}

// wakeLoops interrupts every loop's wait, so that it sees Shutdown.
func (s *Server) wakeLoops() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		l.ep.Wake()
	}
}

// serveLoop gives a plain client connection to a loop, and reports whether it did.
func (s *Server) serveLoop(nc net.Conn) bool {
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	if len(loops) == 0 {
		return false
	}
	fd, ok := takeFD(nc)
	if !ok {
		return false
	}
	lc := &lconn{fd: fd, in: make([]byte, s.cfg.MaxHeaderBytes)}
	lc.c.srv = s
	lc.c.remote = remoteIP(nc.RemoteAddr())
	lc.sw.fd = fd
	nc.Close()
	s.stats.clientConns.Add(1)
	s.loopConns.Add(1)
	l := loops[s.nextLoop.Add(1)%uint32(len(loops))]
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		syscall.Close(fd)
		s.stats.clientConns.Add(-1)
		s.loopConns.Add(-1)
		return true
	}
	l.incoming = append(l.incoming, lc)
	l.mu.Unlock()
	l.ep.Wake()
	return true
}

// takeFD duplicates nc's socket for a loop: the copy is unknown to Go's netpoller and
// shares the original's O_NONBLOCK. The caller closes nc.
func takeFD(nc net.Conn) (int, bool) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	var derr error
	syscall.ForkLock.RLock() // no child may inherit the copy between dup and CLOEXEC
	err = raw.Control(func(f uintptr) {
		if fd, derr = syscall.Dup(int(f)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	})
	syscall.ForkLock.RUnlock()
	return fd, err == nil && derr == nil
}

// fileConn turns a loop's socket into a netpoller-backed net.Conn, for a goroutine; fd
// is closed either way.
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	return net.FileConn(f)
}

// run is the loop: wait for ready sockets, serve each, check deadlines, until Shutdown
// has closed every connection.
//
// The loop keeps one thread, and its reads and writes never leave their P (rawsys):
// made through syscall.Read and Write, each let sysmon take the P of a loop in a system
// call and wake another thread, and the loop then found a P again on some other thread.
// Under wrk that was 0.51-0.68 sleeps of a proxy thread per request against 0.04-0.09
// for nginx's workers; locked and raw, 0.12-0.15, with 6-25% less of the proxy's CPU
// per request (docs/benchmarks.md, "Loops on their threads"). Parked in the network
// poller when idle, as the cache's loops wait, the two loops woke through the poller's
// one thread, which had to wake a second thread for the other loop: 0.91-0.96x the rate
// ("Three more ways to a narrower loop tail").
func (l *loop) run() {
	defer l.s.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.tid = rawsys.Gettid()
	for {
		n, err := l.wait()
		if err != nil && err != syscall.EINTR {
			l.s.log.Error("proxy: epoll_wait failed", "err", err)
			n = 0
			time.Sleep(10 * time.Millisecond)
		}
		for i := range n {
			fd := int(l.events[i].Fd)
			if l.ep.IsWake(fd) {
				l.drainWake()
				continue
			}
			if fd >= len(l.byFD) {
				continue
			}
			// A hang-up is a state, not news: a read shorter than the buffer does not
			// show it was taken, so the socket stays readable until a read sees it.
			hup := l.events[i].Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
			switch o := l.byFD[fd].(type) {
			case *lconn:
				o.readable, o.hup = true, o.hup || hup
				if o.state == lcClient {
					l.serveClient(o)
				}
			case *lup:
				o.readable, o.hup = true, o.hup || hup
				if o.owner != nil {
					l.readResponse(o.owner)
				} else {
					l.dropIdle(o) // a host that speaks or closes while idle is done with it
				}
			}
		}
		if l.s.closing.Load() {
			l.closeIdleClients()
		}
		now := time.Now()
		if now.Sub(l.lastTick) >= loopTick {
			l.lastTick = now
			l.tick(now)
		}
		l.yield(now)
		if l.done() {
			return
		}
	}
}

// wait returns the events ready now, or waits for the next: only when nothing is ready
// does the loop make a system call that may block, and tell the scheduler so.
func (l *loop) wait() (int, error) {
	if n, err := l.ep.Poll(l.events); n > 0 || err != nil {
		return n, err
	}
	return l.ep.Wait(l.events, l.waitMillis())
}

// yield passes through the scheduler every 5 ms. The loop's goroutine never parks and
// its system calls do not leave its P (rawsys), so to the runtime it is one goroutine
// that has run since it started; every 10 ms sysmon would preempt it with a signal. A
// Gosched before that moves its time slice on, and hands other goroutines (dials,
// connections handed over) a turn when both loops are busy. The loop being locked to
// its thread, each Gosched hands the P to another thread and waits to be handed it
// back: under wrk on two busy cores that keeps the loop away 0.4-0.5 ms on average
// (docs/benchmarks.md, "Loops on their threads"), which the variants tried there did
// not turn into a better rate or p99.
func (l *loop) yield(now time.Time) {
	if now.Sub(l.lastYield) >= 5*time.Millisecond {
		l.lastYield = now
		runtime.Gosched()
		if rawsys.Gettid() != l.tid {
			l.moved++
		}
	}
}

func (l *loop) waitMillis() int {
	if len(l.conns) > 0 || l.dialing > 0 || len(l.idle) > 0 {
		return int(loopTick / time.Millisecond)
	}
	return -1
}

// drainWake empties the wake pipe and takes the connections and dials given meanwhile.
func (l *loop) drainWake() {
	l.ep.DrainWake()
	l.mu.Lock()
	in, dialed := l.incoming, l.dialed
	l.incoming, l.dialed = nil, nil
	l.mu.Unlock()
	for _, lc := range in {
		l.add(lc)
	}
	for _, d := range dialed {
		l.dialDone(d)
	}
}

// register adds fd to the epoll set, edge-triggered.
func (l *loop) register(fd int, o any) error {
	if err := l.ep.Add(fd, syscall.EPOLLIN|syscall.EPOLLRDHUP|-syscall.EPOLLET); err != nil {
		return err
	}
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]any, len(l.byFD)+64)...)
	}
	l.byFD[fd] = o
	return nil
}

func (l *loop) unregister(fd int) {
	if fd < len(l.byFD) && l.byFD[fd] != nil {
		l.ep.Del(fd)
		l.byFD[fd] = nil
	}
}

func (l *loop) add(lc *lconn) {
	s := l.s
	lc.c.bw = s.writers.Get().(*bufio.Writer)
	lc.c.bw.Reset(&lc.sw)
	lc.c.req.reset()
	lc.c.resp.reset()
	l.conns[lc] = struct{}{}
	if err := l.register(lc.fd, lc); err != nil {
		s.log.Warn("proxy: event loop", "err", err)
		l.handOff(lc, resume{})
		return
	}
	lc.deadline = time.Now().Add(s.cfg.IdleTimeout)
	// The epoll set reports a socket that already has bytes when it is added.
}

// done reports whether the loop should end: Shutdown has begun and every connection and
// dial is gone. It marks the loop exited so that nothing is given to it afterwards.
func (l *loop) done() bool {
	if !l.s.closing.Load() || len(l.conns) > 0 || l.dialing > 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.incoming) > 0 || len(l.dialed) > 0 {
		return false
	}
	l.exited = true
	for _, list := range l.idle {
		for _, lu := range list {
			l.closeUp(lu)
		}
	}
	l.idle = nil
	l.ep.Close()
	return true
}

// serveClient reads the client when epoll said it has bytes and starts the request whose
// head is whole; it returns when the connection waits (for its client, a dial or a host)
// or has left the loop.
func (l *loop) serveClient(lc *lconn) {
	s := l.s
	for lc.state == lcClient {
		if s.closing.Load() {
			l.closeClient(lc)
			return
		}
		if lc.sw.pending != nil {
			// The client does not take its answers as fast as it asks: a goroutine
			// waits for it, so that unsent answers cannot pile up here.
			l.handOff(lc, resume{})
			return
		}
		n, skip, err := headEnd(lc.in[lc.r:lc.w])
		switch {
		case err != nil:
			l.handOff(lc, resume{}) // the goroutine path answers it
			return
		case n > 0:
			l.startRequest(lc, n, skip)
			continue
		case !lc.readable:
			l.waitClient(lc)
			return
		}
		if lc.r > 0 {
			lc.w = copy(lc.in, lc.in[lc.r:lc.w])
			lc.r = 0
		}
		if lc.w == len(lc.in) {
			l.handOff(lc, resume{}) // a head too large: the goroutine path answers 431
			return
		}
		m, err := rawsys.ReadOnce(lc.fd, lc.in[lc.w:])
		if err == syscall.EAGAIN {
			lc.readable = false
			continue
		}
		if err != nil {
			l.closeClient(lc) // gone, even in the middle of a head: no one to answer
			return
		}
		if m < len(lc.in)-lc.w && !lc.hup {
			lc.readable = false // a short read: the socket is empty
		}
		lc.w += m
	}
}

// waitClient writes the answers the client has not got yet and sets the deadline for
// what it sends next: the idle timeout, or the head timeout once part of a head is in.
func (l *loop) waitClient(lc *lconn) {
	s := l.s
	if lc.c.bw.Flush() != nil {
		l.closeClient(lc)
		return
	}
	if lc.sw.pending != nil {
		l.handOff(lc, resume{}) // the socket did not take it all: a goroutine waits for it
		return
	}
	switch {
	case lc.r == lc.w:
		lc.r, lc.w = 0, 0
		lc.deadline, lc.headBy = time.Now().Add(s.cfg.IdleTimeout), false
	case !lc.headBy:
		lc.deadline, lc.headBy = time.Now().Add(s.cfg.HeaderTimeout), true
	}
}

// startRequest parses the head in[r:r+n] and starts its exchange with a host, or hands
// the connection to a goroutine when the request is not one the loop serves.
func (l *loop) startRequest(lc *lconn, n, skip int) {
	s, c := l.s, &lc.c
	c.req.reset()
	if c.req.parseRequest(lc.in[lc.r+skip:lc.r+n]) != nil {
		l.handOff(lc, resume{}) // the goroutine path parses it again and refuses it
		return
	}
	r, host, target := l.route(&c.req)
	if r == nil {
		l.handOff(lc, resume{})
		return
	}
	lc.n, lc.skip, lc.host, lc.target = n, skip, host, target
	lc.deadline, lc.headBy = time.Time{}, false
	s.stats.requests.Add(1)
	if f := s.stats.inFlight.Add(1); s.cfg.MaxInFlight > 0 && f > int64(s.cfg.MaxInFlight) {
		s.stats.inFlight.Add(-1)
		s.stats.shed.Add(1)
		l.handOff(lc, resume{kind: resumeFail, err: errOverloaded})
		return
	}
	lc.start = time.Now()
	c.route, c.status, c.upstream = r, 0, ""
	if s.cfg.AccessLog {
		lc.method, lc.tgt = string(c.req.method), string(c.req.target)
	}
	p := r.pool
	p.depositRetryToken()
	lc.cookieID = ""
	if p.cfg.StickyCookie != "" {
		lc.cookieID = string(p.stickyValue(&c.req))
	}
	lc.isHead = string(c.req.method) == "HEAD"
	lc.clientMinor, lc.clientClose = c.req.minor, c.req.close
	lc.att = attempts{next: 1}
	l.attempt(lc)
}

// route returns the route of a request the loop serves, with the host and target it is
// sent with, or nil when the goroutine path must serve it.
func (l *loop) route(h *head) (r *route, host, target []byte) {
	s := l.s
	if h.chunked || h.contentLength > 0 || h.expect100 || h.wantsUpgrade() || h.target[0] != '/' ||
		!idempotent(h.method) {
		return nil, nil, nil
	}
	host, path, target, err := splitTarget(h)
	if err != nil || s.redirectsToHTTPS(false, path) {
		return nil, nil, nil
	}
	for _, v := range h.via {
		if bytes.Contains(v, s.via[4:]) {
			return nil, nil, nil // a loop: the goroutine path answers 508
		}
	}
	r = s.match(hostname(host), path, h)
	if r == nil || r.redirect != "" || r.static != nil || r.timeout > 0 || !r.pool.loopable {
		return nil, nil, nil
	}
	return r, host, target
}

// attempt makes the request's first try: it picks a host and sends the request on an
// idle connection to it, or dials one.
func (l *loop) attempt(lc *lconn) {
	c := &lc.c
	p := c.route.pool
	var key []byte
	if p.hash != nil {
		key = p.hashKey.key(&c.req, c.remote)
	}
	u := p.pick(&c.view, &lc.att.triedP, &lc.att.triedB, key, p.stickyValue(&c.req))
	if u == nil {
		l.handOff(lc, resume{kind: resumeFail, err: p.noPick(), counted: true})
		return
	}
	u.requests.Add(1)
	u.inflight.Add(1)
	lc.u, lc.redialed = u, false
	if lu := l.takeIdle(u); lu != nil {
		l.send(lc, lu)
		return
	}
	l.dial(lc, u)
}

// takeIdle returns a keep-alive connection to u, or nil.
func (l *loop) takeIdle(u *upstream) *lup {
	list := l.idle[u]
	now := time.Now()
	for len(list) > 0 {
		lu := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		l.idle[u] = list
		if now.Sub(lu.since) < u.pool.cfg.IdleTimeout {
			lu.reused = true
			lu.unidle()
			return lu
		}
		l.closeUp(lu)
	}
	if len(list) == 0 {
		delete(l.idle, u)
	}
	return nil
}

// dial connects to u in a goroutine (a dial can take up to the dial timeout, which the
// loop must not wait for); the connection comes back through the wake pipe.
func (l *loop) dial(lc *lconn, u *upstream) {
	lc.state = lcDial
	l.dialing++
	l.s.wg.Add(1)
	go func() {
		defer l.s.wg.Done()
		d := dialResult{lc: lc, u: u, fd: -1}
		nc, err := u.dialConn(context.Background())
		if err == nil {
			var ok bool
			if d.fd, ok = takeFD(nc); !ok {
				err = errors.New("proxy: cannot take the socket of an upstream connection")
			}
			nc.Close()
		}
		d.err = err
		l.mu.Lock()
		if l.exited { // cannot happen while lc waits; kept for safety
			l.mu.Unlock()
			if d.fd >= 0 {
				syscall.Close(d.fd)
			}
			return
		}
		l.dialed = append(l.dialed, d)
		l.mu.Unlock()
		l.ep.Wake()
	}()
}

// dialDone takes a dial's result to the request that waits for it.
func (l *loop) dialDone(d dialResult) {
	l.dialing--
	lc, u := d.lc, d.u
	if d.err != nil {
		if lc.state != lcDial {
			return // the client left meanwhile; abort settled the count
		}
		// The request never reached the host: trying another is always safe.
		u.inflight.Add(-1)
		u.failed()
		lc.att.lastErr = upstreamError(d.err)
		l.s.log.Debug("proxy: dial failed", "pool", u.pool.name, "host", u.addr, "err", d.err)
		l.handOff(lc, resume{kind: resumeRetry, counted: true})
		return
	}
	u.open.Add(1)
	lu := &lup{fd: d.fd, u: u, in: make([]byte, l.s.cfg.MaxHeaderBytes)}
	lu.sw.fd = d.fd
	lu.bw = bufio.NewWriterSize(&lu.sw, 8<<10)
	if err := l.register(d.fd, lu); err != nil {
		syscall.Close(d.fd)
		u.open.Add(-1)
		if lc.state == lcDial {
			u.inflight.Add(-1)
			u.failed()
			lc.att.lastErr = errBadGateway
			l.handOff(lc, resume{kind: resumeRetry, counted: true})
		}
		return
	}
	if lc.state != lcDial {
		l.putIdle(lu)
		return
	}
	l.send(lc, lu)
}

// send writes the request head to the host on lu.
func (l *loop) send(lc *lconn, lu *lup) {
	c := &lc.c
	lc.state, lc.up, lu.owner = lcUpstream, lu, lc
	lu.n, lc.respN = 0, 0
	lu.timeout = c.route.upstreamTimeout(c.route.pool)
	c.writeRequestHead(lu.bw, lc.host, lc.target, false, lc.u)
	err := lu.bw.Flush()
	if err == nil && lu.sw.pending != nil {
		err = errBadGateway // a head the socket does not take at once: the host is stuck
	}
	if err != nil {
		lu.bw.Reset(&lu.sw)
		lu.sw.pending = nil
		l.upstreamFailed(lc, upstreamError(err))
		return
	}
	lu.deadline = time.Time{}
	if lu.timeout > 0 {
		lu.deadline = time.Now().Add(lu.timeout)
	}
	if lu.readable {
		l.readResponse(lc)
	}
}

// readResponse reads the host's answer while epoll says it has bytes, and answers the
// client once the answer is whole.
func (l *loop) readResponse(lc *lconn) {
	lu := lc.up
	for {
		if lc.respN == 0 && !l.parseResponse(lc) {
			return
		}
		if lc.respN > 0 && lu.n >= lc.bodyEnd {
			l.answer(lc)
			return
		}
		if !lu.readable {
			return
		}
		m, err := rawsys.ReadOnce(lu.fd, lu.in[lu.n:])
		if err == syscall.EAGAIN {
			lu.readable = false
			return
		}
		if err != nil {
			if lc.respN > 0 {
				// The head is in, the body broke off: the goroutine path forwards what came
				// and reports the host's failure, as it does for a streamed body.
				l.handOff(lc, resume{kind: resumeResponse, counted: true})
				return
			}
			l.upstreamFailed(lc, upstreamError(err))
			return
		}
		if m < len(lu.in)-lu.n && !lu.hup {
			lu.readable = false
		}
		lu.n += m
		if lu.timeout > 0 {
			lu.deadline = time.Now().Add(lu.timeout)
		}
	}
}

// parseResponse looks for the response head in lu.in, passing interim ones on. On a
// final head it sets respN and bodyEnd, or hands the response to a goroutine when the
// loop does not buffer it. It returns false when the request has left the loop.
func (l *loop) parseResponse(lc *lconn) bool {
	for interim := 0; ; interim++ {
		more, ok := l.parseHead(lc, interim)
		if !ok || !more {
			return ok
		}
	}
}

// parseHead parses one response head; more reports an interim one, ok false that the
// request has left the loop.
func (l *loop) parseHead(lc *lconn, interim int) (more, ok bool) {
	c, lu := &lc.c, lc.up
	n, _, err := headEnd(lu.in[:lu.n])
	if err != nil {
		l.upstreamFailed(lc, errBadUpstream)
		return false, false
	}
	if n == 0 {
		if lu.n == len(lu.in) {
			l.upstreamFailed(lc, errBadUpstream) // a head too large
			return false, false
		}
		return false, true
	}
	c.resp.reset()
	if c.resp.parseResponse(lu.in[:n]) != nil {
		l.upstreamFailed(lc, errBadUpstream)
		return false, false
	}
	st := c.resp.status
	if st < 200 && st != 101 {
		if interim == 8 {
			l.upstreamFailed(lc, errBadUpstream)
			return false, false
		}
		// An interim answer: passed on, but for 100 (the proxy answers Expect itself).
		if st != 100 && lc.clientMinor == 1 {
			c.writeResponseHead(st, false, false, false)
		}
		lu.n = copy(lu.in, lu.in[n:lu.n])
		return true, true
	}
	body := int64(0)
	switch {
	case st == 101:
		body = -1
	case lc.isHead || st == 204 || st == 304:
	case c.resp.chunked:
		body = -1
	case c.resp.contentLength >= 0:
		body = c.resp.contentLength
	default:
		body = -1 // until the host closes
	}
	if body < 0 || body > loopBodyMax {
		// 101 without an Upgrade asked, a stream, a body the loop does not buffer: the
		// goroutine path's forwardResponse serves it from here.
		lc.respN = n
		l.handOff(lc, resume{kind: resumeResponse, counted: true})
		return false, false
	}
	lc.respN, lc.bodyEnd = n, n+int(body)
	if lc.bodyEnd > len(lu.in) {
		grown := make([]byte, lc.bodyEnd)
		copy(grown, lu.in[:lu.n])
		lu.in = grown
	}
	return false, true
}

// answer writes a whole response to the client, as forwardResponse does for a body of
// known length, and goes on to the client's next request.
func (l *loop) answer(lc *lconn) {
	s, c, lu, u := l.s, &lc.c, lc.up, lc.u
	r, resp, st := c.route, &c.resp, c.resp.status
	p := r.pool
	c.setSticky = ""
	if p.cfg.StickyCookie != "" && !u.backup && lc.cookieID != u.stickyID {
		c.setSticky = u.stickyID
	}
	mode := bodyLength
	if lc.isHead || st == 204 || st == 304 {
		mode = bodyNone
	}
	keepClient := !lc.clientClose && !s.closing.Load()
	c.writeResponseHead(st, keepClient, lc.clientMinor == 0, false)
	c.writeFraming(u, mode, lc.clientMinor)
	c.bw.Write(lu.in[lc.respN:lc.bodyEnd])
	s.countAnswer(r, u, st)
	s.loopAnswers.Add(1)
	c.status, c.upstream = st, u.addr
	if st >= 500 {
		u.failed()
	} else {
		u.succeeded()
	}
	// Bytes past the answer are a host speaking out of turn: its connection is not reused.
	if !resp.close && lu.n == lc.bodyEnd {
		l.putIdle(lu)
	} else {
		l.closeUp(lu)
	}
	u.inflight.Add(-1)
	lc.up, lc.u = nil, nil
	lc.r += lc.n
	lc.state = lcClient
	c.endRequest(lc.start, lc.method, lc.tgt)
	if !keepClient {
		l.closeClient(lc)
		return
	}
	l.serveClient(lc)
}

// upstreamFailed settles a try that failed before the response head was whole, as
// proxyH1 does: a keep-alive connection the host closed while idle is tried again on a
// fresh connection to the same host, without spending the budget; any other failure
// counts against the host, and the retry, if the rules allow one, is the goroutine path's.
func (l *loop) upstreamFailed(lc *lconn, se *statusError) {
	lu, u := lc.up, lc.u
	l.closeUp(lu)
	lc.up = nil
	u.inflight.Add(-1)
	lc.att.lastErr = se
	if lu.reused && se != errUpTimeout && !lc.redialed {
		u.requests.Add(1)
		u.inflight.Add(1)
		lc.redialed = true
		l.dial(lc, u)
		return
	}
	u.failed()
	l.handOff(lc, resume{kind: resumeRetry, counted: true})
}

// putIdle keeps an upstream connection for the next request to its host.
func (l *loop) putIdle(lu *lup) {
	u := lu.u
	lu.owner, lu.deadline = nil, time.Time{}
	lu.n = 0
	if u.drained.Load() || u.pool.retired.Load() || l.s.closing.Load() {
		l.closeUp(lu)
		return
	}
	// MaxIdlePerHost bounds the idle connections of every loop together.
	if u.loopIdle.Add(1) > int64(u.pool.cfg.MaxIdlePerHost) {
		u.loopIdle.Add(-1)
		l.closeUp(lu)
		return
	}
	lu.idle = true
	list := l.idle[u]
	lu.since = time.Now()
	l.idle[u] = append(list, lu)
}

// dropIdle closes an idle connection whose host spoke or hung up.
func (l *loop) dropIdle(lu *lup) {
	list := l.idle[lu.u]
	for i, x := range list {
		if x == lu {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.idle, lu.u)
	} else {
		l.idle[lu.u] = list
	}
	l.closeUp(lu)
}

// unidle counts lu out of its host's idle connections held by loops.
func (lu *lup) unidle() {
	if lu.idle {
		lu.idle = false
		lu.u.loopIdle.Add(-1)
	}
}

func (l *loop) closeUp(lu *lup) {
	lu.unidle()
	if lu.fd < 0 {
		return
	}
	l.unregister(lu.fd)
	syscall.Close(lu.fd)
	lu.fd = -1
	lu.u.open.Add(-1)
}

// closeClient closes a client connection; a request in progress is given up.
func (l *loop) closeClient(lc *lconn) {
	if lc.state == lcClosed {
		return
	}
	lc.c.bw.Flush()
	l.abort(lc)
	l.release(lc)
	syscall.Close(lc.fd)
	l.s.stats.clientConns.Add(-1)
}

// abort settles the counts of a request that will not finish (Shutdown's deadline).
func (l *loop) abort(lc *lconn) {
	switch lc.state {
	case lcDial, lcUpstream:
		if lc.up != nil {
			l.closeUp(lc.up)
			lc.up = nil
		}
		lc.u.inflight.Add(-1)
		lc.c.endRequest(lc.start, lc.method, lc.tgt)
	}
	lc.state = lcClosed
}

// release takes a client connection out of the loop, its socket left open.
func (l *loop) release(lc *lconn) {
	lc.state = lcClosed
	l.unregister(lc.fd)
	delete(l.conns, lc)
	l.s.loopConns.Add(-1)
	lc.c.bw.Reset(nil)
	l.s.writers.Put(lc.c.bw)
	lc.c.bw = nil
}

// closeIdleClients closes, at Shutdown, the connections waiting for a request; those
// serving one close after it. When Shutdown's time has run out, every one closes.
func (l *loop) closeIdleClients() {
	kill := l.s.loopKill.Load()
	for lc := range l.conns {
		if lc.state == lcClient || kill {
			l.closeClient(lc)
		}
	}
	if kill {
		for _, list := range l.idle {
			for _, lu := range list {
				l.closeUp(lu)
			}
		}
		clear(l.idle)
	}
}

// tick fires the deadlines that have passed.
func (l *loop) tick(now time.Time) {
	for lc := range l.conns {
		switch {
		case lc.state == lcClient && !lc.deadline.IsZero() && now.After(lc.deadline):
			if lc.headBy {
				l.handOff(lc, resume{kind: resumeRefuse, err: errTimeout}) // 408, as the goroutine path
			} else {
				l.closeClient(lc)
			}
		case lc.state == lcUpstream && !lc.up.deadline.IsZero() && now.After(lc.up.deadline):
			if lc.respN > 0 {
				l.handOff(lc, resume{kind: resumeResponse, counted: true}) // a body that stalled
			} else {
				l.upstreamFailed(lc, errUpTimeout)
			}
		}
	}
	for u, list := range l.idle {
		keep := list[:0]
		for _, lu := range list {
			if now.Sub(lu.since) >= u.pool.cfg.IdleTimeout || u.drained.Load() || u.pool.retired.Load() {
				l.closeUp(lu)
			} else {
				keep = append(keep, lu)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(l.idle, u)
		} else {
			l.idle[u] = keep
		}
	}
}

// Kinds of resume: what the goroutine a loop hands a connection to does first.
const (
	resumeServe    = iota // serve the connection from its next request (conn.serve)
	resumeRefuse          // answer a head the loop could not take (408) and close
	resumeFail            // answer a request that cannot be served and close
	resumeRetry           // the first try failed: go on with the tries (proxyH1)
	resumeResponse        // the response head is in: forward the rest (forwardResponse)
)

// resume is what a goroutine does first with a connection a loop hands over.
type resume struct {
	kind    int
	err     *statusError
	counted bool // the request is counted in flight: end it with endRequest
}

// handOff gives a client connection (and for resumeResponse its upstream connection)
// to a goroutine of the goroutine path, with the bytes the loop has read and not used.
func (l *loop) handOff(lc *lconn, rs resume) {
	s := l.s
	lc.c.bw.Flush()
	out := lc.sw.pending
	from := lc.r
	if rs.kind == resumeResponse {
		from += lc.n // the request's head is used up
	}
	in := append([]byte(nil), lc.in[from:lc.w]...)
	var uc *upConn
	if rs.kind == resumeResponse {
		uc = l.giveUp(lc)
	}
	l.release(lc)
	s.loopHandOffs.Add(1)
	nc, err := fileConn(lc.fd)
	if err != nil || (rs.kind == resumeResponse && uc == nil) {
		s.log.Warn("proxy: cannot hand a connection to a goroutine", "err", err)
		switch {
		case uc != nil:
			uc.close()
			uc.host.inflight.Add(-1)
		case rs.kind == resumeResponse:
			lc.u.inflight.Add(-1)
		}
		if rs.counted {
			lc.c.endRequest(lc.start, lc.method, lc.tgt)
		}
		if nc != nil {
			nc.Close()
		}
		s.stats.clientConns.Add(-1)
		return
	}
	c := &conn{srv: s, nc: nc, remote: lc.c.remote, route: lc.c.route, setSticky: lc.c.setSticky}
	c.cc = &timeoutConn{Conn: &replayConn{Conn: nc, pending: in}}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.run(lc.resumer(c, rs, out, uc))
}

// giveUp turns the request's upstream connection into one of the goroutine path, with
// the bytes read from it; nil if that fails.
func (l *loop) giveUp(lc *lconn) *upConn {
	lu := lc.up
	l.unregister(lu.fd)
	nc, err := fileConn(lu.fd)
	lu.fd = -1
	lc.up = nil
	if err != nil {
		lc.u.open.Add(-1)
		return nil
	}
	tc := &timeoutConn{Conn: &replayConn{Conn: nc, pending: lu.in[:lu.n]}, timeout: lu.timeout}
	return &upConn{
		conn:   tc,
		br:     bufio.NewReaderSize(tc, l.s.cfg.MaxHeaderBytes),
		bw:     bufio.NewWriterSize(tc, 8<<10),
		host:   lc.u,
		reused: lu.reused,
	}
}

// resumer returns the function that a handed-over connection's goroutine runs first.
func (lc *lconn) resumer(c *conn, rs resume, out []byte, uc *upConn) func() bool {
	if rs.kind == resumeServe && out == nil {
		return nil // conn.serve as for a new connection
	}
	start, method, logTarget := lc.start, lc.method, lc.tgt
	n, skip, att := lc.n, lc.skip, lc.att
	clientMinor, clientClose, isHead := lc.clientMinor, lc.clientClose, lc.isHead
	return func() bool {
		if out != nil {
			if _, err := c.nc.Write(out); err != nil {
				rs.kind = resumeFail
				rs.err = nil
			}
		}
		switch rs.kind {
		case resumeServe:
			return true // it spoke HTTP/1.1 already: no HTTP/2 preface to look for
		case resumeRefuse:
			c.refuse(rs.err)
			return false
		case resumeFail:
			if rs.err != nil {
				c.fail(rs.err)
			}
			if uc != nil {
				uc.close()
				uc.host.inflight.Add(-1)
			}
		case resumeRetry:
			raw, err := c.br.Peek(n)
			if err == nil && c.req.parseRequest(raw[skip:]) == nil {
				host, _, target, _ := splitTarget(&c.req)
				keep := c.proxyH1(c.route, host, target, n, att)
				c.endRequest(start, method, logTarget)
				return keep
			}
		case resumeResponse:
			if err := c.readResponseHead(uc, clientMinor); err != nil {
				uc.close()
				uc.host.inflight.Add(-1)
				uc.host.failed()
				c.fail(errBadUpstream)
				break
			}
			keep := c.forwardResponse(uc, c.route, isHead, false, clientMinor, clientClose)
			c.endRequest(start, method, logTarget)
			return keep
		}
		if rs.counted {
			c.endRequest(start, method, logTarget)
		}
		return false
	}
}

// sockWriter writes to a non-blocking socket without waiting: what the socket does not
// take at once is kept in pending, for the goroutine the connection is then handed to.
type sockWriter struct {
	fd      int
	pending []byte
}

func (w *sockWriter) Write(p []byte) (int, error) {
	var err error
	if w.pending, err = rawsys.WriteOrKeep(w.fd, w.pending, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
