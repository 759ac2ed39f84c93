package cache

import (
	"net"
	"sort"
	"sync"
	"time"

	"gantry/resp"
)

// pubsub is the server's channel and pattern subscriptions.
type pubsub struct {
	mu       sync.RWMutex // guards the maps
	channels map[string]map[*client]struct{}
	patterns map[string]map[*client]struct{}
}

func newPubsub() *pubsub {
	return &pubsub{channels: make(map[string]map[*client]struct{}), patterns: make(map[string]map[*client]struct{})}
}

// subscriptions is one client's channels and patterns. Only the client's goroutine
// changes it; the server's maps above are what publishers read.
type subscriptions struct {
	channels map[string]struct{}
	patterns map[string]struct{}
	order    []string // the patterns in the order subscribed, as Redis 7.0's list (cmd_pubsub.go)
}

func (ss *subscriptions) count() int { return len(ss.channels) + len(ss.patterns) }

// connWriter is where a client's replies go. Normally replies are written to the
// connection by the client's own goroutine. Once the client subscribes, publishers
// on other goroutines add messages too, so from then on everything is appended to
// a queue that a writer goroutine drains: a publisher never waits for a slow
// subscriber, and a subscriber whose queue passes the pubsub class of
// client-output-buffer-limit is disconnected, as Redis does. Before that, writes
// are checked against the normal class (writeLimited, client.go).
type connWriter struct {
	conn net.Conn
	c    *client

	mu       sync.Mutex // guards the fields below
	queued   bool       // async mode: writes are queued for the writer goroutine
	buf      []byte
	inflight int         // bytes the writer goroutine is writing
	st       outputState // against the limit of the client's class
	wake     chan struct{}
	stopped  chan struct{}
}

func (cw *connWriter) Write(p []byte) (int, error) {
	cw.mu.Lock()
	if !cw.queued {
		cw.mu.Unlock()
		return cw.writeLimited(p)
	}
	cw.enqueueLocked(p)
	cw.mu.Unlock()
	return len(p), nil
}

func (cw *connWriter) async() bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.queued
}

// enqueue adds a message from another goroutine; it reports false when the client
// is over its output limit and has been killed.
func (cw *connWriter) enqueue(p []byte) bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if !cw.queued {
		return false
	}
	return cw.enqueueLocked(p)
}

func (cw *connWriter) enqueueLocked(p []byte) bool {
	if cw.st.over(cw.c.s.outputLimits().Pubsub, int64(len(cw.buf)+cw.inflight+len(p))) {
		cw.c.s.log.Info("client closed for overcoming of output buffer limits", "id", cw.c.id, "addr", cw.c.addr, "class", "pubsub")
		cw.c.kill()
		return false
	}
	cw.buf = append(cw.buf, p...)
	select {
	case cw.wake <- struct{}{}:
	default:
	}
	return true
}

// startAsync switches to queued writes and starts the writer goroutine.
func (cw *connWriter) startAsync() {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.queued {
		return
	}
	cw.queued = true
	cw.st = outputState{}
	cw.wake = make(chan struct{}, 1)
	cw.stopped = make(chan struct{})
	go cw.writeLoop(cw.wake, cw.stopped)
}

func (cw *connWriter) writeLoop(wake, stopped chan struct{}) {
	defer close(stopped)
	var spare []byte
	for range wake {
		cw.mu.Lock()
		data := cw.buf
		cw.buf = spare[:0]
		cw.inflight = len(data)
		cw.mu.Unlock()
		if len(data) > 0 {
			cw.conn.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := cw.conn.Write(data); err != nil {
				cw.c.kill()
			}
		}
		cw.mu.Lock()
		cw.inflight = 0
		cw.mu.Unlock()
		spare = data
	}
}

// stop ends the writer goroutine, if any, after it has written what is queued.
func (cw *connWriter) stop() {
	cw.mu.Lock()
	if !cw.queued {
		cw.mu.Unlock()
		return
	}
	cw.queued = false
	close(cw.wake)
	stopped := cw.stopped
	cw.mu.Unlock()
	<-stopped
}

// messages formats a message in both protocols once, for all subscribers.
type message struct{ resp2, resp3 []byte }

func formatMessage(parts ...[]byte) message {
	var m message
	for _, proto := range []int{2, 3} {
		var b sliceWriter
		w := resp.NewWriter(&b)
		w.Proto = proto
		w.Push(len(parts))
		for _, p := range parts {
			w.Bulk(p)
		}
		w.Flush()
		if proto == 2 {
			m.resp2 = b
		} else {
			m.resp3 = b
		}
	}
	return m
}

type sliceWriter []byte

func (s *sliceWriter) Write(p []byte) (int, error) { *s = append(*s, p...); return len(p), nil }

func (m message) to(c *client) bool { return c.out.enqueue(m.in(c)) }

func (m message) in(c *client) []byte {
	if c.protoNum.Load() == 3 {
		return m.resp3
	}
	return m.resp2
}

// publish sends msg to channel's subscribers and to the clients with a matching
// pattern, and returns how many received it. The messages to the publisher itself
// are returned instead: it writes them among its own replies, so that they keep
// their place after its earlier replies (a SUBSCRIBE's confirmation still
// buffered in a pipeline), as in Redis.
func (ps *pubsub) publish(from *client, channel, msg []byte) (n int64, self [][]byte) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if subs := ps.channels[string(channel)]; len(subs) > 0 {
		m := formatMessage([]byte("message"), channel, msg)
		for c := range subs {
			if c == from {
				n++
				self = append(self, m.in(c))
			} else if m.to(c) {
				n++
			}
		}
	}
	for pat, subs := range ps.patterns {
		if !globMatch([]byte(pat), channel, false) {
			continue
		}
		m := formatMessage([]byte("pmessage"), []byte(pat), channel, msg)
		for c := range subs {
			if c == from {
				n++
				self = append(self, m.in(c))
			} else if m.to(c) {
				n++
			}
		}
	}
	return n, self
}

func (ps *pubsub) add(c *client, name string, pattern bool) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := ps.channels
	if pattern {
		m = ps.patterns
	}
	set := m[name]
	if set == nil {
		set = make(map[*client]struct{})
		m[name] = set
	}
	if _, ok := set[c]; ok {
		return false
	}
	set[c] = struct{}{}
	return true
}

func (ps *pubsub) remove(c *client, name string, pattern bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := ps.channels
	if pattern {
		m = ps.patterns
	}
	if set := m[name]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, name)
		}
	}
}

func (ps *pubsub) unsubscribeAll(c *client) {
	for ch := range c.subs.channels {
		ps.remove(c, ch, false)
	}
	for p := range c.subs.patterns {
		ps.remove(c, p, true)
	}
}

// channelList returns the active channels matching pattern (nil: all), sorted.
func (ps *pubsub) channelList(pattern []byte) []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	var out []string
	for ch := range ps.channels {
		if pattern == nil || globMatch(pattern, []byte(ch), false) {
			out = append(out, ch)
		}
	}
	sort.Strings(out)
	return out
}

func (ps *pubsub) numSub(channel string) int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.channels[channel])
}

func (ps *pubsub) numPat() int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return len(ps.patterns)
}
