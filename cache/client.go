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
	sample   uint32     // commands run, for latency sampling
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

// serve reads and runs commands until the client leaves or is killed. A command
// already read (by an event loop that handed the client over) comes in first.
func (c *client) serve(first [][]byte) {
	defer c.cleanup()
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
	if c.aofEnd > 0 {
		// Replies go out only after the writes they acknowledge are logged.
		if err := c.s.aof.sync(c.aofEnd); err != nil {
			c.w.Reset()
			return err
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
