package cache

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gantry/resp"
)

// client is one connection's state. Only its own goroutine touches the fields
// without a comment saying otherwise.
type client struct {
	s     *Server
	id    int64
	conn  net.Conn
	r     *resp.Reader
	w     *resp.Writer
	addr  string
	laddr string
	born  time.Time

	db         int
	authed     bool
	closeAfter bool  // close once the current reply is written (QUIT, CLIENT KILL of self)
	now        int64 // Unix ms when the current batch of commands was read
	staleNow   bool  // the client went back to the socket since now was read
	lower      [32]byte
	cmd        *command // the running command: functions that serve several names read it
	locked     []int    // shards locked by the running command, ascending
	inExec     bool     // running the commands of EXEC: locks are already held

	multi    []queued // commands queued since MULTI; nil when not in MULTI
	inMulti  bool
	multiErr bool // a command failed to queue: EXEC aborts
	watched  []watchedKey
	dirtyCAS atomic.Bool // a watched key changed (set by other clients under the key's shard lock)

	subs *subscriptions // pub/sub state; nil until the first SUBSCRIBE

	blocked      *waiter // set by a blocking command that must wait
	blockTimeout time.Duration
	quit         chan struct{} // closed by kill

	killed atomic.Bool
	// Copies of state that CLIENT LIST reads from other goroutines.
	active   atomic.Int64 // Unix ms of the last command
	dbNum    atomic.Int32
	protoNum atomic.Int32
	multiN   atomic.Int32 // commands queued, -1 outside MULTI
	nsub     atomic.Int32
	npsub    atomic.Int32
	out      *connWriter

	infoMu  sync.Mutex // guards name, which CLIENT LIST reads
	name    string
	lastCmd atomic.Pointer[command]
	stats   *counters

	// Append-only file state of the running command.
	dirty    int        // changes made to the dataset (compared before and after a command)
	aofEnd   int64      // the log offset that must be durable before replies go out
	aofOver  [][][]byte // what to log instead of the command (SPOP, blocking pops)
	aofExtra [][][]byte // what to log after the command (pops handed to blocked clients)
	txLog    [][][]byte // the log records of the EXEC running
	txDB     int        // the database txLog's records are in so far
	loading  bool       // replaying the append-only file
	// Only while an event loop serves the client: its replies waiting for the
	// log are sent at the end of the loop's pass (loop.syncLog).
	loop        *loop
	logWait     bool   // on the loop's list for this pass
	blockedOnce bool   // handed from a loop to a goroutine for a blocking command
	sample      uint32 // commands run, for latency sampling
}

type queued struct {
	cmd  *command
	args [][]byte
}

type watchedKey struct {
	db  int
	key string
}

func newClient(s *Server, conn net.Conn) *client {
	c := &client{
		s:        s,
		id:       s.nextID.Add(1),
		conn:     conn,
		addr:     conn.RemoteAddr().String(),
		laddr:    conn.LocalAddr().String(),
		born:     time.Now(),
		quit:     make(chan struct{}),
		staleNow: true,
		stats:    newCounters(len(s.cmdList)),
	}
	c.out = &connWriter{conn: conn, c: c}
	c.r = resp.NewReader(conn, s.lim)
	c.w = resp.NewWriter(c.out)
	c.protoNum.Store(2)
	c.multiN.Store(-1)
	c.r.SetBeforeRead(c.flush)
	c.authed = s.config().RequirePass == ""
	c.r.SetUnauthenticated(!c.authed)
	c.active.Store(c.born.UnixMilli())
	return c
}

// serve reads and runs commands until the client leaves or is killed, or goes
// back to an event loop (it reports true then, and the loop owns it). A command
// already read (by an event loop that handed the client over) comes in first.
func (c *client) serve(first [][]byte) (backToLoop bool) {
	defer func() {
		if !backToLoop {
			c.cleanup()
		}
	}()
	for {
		args := first
		first = nil
		if args == nil {
			var err error
			if args, err = c.r.ReadCommand(); err != nil {
				c.readFailed(err)
				return
			}
		}
		c.exec(args)
		if c.closeAfter || c.killed.Load() {
			c.flush()
			return
		}
		if c.w.Buffered() > 64<<10 {
			if c.flush() != nil {
				return
			}
		}
		if c.blockedOnce && c.r.Buffered() == 0 {
			// A blocking command sent it here; with it done and no command
			// waiting in the buffer, the loop can serve it again.
			if c.flush() != nil {
				return
			}
			if c.s.backToLoop(c) {
				return true
			}
		}
	}
}

// readFailed answers a protocol error (the connection is closed next, as Redis
// does) or logs why reading stopped.
func (c *client) readFailed(err error) {
	var pe *resp.ProtocolError
	if errors.As(err, &pe) {
		c.w.Error("ERR " + pe.Msg)
		c.flush()
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.killed.Load() {
		c.s.log.Debug("client read", "id", c.id, "addr", c.addr, "err", err)
	}
}

// flush writes the buffered replies. Before the reader blocks it also arms the
// idle timeout, so the deadline costs nothing on a busy pipeline.
func (c *client) flush() error {
	c.staleNow = true
	if c.aofEnd > 0 && c.loop != nil {
		// The loop writes the log once for all its clients at the end of the
		// pass, then flushes them.
		c.loop.wait(c)
		return nil
	}
	if c.aofEnd > 0 {
		// Replies go out only after the writes they acknowledge are logged. A
		// log turned off meanwhile (CONFIG SET appendonly no) was written and
		// fsynced when it closed.
		if a := c.s.aof.Load(); a != nil {
			if err := a.sync(c.aofEnd); err != nil {
				c.w.Reset()
				return err
			}
		}
		c.aofEnd = 0
	}
	err := c.w.Flush()
	if t := c.s.idleTimeout(); t > 0 && !c.out.async() {
		c.conn.SetReadDeadline(time.Now().Add(t))
	}
	return err
}

func (s *Server) idleTimeout() time.Duration { return time.Duration(s.timeout.Load()) }

// kill closes the connection; the client's goroutine notices and cleans up.
// Any goroutine may call it.
func (c *client) kill() {
	if c.killed.CompareAndSwap(false, true) {
		close(c.quit)
		c.conn.Close()
	}
}

func (c *client) cleanup() {
	c.unwatchAll()
	if c.subs != nil {
		c.s.pubsub.unsubscribeAll(c)
	}
	c.out.stop()
	c.conn.Close()
}

func (c *client) setName(n string) {
	c.infoMu.Lock()
	c.name = n
	c.infoMu.Unlock()
}

func (c *client) getName() string {
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	return c.name
}

// info is the client's line in CLIENT LIST and CLIENT INFO, with Redis's fields;
// the buffer figures Redis shows are not kept here and read 0.
func (c *client) info() string {
	c.infoMu.Lock()
	name := c.name
	c.infoMu.Unlock()
	last := ""
	if cmd := c.lastCmd.Load(); cmd != nil {
		last = cmd.name
	}
	now := time.Now()
	flags := "N"
	sub, psub := int(c.nsub.Load()), int(c.npsub.Load())
	if sub+psub > 0 {
		flags = "P"
	}
	multi := int(c.multiN.Load())
	if multi >= 0 {
		flags = "x"
	}
	proto := int(c.protoNum.Load())
	var b strings.Builder
	b.WriteString("id=" + strconv.FormatInt(c.id, 10))
	b.WriteString(" addr=" + c.addr + " laddr=" + c.laddr + " fd=0 name=" + name)
	b.WriteString(" age=" + strconv.FormatInt(int64(now.Sub(c.born)/time.Second), 10))
	b.WriteString(" idle=" + strconv.FormatInt((now.UnixMilli()-c.active.Load())/1000, 10))
	b.WriteString(" flags=" + flags + " db=" + strconv.Itoa(int(c.dbNum.Load())))
	b.WriteString(" sub=" + strconv.Itoa(sub) + " psub=" + strconv.Itoa(psub) + " ssub=0")
	b.WriteString(" multi=" + strconv.Itoa(multi))
	b.WriteString(" qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r")
	b.WriteString(" cmd=" + last + " user=default redir=-1 resp=" + strconv.Itoa(proto))
	return b.String()
}

// OutputLimit is one class of Redis's client-output-buffer-limit: a client whose
// replies waiting for the socket pass Hard bytes, or stay above Soft bytes for
// more than SoftSeconds, is disconnected. Zero turns a limit off.
type OutputLimit struct {
	Hard, Soft  int64
	SoftSeconds int64
}

// OutputLimits are the limits of the three classes Redis has: normal clients,
// replicas (kept for CONFIG GET/SET; this server has none) and subscribers.
type OutputLimits struct {
	Normal, Replica, Pubsub OutputLimit
}

// defaultOutputLimits are Redis's defaults, with pubsubHard (Config.OutputBufferLimit)
// as the subscribers' hard limit.
func defaultOutputLimits(pubsubHard int) OutputLimits {
	return OutputLimits{
		Replica: OutputLimit{Hard: 256 << 20, Soft: 64 << 20, SoftSeconds: 60},
		Pubsub:  OutputLimit{Hard: int64(pubsubHard), Soft: 8 << 20, SoftSeconds: 60},
	}
}

// String is the CONFIG GET form, with Redis 7's class names.
func (o OutputLimits) String() string {
	var b []byte
	for i, l := range []OutputLimit{o.Normal, o.Replica, o.Pubsub} {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, [...]string{"normal", "slave", "pubsub"}[i]...)
		for _, n := range []int64{l.Hard, l.Soft, l.SoftSeconds} {
			b = append(b, ' ')
			b = strconv.AppendInt(b, n, 10)
		}
	}
	return string(b)
}

// What CONFIG SET client-output-buffer-limit says of a value it refuses, with
// Redis's texts.
const (
	badLimitArgs  = "Wrong number of arguments in buffer limit configuration."
	badLimitClass = "Invalid client class specified in buffer limit configuration."
	badLimitValue = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
)

// parseOutputLimits applies v, groups of "class hard soft soft-seconds" as
// redis.conf and CONFIG SET give them, to o. It returns o unchanged and what is
// wrong (one of the bad texts above) when v is refused.
func parseOutputLimits(o OutputLimits, v string) (OutputLimits, string) {
	orig := o
	f := strings.Fields(v)
	if len(f)%4 != 0 {
		return orig, badLimitArgs
	}
	for i := 0; i < len(f); i += 4 {
		var l *OutputLimit
		switch strings.ToLower(f[i]) {
		case "normal":
			l = &o.Normal
		case "slave", "replica":
			l = &o.Replica
		case "pubsub":
			l = &o.Pubsub
		default:
			return orig, badLimitClass
		}
		hard, ok1 := parseMemory(f[i+1])
		soft, ok2 := parseMemory(f[i+2])
		secs, ok3 := parseInt([]byte(f[i+3]))
		if !ok1 || !ok2 || !ok3 || secs < 0 {
			return orig, badLimitValue
		}
		*l = OutputLimit{Hard: hard, Soft: soft, SoftSeconds: secs}
	}
	return o, ""
}

// outputState tracks a client's replies against its class's limit.
type outputState struct {
	softSince time.Time // when the pending replies went over the soft limit
}

// over reports whether pending bytes of replies not taken by the socket pass l:
// above the hard limit, or above the soft one for more than its seconds (whole
// seconds, counted from the first time it was seen above, as Redis does).
func (st *outputState) over(l OutputLimit, pending int64) bool {
	if l.Hard > 0 && pending > l.Hard {
		return true
	}
	if l.Soft == 0 || pending <= l.Soft {
		st.softSince = time.Time{}
		return false
	}
	now := time.Now()
	if st.softSince.IsZero() {
		st.softSince = now
		return false
	}
	return int64(now.Sub(st.softSince)/time.Second) > l.SoftSeconds
}

// outputLimits returns the limits in force.
func (s *Server) outputLimits() *OutputLimits { return s.outLimits.Load() }

// limitStep is how long a write of replies to a normal client with an output
// limit may stall before what the socket has not taken is checked against it.
const limitStep = 100 * time.Millisecond

// writeLimited writes p, a batch of replies, to a client that is not
// subscribed. Without a normal limit (Redis's default) it just writes: the
// client's goroutine waits until the socket takes the replies, so a client that
// does not read holds at most one batch in memory and no more of its commands are
// read meanwhile. With a limit, the write is made in steps of limitStep, and when
// it stalls, the bytes the socket has not taken are held against the limit: past
// it the client is disconnected, as Redis does. Unlike Redis, which goes on
// running a non-reading client's pipelined commands and counts all their
// replies, what is counted here is one batch (the replies of the commands read
// together, at least 64 KB, or one large reply): the commands behind it wait in
// the socket, unread, costing no memory.
func (cw *connWriter) writeLimited(p []byte) (int, error) {
	l := cw.c.s.outputLimits().Normal
	if l.Hard == 0 && l.Soft == 0 {
		return cw.conn.Write(p)
	}
	defer cw.conn.SetWriteDeadline(time.Time{})
	written := 0
	for {
		cw.conn.SetWriteDeadline(time.Now().Add(limitStep))
		n, err := cw.conn.Write(p[written:])
		written += n
		if err == nil {
			cw.st.softSince = time.Time{}
			return written, nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return written, err
		}
		if cw.st.over(cw.c.s.outputLimits().Normal, int64(len(p)-written)) {
			cw.c.s.log.Info("client closed for overcoming of output buffer limits", "id", cw.c.id, "addr", cw.c.addr, "class", "normal")
			cw.c.kill()
			return written, errOutputLimit
		}
	}
}

var errOutputLimit = errors.New("cache: client output buffer limit passed")
