package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"gantry/broker/group"
	plog "gantry/broker/log"
)

// Server is a running broker.
type Server struct {
	cfg    Config
	log    *slog.Logger
	topics *topics
	pids   *producerIDs
	m      *metrics
	groups *group.Coordinator

	readBufs bufPool // buffers of fetches' log reads, reused once answered

	ctx    context.Context // ends when Shutdown begins: long polls return early
	cancel context.CancelFunc

	mu       sync.Mutex // protects ln, conns, advHost, advPort, shutdown
	ln       net.Listener
	conns    map[*conn]struct{}
	advHost  string
	advPort  int32
	shutdown bool

	wg    sync.WaitGroup // the accept loop, connections and background loops
	loops sync.Once
}

// New opens the broker's data directory (recovering every partition's log) and
// returns a broker ready to Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m = newMetrics(cfg.Registry)
	if s.m != nil {
		s.cfg.Log.OnSync = s.m.fsync
	}
	ts, err := openTopics(&s.cfg)
	if err != nil {
		return nil, err
	}
	s.topics = ts
	for _, p := range ts.all() {
		s.m.hook(p)
	}
	ts.onUp = s.m.hook
	if s.pids, err = openProducerIDs(cfg.Dir); err != nil {
		ts.close()
		return nil, err
	}
	s.groups, err = group.Open(group.Config{Dir: filepath.Join(cfg.Dir, "groups"), MinSession: cfg.GroupMinSession,
		MaxSession: cfg.GroupMaxSession, InitialDelay: cfg.GroupInitialDelay, Logger: cfg.Logger})
	if err != nil {
		ts.close()
		return nil, err
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(newLagCollector(s))
	}
	if cfg.AdvertisedAddr != "" {
		if err := s.setAdvertised(cfg.AdvertisedAddr); err != nil {
			s.groups.Close()
			ts.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) setAdvertised(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.advHost, s.advPort = host, int32(n)
	s.mu.Unlock()
	return nil
}

func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advHost, s.advPort
}

// Serve accepts connections on ln until ctx ends or Shutdown is called. It returns nil
// after Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return errors.New("broker: Serve after Shutdown")
	}
	s.ln = ln
	if s.advHost == "" {
		s.mu.Unlock()
		if err := s.setAdvertised(ln.Addr().String()); err != nil {
			return err
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	s.loops.Do(func() {
		s.wg.Add(2)
		go s.every(s.cfg.FlushInterval, s.flushDirty)
		go s.every(s.cfg.RetentionCheck, func() { s.RunRetention(time.Now()) })
	})
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.shutdown
			s.mu.Unlock()
			if done {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, lets every connection finish the requests it has read
// (long polls end at once), then syncs and closes every log. When ctx ends first,
// the remaining connections are cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.cancel()
	s.groups.Close() // answers waiting joins and syncs, so that connections can drain

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	if cerr := s.topics.close(); err == nil {
		err = cerr
	}
	return err
}

// every runs f every d until the server closes; one of the server's background loops
// (s.wg counts them).
func (s *Server) every(d time.Duration, f func()) {
	defer s.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// flushDirty syncs each partition with unsynced records (every FlushInterval).
func (s *Server) flushDirty() {
	for _, p := range s.topics.all() {
		if p.log.Dirty() {
			if err := s.sync(p, p.log.EndOffset()); err != nil && s.ctx.Err() == nil && !errors.Is(err, plog.ErrClosed) {
				s.log.Error("flush", "topic", p.topic, "partition", p.index, "err", err)
			}
		}
	}
}

// sync makes p durable below end. (The log reports each fsync's own time to the
// metrics: Config.Log.OnSync.)
func (s *Server) sync(p *partition, end int64) error {
	return p.log.SyncTo(end)
}

// RunRetention applies retention (and compaction, for compacted topics) to every
// partition now, as the background loop does every RetentionCheck.
func (s *Server) RunRetention(now time.Time) {
	for _, p := range s.topics.all() {
		var err error
		compact, deleteRetention := p.cleanup()
		if compact {
			_, err = p.log.Compact(now, deleteRetention)
		} else {
			_, err = p.log.Retain(now)
		}
		if err != nil && s.ctx.Err() == nil && !errors.Is(err, plog.ErrClosed) {
			s.log.Error("retention", "topic", p.topic, "partition", p.index, "compact", compact, "err", err)
		}
		// Retention may delete the segments the producer state was rebuilt from: keep a
		// snapshot of it beside the log.
		if err := p.saveProducers(); err != nil && s.ctx.Err() == nil {
			s.log.Error("producer snapshot", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}
