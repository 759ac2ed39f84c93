package cache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gantry/resp"
)

// Server is a Redis-protocol cache server.
type Server struct {
	log  *slog.Logger
	ks   *keyspace
	cmds map[string]*command
	dbs  int
	lim  resp.Limits

	cfgMu sync.RWMutex // guards cfg's settable fields (CONFIG SET)
	cfg   Config

	mu      sync.Mutex // guards the fields below
	clients map[int64]*client
	lns     map[net.Listener]struct{}
	closed  bool

	wg          sync.WaitGroup // connections, event loops and the expiry loop
	done        chan struct{}  // closed by Shutdown
	stopReq     chan struct{}  // closed by the SHUTDOWN command
	stopReqOnce sync.Once
	lastSave    atomic.Int64 // Unix seconds of the last SAVE or rewrite (LASTSAVE)
	stopOnce    sync.Once
	start       time.Time
	nextID      atomic.Int64

	conns    atomic.Int64 // connections accepted
	rejected atomic.Int64 // connections refused at maxclients
	cmdList  []*command   // by id
	retired  *counters    // the counts of closed clients (guarded by mu)
	pubsub   *pubsub
	blocked  atomic.Int64 // clients waiting in a blocking command
	lfu      atomic.Bool  // the policy is an LFU one: count accesses
	// aof is the append-only file, nil when appendonly is off. CONFIG SET
	// appendonly changes it with every shard locked (setAppendOnly), so a
	// command that holds its shards sees one value throughout; it is atomic for the
	// checks made before a command locks anything.
	aof       atomic.Pointer[aof]
	aofSwitch sync.Mutex // serialises setAppendOnly

	// The event loops (loop_linux.go), started with the first connection they
	// serve; guarded by mu until then.
	loops       []*loop
	loopsFailed bool // they could not start: goroutines serve every connection
	nextLoop    atomic.Uint32
	// baseProcs is GOMAXPROCS before the loops set it (cfg.GoMaxProcs), put
	// back at Shutdown; 0 when they did not.
	baseProcs int

	// Copies of cfg.MaxMemory and cfg.Timeout read on every command or flush:
	// an atomic load shares nothing, where RLock writes the lock's reader count.
	maxMemory atomic.Int64
	timeout   atomic.Int64
	// outLimits is client-output-buffer-limit, replaced whole by CONFIG SET.
	outLimits atomic.Pointer[OutputLimits]

	// baseMemoryLimit is the runtime's memory limit before New (math.MaxInt64
	// unless GOMEMLIMIT is set), restored at maxmemory 0 and at Shutdown when
	// cfg.GoMemoryLimit is on.
	baseMemoryLimit int64

	// latency is a histogram of command run times (lock wait included, network
	// excluded), one observer per command id, fed by one command in sampleEvery.
	latencyVec *prometheus.HistogramVec
	latency    []prometheus.Observer
}

// sampleEvery is how often a client times a command: reading the clock twice per
// command would cost a few percent of the hot path.
const sampleEvery = 64

// New returns a Server with the given configuration, or an error that says what
// is wrong with it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:     cfg.Logger,
		cfg:     cfg,
		dbs:     cfg.Databases,
		lim:     cfg.Limits,
		ks:      newKeyspace(cfg.Databases),
		clients: make(map[int64]*client),
		lns:     make(map[net.Listener]struct{}),
		done:    make(chan struct{}),
		stopReq: make(chan struct{}),
		start:   time.Now(),
		pubsub:  newPubsub(),
	}
	s.cmds, s.cmdList = commandTable()
	s.lastSave.Store(s.start.Unix())
	s.latencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_cache_command_duration_seconds",
		Help:    "Time to run a command, from a sample of one command in 64 per client.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
	}, []string{"command"})
	s.latency = make([]prometheus.Observer, len(s.cmdList))
	for i, cmd := range s.cmdList {
		s.latency[i] = s.latencyVec.WithLabelValues(cmd.name)
	}
	s.maxMemory.Store(cfg.MaxMemory)
	s.timeout.Store(int64(cfg.Timeout))
	def := defaultOutputLimits(cfg.OutputBufferLimit)
	if cfg.OutputLimits.Replica == (OutputLimit{}) {
		cfg.OutputLimits.Replica = def.Replica
	}
	if cfg.OutputLimits.Pubsub == (OutputLimit{}) {
		cfg.OutputLimits.Pubsub = def.Pubsub
	}
	s.cfg.OutputLimits = cfg.OutputLimits
	s.outLimits.Store(&cfg.OutputLimits)
	s.baseMemoryLimit = debug.SetMemoryLimit(-1)
	s.retired = newCounters(len(s.cmdList))
	s.lfu.Store(strings.HasSuffix(cfg.MaxMemoryPolicy, "lfu"))
	if cfg.AppendOnly {
		loader := s.loaderClient()
		a, err := openAOF(cfg.Dir, cfg.AppendFsync, s.log, func(args [][]byte) {
			loader.exec(args)
			loader.w.Reset()
		})
		if err != nil {
			return nil, err
		}
		s.aof.Store(a)
		s.runAOF(a, cfg.AOFRewriteMinSize)
	}
	s.cfgMu.Lock()
	s.applyMemoryLimit(cfg.MaxMemory)
	s.cfgMu.Unlock()
	s.wg.Add(1)
	go s.expireLoop()
	return s, nil
}

// loaderClient is a client without a connection that replays the append-only file.
func (s *Server) loaderClient() *client {
	c := &client{s: s, authed: true, quit: make(chan struct{}), staleNow: true, stats: newCounters(len(s.cmdList)), loading: true}
	c.w = resp.NewWriter(io.Discard)
	c.protoNum.Store(2)
	c.multiN.Store(-1)
	return c
}

// Serve accepts connections on ln until ctx ends, Shutdown is called or a client
// sends SHUTDOWN. It returns nil after Shutdown or SHUTDOWN (whose caller should
// then call Shutdown) and ctx's error when ctx ends first.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	go func() {
		select {
		case <-s.stopReq:
			ln.Close()
		case <-s.done:
		}
	}()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			case <-s.stopReq:
				return nil
			default:
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // out of file descriptors: back off as net/http does
				continue
			}
			return err
		}
		delay = 0
		s.accept(conn)
	}
}

// accept starts serving conn, or refuses it at maxclients. An ordinary
// connection goes to an event loop where there are loops (Linux), else to a
// goroutine of its own.
func (s *Server) accept(conn net.Conn) {
	s.cfgMu.RLock()
	maxClients, goroutine, loops, setProcs := s.cfg.MaxClients, s.cfg.GoroutinePerConn, s.cfg.EventLoops, s.cfg.GoMaxProcs
	s.cfgMu.RUnlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	if len(s.clients) >= maxClients {
		s.mu.Unlock()
		s.rejected.Add(1)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(conn, "-ERR max number of clients reached\r\n")
		conn.Close()
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	inLoop := false
	if !goroutine && !s.loopsFailed && s.startLoops(loops, setProcs) {
		conn, inLoop = adoptConn(conn)
	}
	c := newClient(s, conn)
	s.clients[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.conns.Add(1)
	if inLoop {
		s.serveLoop(c)
		return
	}
	go func() {
		if !c.serve(nil) {
			s.finish(c)
		}
	}()
}

// finish forgets a client whose connection is closed.
func (s *Server) finish(c *client) {
	s.mu.Lock()
	delete(s.clients, c.id)
	c.stats.addTo(s.retired)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, closes every connection and waits for their
// goroutines until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done)
		for ln := range s.lns {
			ln.Close()
		}
		for _, c := range s.clients {
			c.kill()
		}
		s.wakeLoops()
		if s.baseProcs != 0 {
			runtime.GOMAXPROCS(s.baseProcs)
		}
		s.mu.Unlock()
		s.cfgMu.Lock()
		s.applyMemoryLimit(0)
		s.cfg.GoMemoryLimit = false // a CONFIG SET racing Shutdown leaves it alone
		s.cfgMu.Unlock()
	})
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		return ctx.Err()
	}
	if a := s.aof.Load(); a != nil {
		return a.close()
	}
	return nil
}

// expireLoop runs the active expiry ten times a second, as Redis's hz 10 does,
// each cycle taking at most a quarter of its 100 ms.
func (s *Server) expireLoop() {
	defer s.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.ks.activeExpire(now.UnixMilli(), 25*time.Millisecond)
		}
	}
}

// config returns a copy of the settable configuration.
func (s *Server) config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Clients       int
	Connections   int64 // accepted since start
	Rejected      int64 // refused at maxclients
	Commands      int64
	Hits, Misses  int64
	Expired       int64
	Evicted       int64
	UsedMemory    int64 // bytes accounted to keys
	CommandCounts map[string]int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	sum := newCounters(len(s.cmdList))
	s.mu.Lock()
	n := len(s.clients)
	s.retired.addTo(sum)
	for _, c := range s.clients {
		c.stats.addTo(sum)
	}
	s.mu.Unlock()
	st := Stats{
		Clients: n, Connections: s.conns.Load(), Rejected: s.rejected.Load(),
		Commands: sum.cmds.Load(), Hits: sum.hits.Load(), Misses: sum.misses.Load(),
		Expired: s.ks.expired.Load(), Evicted: s.ks.evicted.Load(), UsedMemory: s.ks.usedMemory(),
		CommandCounts: make(map[string]int64),
	}
	for i, cmd := range s.cmdList {
		if v := sum.calls[i].Load(); v > 0 {
			st.CommandCounts[cmd.name] = v
		}
	}
	return st
}
