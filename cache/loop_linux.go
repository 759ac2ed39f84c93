package cache

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gantry/internal/rawsys"
)

// The event loop (Linux). Under redis-benchmark -P 1 a goroutine per connection
// pays, per command, a netpoll wake-up, a read, the command, a write, then a read
// that returns EAGAIN and a park; with 50 connections on 2 cores that is 50
// goroutine switches a round, on the cores the clients need too. An event loop
// takes every ready socket from one epoll_wait, reads each once, runs every
// complete command read and writes the replies in one write: no EAGAIN read, no
// park, no switch per command. There is one loop for every two cores by default
// (Config.EventLoops), each owning the sockets of the connections given to it
// round-robin; the commands they run still lock only their keys' shards. Each
// loop keeps to one thread, as Redis's one thread serves its clients: see run.
//
// A connection that must wait leaves its loop for good and is served by a
// goroutine of its own, today's code path: a blocking command that is about to
// run (BLPOP...), a subscription (publishers write to it from other goroutines),
// and a reply the socket does not take at once (EAGAIN on write). The loop never
// blocks on anything but epoll_wait and, with the append-only file on, the log:
// the replies of a client whose commands were logged wait until the end of the
// pass, where one write of the log (and the fsync appendfsync always asks for)
// covers every client of the pass, as Redis's beforeSleep does; then they go out.

// loopSweep is how often a loop looks for clients past their idle timeout.
const loopSweep = 100 * time.Millisecond

// loop is one event loop: an epoll instance and the connections it owns.
type loop struct {
	s      *Server
	ep     *rawsys.Epoll
	events []syscall.EpollEvent

	mu       sync.Mutex // guards incoming and exited
	incoming []*client  // connections given to the loop, not yet registered
	exited   bool

	// Only the loop's goroutine touches the fields below.
	byFD      []*client // the loop's connections by file descriptor
	n         int       // how many
	now       int64     // Unix ms when the last epoll_wait returned events
	lastSweep time.Time
	lastYield int64 // Unix ms of the last runtime.Gosched (see yield)
	tid       int   // the thread the loop started on
	moved     int   // times yield found the loop on another thread: 0 when locked
	// poller, when the loop has no thread of its own (see run), is a duplicate
	// of its epoll descriptor in the runtime's network poller; rc reads it, and
	// sweepAt is its read deadline, zero when none is set (see armSweep).
	poller  *os.File
	rc      syscall.RawConn
	sweepAt time.Time
	// logged are the clients of this pass whose replies wait for the log.
	logged []*client
	st     *loopStats // per-pass figures, in a build with -tags loopstats; else nil
}

// startLoops starts the event loops (Config.EventLoops); s.mu is held. It returns
// false when the loops cannot run (no file descriptors left), and connections are
// then served by goroutines.
func (s *Server) startLoops(n int, setProcs bool) bool {
	if s.loops != nil {
		return true
	}
	if n == 0 {
		// One loop for two cores. Each loop added splits the ready sockets of one
		// epoll_wait between more loops, so each wakes up more often for fewer
		// commands: on 2 cores under redis-benchmark -P 1, two loops cost about 1.5x
		// the CPU per command of one (docs/benchmarks.md, ## cache).
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if setProcs && os.Getenv("GOMAXPROCS") == "" {
		s.baseProcs = runtime.GOMAXPROCS(n)
	}
	park := runtime.GOMAXPROCS(0) <= n
	loops := make([]*loop, 0, n)
	for range n {
		l, err := newLoop(s, park)
		if err != nil {
			s.log.Warn("cache: event loop unavailable, serving connections with goroutines", "err", err)
			for _, l := range loops {
				l.closeEpoll()
			}
			s.loopsFailed = true
			return false
		}
		loops = append(loops, l)
	}
	s.loops = loops
	for _, l := range loops {
		s.wg.Add(1)
		go l.run()
	}
	return true
}

// newLoop makes a loop; with park, one that waits in the runtime's network
// poller (see run), or in epoll_wait where the poller does not take its epoll set.
func newLoop(s *Server, park bool) (*loop, error) {
	ep, err := rawsys.NewEpoll()
	if err != nil {
		return nil, err
	}
	l := &loop{s: s, ep: ep, events: make([]syscall.EpollEvent, 128), lastSweep: time.Now(), st: newLoopStats()}
	if park {
		if err := l.openPoller(); err != nil {
			s.log.Warn("cache: event loop waits in epoll_wait", "err", err)
		}
	}
	return l, nil
}

// openPoller puts a duplicate of the loop's epoll descriptor into the runtime's
// network poller: an epoll set is readable while one of its sockets is ready.
// The duplicate is the poller's to close, the original the loop's.
func (l *loop) openPoller() error {
	fd, err := l.ep.Dup()
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "epoll")
	// A descriptor the poller would not take comes back as a blocking file,
	// without deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	l.poller, l.rc = f, rc
	return nil
}

// closeEpoll closes the loop's epoll set and its duplicate in the poller.
func (l *loop) closeEpoll() {
	if l.poller != nil {
		l.poller.Close()
	}
	l.ep.Close()
}

// serveLoop gives c, whose connection is a socket in fd mode, to one of the loops.
func (s *Server) serveLoop(c *client) {
	l := s.loops[s.nextLoop.Add(1)%uint32(len(s.loops))]
	l.mu.Lock()
	if l.exited {
		// Shutdown has already emptied the loop: c was killed with the rest.
		l.mu.Unlock()
		c.conn.(*sock).release()
		s.finish(c)
		return
	}
	l.incoming = append(l.incoming, c)
	l.mu.Unlock()
	l.ep.Wake()
}

// wakeLoops interrupts every loop's wait: at Shutdown, and when CONFIG SET
// changes the idle timeout.
func (s *Server) wakeLoops() {
	for _, l := range s.loops {
		l.ep.Wake()
	}
}

// run is the loop: wait for ready sockets, serve each, repeat until Shutdown has
// closed every connection.
//
// A loop keeps to one thread in one of two ways, chosen by whether the runtime
// has a P to spare beyond the loops' (GOMAXPROCS > loops; Config.GoMaxProcs).
//
// With a P to spare, the goroutine is locked to its thread and waits in
// epoll_wait. Unlocked, another thread woken for the idle P (a futex) often took
// it up after a wait, a Gosched or a preemption: under redis-benchmark -t get
// -P 1 -c 50 its CPU was spread over three threads with 18,000 voluntary context
// switches between them per 100,000 requests; locked, one thread does all of it
// with 14,700, as Redis's one thread does with about 15,000 (/proc/PID/task/*/status;
// docs/benchmarks.md, "-P 1 scheduling"). But a locked goroutine's every pass
// through the scheduler hands its P to another thread and back (see yield).
//
// With no P to spare, nothing can take the goroutine from its thread, so it is
// not locked, and it waits parked in the runtime's network poller (park): its
// thread blocks there itself, the P is idle meanwhile, and the runtime's monitor
// thread (sysmon), which polls every 10 ms while any P is busy, sleeps. Redis's
// process wakes nothing but its one thread; a loop in epoll_wait kept sysmon
// waking 100 times a second, and at -P 1 each wake-up that fell on the loop's
// core as the loop woke sent the loop to the client's core for a time slice or
// more (perf sched; docs/benchmarks.md, "-P 1: a P of its own").
func (l *loop) run() {
	defer l.s.wg.Done()
	if l.poller == nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	l.tid = rawsys.Gettid()
	for {
		l.st.beforeWait()
		n, err := l.poll()
		l.st.afterWait(n)
		if n > 0 {
			l.now = time.Now().UnixMilli()
		}
		if err != nil && err != syscall.EINTR {
			l.s.log.Error("cache: epoll_wait failed", "err", err)
			n = 0
			time.Sleep(10 * time.Millisecond)
		}
		for i := range n {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if l.ep.IsWake(fd) {
				l.drainWake()
				continue
			}
			if fd < len(l.byFD) && l.byFD[fd] != nil {
				l.serve(l.byFD[fd])
			}
		}
		if t := l.s.idleTimeout(); t > 0 && l.n > 0 {
			l.sweep()
		}
		l.syncLog()
		l.yield()
		l.st.endPass()
		if l.done() {
			l.st.write(os.Stderr)
			return
		}
	}
}

// wait puts c, whose replies wait for the log (client.flush), on the pass's list.
func (l *loop) wait(c *client) {
	if !c.logWait {
		c.logWait = true
		l.logged = append(l.logged, c)
	}
}

// syncLog ends a pass with the append-only file on: one write of the log (and
// one fsync with appendfsync always) for every client whose commands this pass
// logged, then their replies. A client that left the loop meanwhile (handed to a
// goroutine, closed) is no longer waiting: its goroutine or close saw to it.
func (l *loop) syncLog() {
	if len(l.logged) == 0 {
		return
	}
	var upTo int64
	for _, c := range l.logged {
		if c.logWait {
			upTo = max(upTo, c.aofEnd)
		}
	}
	var err error
	if a := l.s.aof.Load(); a != nil && upTo > 0 {
		err = a.sync(upTo)
	}
	for i, c := range l.logged {
		l.logged[i] = nil
		if !c.logWait {
			continue
		}
		c.logWait, c.aofEnd = false, 0
		if err != nil {
			c.w.Reset() // nothing these replies acknowledge may go out
			l.close(c)
			continue
		}
		if c.flush() != nil {
			l.close(c)
			continue
		}
		if c.conn.(*sock).pending != nil {
			l.handoff(c, nil, true)
		}
	}
	l.logged = l.logged[:0]
}

// yield lets the scheduler see the loop's goroutine pass through it every 5 ms. A
// locked loop never parks: it is always running or in a system call (a loop
// without a spare P parks whenever it is idle, and yields only when it has been
// busy for 5 ms). The runtime's sysmon takes that for a goroutine that hogs its P,
// and every 10 ms (forcePreemptNS) it sends a preemption signal and, the loop
// being in epoll_wait, read or write most of the time, takes the P away from the
// loop's thread and hands it to another; the loop then finds a P again on its way
// out of the system call, and sysmon, having taken one, polls every 20 µs for the
// next millisecond. Under redis-benchmark -P 1 that was 6,000 sysmon wake-ups a
// second, with signals, futex wake-ups and thread changes, on the two cores the
// clients need too (strace -c -f, docs/benchmarks.md "## cache"). A Gosched every
// 5 ms (under the 10 ms) moves the goroutine's schedtick on, and sysmon leaves it
// alone. A locked loop's Gosched hands the P to another thread and takes it back,
// two context switches 200 times a second; without the Gosched sysmon woke 3,300
// times in the same run instead of 400. Without a spare P, a Gosched has no thread
// to wake: the goroutine goes round the scheduler on its own.
func (l *loop) yield() {
	if l.now-l.lastYield >= 5 {
		l.lastYield = l.now
		t := l.st.yieldStart()
		runtime.Gosched()
		l.st.yieldEnd(t)
		if rawsys.Gettid() != l.tid {
			l.moved++
		}
	}
}

// poll fills l.events with the events ready, waiting for one if there are none.
func (l *loop) poll() (int, error) {
	if l.poller == nil {
		return l.ep.Wait(l.events, l.waitMillis())
	}
	// rc.Read in park looks once more before it parks, so this look is a second
	// one; without it, paired runs (2026-11-27, 18 runs of 200,000 requests) had
	// 0.83-0.91x the p99 and 3% more CPU per request. Perhaps the time between
	// the two looks lets the next request come in before the loop parks; that
	// was not measured.
	if n, err := l.ep.Poll(l.events); n > 0 || err != nil {
		return n, err
	}
	return l.park()
}

// park waits for events with the goroutine parked in the runtime's network
// poller, until the poller finds the epoll set readable or the idle sweep is due.
func (l *loop) park() (n int, err error) {
	l.armSweep()
	calls := 0
	rerr := l.rc.Read(func(uintptr) bool {
		calls++
		n, err = l.ep.Poll(l.events)
		return n > 0 || err != nil && err != syscall.EINTR
	})
	if calls > 1 {
		// The goroutine parked: the scheduler has seen it, and sysmon counts
		// it as having yielded.
		l.lastYield = time.Now().UnixMilli()
	}
	if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
		return 0, rerr
	}
	return n, err
}

// armSweep gives park a deadline when an idle sweep may be due (a timeout set,
// connections to sweep), and takes it away otherwise: a deadline is a timer, and
// a timer wakes sysmon. An armed deadline stays until it has passed, so that a
// busy loop does not reset a timer at every park.
func (l *loop) armSweep() {
	if l.s.idleTimeout() > 0 && l.n > 0 {
		if now := time.Now(); now.After(l.sweepAt) {
			l.sweepAt = now.Add(loopSweep)
			l.poller.SetReadDeadline(l.sweepAt)
		}
	} else if !l.sweepAt.IsZero() {
		l.sweepAt = time.Time{}
		l.poller.SetReadDeadline(time.Time{})
	}
}

// waitMillis is how long epoll_wait may block: for ever without connections,
// else until the next idle sweep (a CONFIG SET timeout may come through another
// loop while this one waits).
func (l *loop) waitMillis() int {
	if l.n > 0 {
		return int(loopSweep / time.Millisecond)
	}
	return -1
}

// drainWake empties the wake pipe and registers the connections given meanwhile.
func (l *loop) drainWake() {
	l.ep.DrainWake()
	l.mu.Lock()
	in := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, c := range in {
		l.add(c)
	}
}

func (l *loop) add(c *client) {
	sk := c.conn.(*sock)
	if err := l.ep.Add(sk.fd, syscall.EPOLLIN); err != nil {
		// Cannot happen for a fresh socket; serve it the other way.
		l.s.log.Warn("cache: epoll_ctl add", "err", err)
		l.handoff(c, nil, false)
		return
	}
	for sk.fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]*client, len(l.byFD)+64)...)
	}
	l.byFD[sk.fd] = c
	l.n++
	c.loop = l
	sk.lastRead = time.Now().UnixMilli()
}

// forget removes c's socket from the loop.
func (l *loop) forget(sk *sock, registered bool) {
	if registered {
		l.ep.Del(sk.fd)
		l.byFD[sk.fd] = nil
		l.n--
	}
}

// done reports whether the loop should end: Shutdown has begun and every
// connection is gone. It marks the loop exited so that no connection is given to
// it afterwards.
func (l *loop) done() bool {
	select {
	case <-l.s.done:
	default:
		return false
	}
	if l.n > 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.incoming) > 0 {
		return false
	}
	l.exited = true
	l.closeEpoll()
	return true
}

// serve reads from c's socket once and runs every complete command read; the
// replies are written in one write when the buffer runs out (resp.Reader's
// before-read hook, c.flush).
func (l *loop) serve(c *client) {
	sk := c.conn.(*sock)
	sk.readable = true
	sk.lastRead = l.now
	for {
		args, err := c.r.ReadCommand()
		if err == errWouldBlock {
			c.r.Fill() // forgets the error without reading: the next pass reads again
			if sk.pending != nil {
				l.handoff(c, nil, true)
			}
			return
		}
		if err != nil {
			c.loop = nil // the error reply goes out now, after the log
			c.readFailed(err)
			l.close(c)
			return
		}
		if l.mustWait(c, args) {
			// A blocking command comes back to a loop once done (backToLoop); a
			// subscriber stays with its goroutine and writer.
			c.blockedOnce = !subscribes(c.named(args[0]))
			l.handoff(c, args, true)
			return
		}
		c.exec(args)
		if c.closeAfter || c.killed.Load() {
			c.loop = nil
			c.flush()
			l.close(c)
			return
		}
		if c.w.Buffered() > 64<<10 {
			if c.flush() != nil {
				l.close(c)
				return
			}
		}
		if sk.pending != nil {
			// The socket did not take a reply.
			l.handoff(c, nil, true)
			return
		}
	}
}

// mustWait reports whether the command in args may wait (a blocking command) or
// subscribe (publishers then write to the client from their goroutines), which a
// loop must not allow: such a client is handed to a goroutine. This holds for a
// command queued in MULTI too, so no EXEC run by a loop subscribes.
func (l *loop) mustWait(c *client, args [][]byte) bool {
	cmd := c.named(args[0])
	return cmd != nil && (cmd.flags&fBlocking != 0 || subscribes(cmd))
}

// subscribes reports whether cmd is one of the (P)(UN)SUBSCRIBE commands, which
// switch the client's output to a queue written by another goroutine.
func subscribes(cmd *command) bool { return cmd.flags&(fPubsub|fSubOK) == fPubsub|fSubOK }

// handoff moves c from the loop to a goroutine of its own, which first writes what
// the socket did not take, then runs first (a command already read), then goes on
// as every goroutine-served client does.
func (l *loop) handoff(c *client, first [][]byte, registered bool) {
	c.loop, c.logWait = nil, false // its goroutine's flush waits for the log
	sk := c.conn.(*sock)
	l.forget(sk, registered)
	if err := sk.toNet(); err != nil {
		l.s.log.Warn("cache: cannot hand a connection to a goroutine", "id", c.id, "err", err)
		c.cleanup()
		sk.release()
		l.s.finish(c)
		return
	}
	go func() {
		if p := sk.pending; p != nil {
			sk.pending = nil
			if _, err := c.out.writeLimited(p); err != nil {
				c.cleanup()
				l.s.finish(c)
				return
			}
		}
		if !c.serve(first) {
			l.s.finish(c)
		}
	}()
}

// backToLoop gives a client that a loop handed to a goroutine for a blocking
// command back to a loop, once the command is done and no other command waits in
// its buffer: its socket leaves Go's netpoller again (adoptConn's dup). It
// reports false, and the goroutine goes on, when the client cannot go back: it
// subscribed meanwhile or is being killed.
func (s *Server) backToLoop(c *client) bool {
	c.blockedOnce = false
	sk, ok := c.conn.(*sock)
	if !ok || sk.nc == nil || c.subs != nil || c.out.async() || c.killed.Load() {
		return false
	}
	nc := sk.nc
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	syscall.ForkLock.RLock()
	err = raw.Control(func(f uintptr) {
		if d, derr := syscall.Dup(int(f)); derr == nil {
			syscall.CloseOnExec(d)
			fd = d
		}
	})
	syscall.ForkLock.RUnlock()
	if err != nil || fd < 0 {
		return false
	}
	sk.mu.Lock()
	if sk.closed.Load() {
		sk.mu.Unlock()
		syscall.Close(fd)
		return false
	}
	sk.fd, sk.nc = fd, nil
	sk.mu.Unlock()
	nc.Close() // the copy keeps the socket open
	s.serveLoop(c)
	return true
}

// close ends a client served by the loop.
func (l *loop) close(c *client) {
	c.loop, c.logWait = nil, false
	sk := c.conn.(*sock)
	l.forget(sk, true)
	c.cleanup()
	sk.release()
	l.s.finish(c)
}

// sweep closes clients idle past the timeout, as a read deadline does for a
// goroutine-served client.
func (l *loop) sweep() {
	now := time.Now()
	if now.Sub(l.lastSweep) < loopSweep {
		return
	}
	l.lastSweep = now
	// Measured from the last read, as Redis does from the last interaction, so
	// that a timeout set by CONFIG SET applies to clients already idle.
	idle := now.UnixMilli() - l.s.idleTimeout().Milliseconds()
	for _, c := range l.byFD {
		if c != nil && c.conn.(*sock).lastRead < idle {
			l.close(c)
		}
	}
}

// errWouldBlock is what a socket in fd mode returns when it has nothing more to
// read in this pass; it looks like a timeout so that resp.Reader.Fill forgets it.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "cache: no more input in this pass" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// sock is a client's connection. Served by a loop, it is a non-blocking socket
// that the loop reads once per readiness and writes without waiting (fd mode);
// handed to a goroutine, it wraps a netpoller-backed net.Conn (nc). Only the
// goroutine that serves the client reads and writes it; Close may come from any
// goroutine (CLIENT KILL, Shutdown).
type sock struct {
	mu sync.Mutex // guards fd and nc against a concurrent Close
	fd int        // -1 once released or handed over
	nc net.Conn

	laddr, raddr net.Addr
	readable     bool         // fd mode: one read is allowed in this pass
	lastRead     int64        // fd mode: Unix ms of the last readiness served (idle timeout)
	pending      []byte       // fd mode: what a write could not write at once
	deadline     atomic.Int64 // fd mode: the read deadline in Unix ns, 0 for none, for toNet
	closed       atomic.Bool  // Close was called
}

// adoptConn takes over conn's socket for a loop: it duplicates the descriptor
// (the copy is unknown to Go's netpoller), closes conn and returns the socket in
// fd mode. It returns conn and false when conn has no descriptor to take.
func adoptConn(conn net.Conn) (net.Conn, bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return conn, false
	}
	fd := -1
	var derr error
	syscall.ForkLock.RLock() // no child may inherit the copy between dup and CLOEXEC
	err = raw.Control(func(f uintptr) {
		fd, derr = syscall.Dup(int(f))
		if derr == nil {
			syscall.CloseOnExec(fd)
		}
	})
	syscall.ForkLock.RUnlock()
	if err != nil || derr != nil {
		return conn, false
	}
	// The copy shares the original's open file description, O_NONBLOCK included.
	sk := &sock{fd: fd, laddr: conn.LocalAddr(), raddr: conn.RemoteAddr()}
	conn.Close()
	return sk, true
}

func (sk *sock) Read(p []byte) (int, error) {
	if sk.nc != nil {
		return sk.nc.Read(p)
	}
	if !sk.readable {
		return 0, errWouldBlock
	}
	sk.readable = false
	n, err := rawsys.ReadOnce(sk.fd, p)
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil && err != io.EOF:
		return 0, os.NewSyscallError("read", err)
	}
	return n, err
}

func (sk *sock) Write(p []byte) (int, error) {
	if sk.nc != nil {
		return sk.nc.Write(p)
	}
	// What the socket does not take, the goroutine the loop then hands the
	// client to writes.
	var err error
	if sk.pending, err = rawsys.WriteOrKeep(sk.fd, sk.pending, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close shuts the socket down; in fd mode the loop then reads EOF and releases
// the descriptor itself, so a descriptor is never closed under the loop's feet.
func (sk *sock) Close() error {
	sk.closed.Store(true)
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.nc != nil {
		return sk.nc.Close()
	}
	if sk.fd >= 0 {
		return syscall.Shutdown(sk.fd, syscall.SHUT_RDWR)
	}
	return nil
}

// release closes the descriptor of a socket in fd mode; the loop calls it.
func (sk *sock) release() {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.fd >= 0 {
		syscall.Close(sk.fd)
		sk.fd = -1
	}
}

// toNet turns the socket into a netpoller-backed net.Conn, for a goroutine.
func (sk *sock) toNet() error {
	f := os.NewFile(uintptr(sk.fd), "")
	nc, err := net.FileConn(f) // a copy of the descriptor, in Go's netpoller
	sk.mu.Lock()
	defer sk.mu.Unlock()
	f.Close()
	sk.fd = -1
	if err != nil {
		return err
	}
	sk.nc = nc
	if sk.closed.Load() {
		nc.Close() // killed while it moved
	}
	if d := sk.deadline.Load(); d != 0 {
		nc.SetReadDeadline(time.Unix(0, d))
	}
	return nil
}

func (sk *sock) LocalAddr() net.Addr  { return sk.laddr }
func (sk *sock) RemoteAddr() net.Addr { return sk.raddr }

func (sk *sock) SetDeadline(t time.Time) error {
	if err := sk.SetReadDeadline(t); err != nil {
		return err
	}
	return sk.SetWriteDeadline(t)
}

func (sk *sock) SetReadDeadline(t time.Time) error {
	if sk.nc != nil {
		return sk.nc.SetReadDeadline(t)
	}
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	sk.deadline.Store(d)
	return nil
}

// SetWriteDeadline: in fd mode writes never wait, so there is nothing to bound.
func (sk *sock) SetWriteDeadline(t time.Time) error {
	if sk.nc != nil {
		return sk.nc.SetWriteDeadline(t)
	}
	return nil
}
