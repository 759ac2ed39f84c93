package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gantry/balance"
)

// upstream is one host of a pool: its address, its keep-alive connections, and the state
// that balancing and outlier ejection read.
type upstream struct {
	addr   string // host:port to dial
	weight int
	tls    *tls.Config // nil: plain TCP
	h2     *h2Client   // the host's HTTP/2 client, in an h2 pool; else nil
	backup bool
	pool   *pool

	mu   sync.Mutex
	idle []*upConn // keep-alive connections, most recently used last; guarded by mu

	inflight     atomic.Int64
	open         atomic.Int64 // connections open, idle or busy
	loopIdle     atomic.Int64 // idle connections held by event loops (loop_linux.go)
	fails        atomic.Int32 // consecutive failures
	ejectedUntil atomic.Int64 // unix nanoseconds; the host is skipped until then
	ejections    atomic.Int32 // how many times in a row it was ejected
	drained      atomic.Bool
	stickyID     string      // the host's sticky cookie value
	unhealthy    atomic.Bool // failed its active health check
	// Counters of the health check, touched only by the pool's checker goroutine.
	checkPasses, checkFails int

	requests, failures, ejected atomic.Uint64 // counters for metrics
	answers                     statusCounts  // its responses forwarded to clients, by status class
}

// upConn is one connection to an upstream host with its buffers.
type upConn struct {
	conn      *timeoutConn
	br        *bufio.Reader
	bw        *bufio.Writer
	host      *upstream
	idleSince time.Time
	reused    bool // it served a request before this one
}

// timeoutConn sets a read deadline before each Read, so that a timeout bounds the silence
// between bytes rather than a whole response: a long but live stream is not cut.
// Moving a deadline costs a timer update, so a deadline within a sixteenth of the
// timeout of the wanted one is left alone.
type timeoutConn struct {
	net.Conn
	timeout  time.Duration // 0: no per-read deadline
	deadline time.Time     // the read deadline last set
	limit    time.Time     // no read past this (a route's total timeout); zero: none
}

func (c *timeoutConn) Read(p []byte) (int, error) {
	if c.timeout > 0 {
		if t := time.Now().Add(c.timeout); c.limit.IsZero() || t.Before(c.limit) {
			c.setDeadline(t, c.timeout/16)
		} else {
			c.setDeadline(c.limit, 0)
		}
	}
	return c.Conn.Read(p)
}

// setDeadline sets the read deadline to t, unless t and the current deadline are both
// set and less than slack apart. Every deadline change on the connection by its own
// goroutine goes through here, so that the remembered deadline is the real one.
func (c *timeoutConn) setDeadline(t time.Time, slack time.Duration) {
	if slack > 0 && !t.IsZero() && !c.deadline.IsZero() {
		if d := c.deadline.Sub(t); d < slack && d > -slack {
			return
		}
	}
	c.deadline = t
	c.Conn.SetReadDeadline(t)
}

// up reports whether the host takes traffic now.
func (u *upstream) up(now int64) bool {
	return !u.drained.Load() && !u.unhealthy.Load() && now >= u.ejectedUntil.Load()
}

// get returns a keep-alive connection to the host, or dials a new one.
func (u *upstream) get(ctx context.Context) (*upConn, error) {
	now := time.Now()
	u.mu.Lock()
	for len(u.idle) > 0 {
		uc := u.idle[len(u.idle)-1]
		u.idle[len(u.idle)-1] = nil
		u.idle = u.idle[:len(u.idle)-1]
		if now.Sub(uc.idleSince) < u.pool.cfg.IdleTimeout {
			u.mu.Unlock()
			uc.reused = true
			return uc, nil
		}
		u.mu.Unlock()
		uc.close()
		u.mu.Lock()
	}
	u.mu.Unlock()
	return u.dial(ctx)
}

func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	c, err := u.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	u.open.Add(1)
	tc := &timeoutConn{Conn: c, timeout: u.pool.cfg.ReadTimeout}
	return &upConn{
		conn: tc,
		br:   bufio.NewReaderSize(tc, u.pool.srv.cfg.MaxHeaderBytes),
		bw:   bufio.NewWriterSize(tc, 8<<10),
		host: u,
	}, nil
}

// put gives a connection whose last exchange ended cleanly back to the idle list.
func (u *upstream) put(uc *upConn) {
	u.putUpTo(uc, u.pool.cfg.MaxIdlePerHost)
}

// putUpTo keeps uc idle unless the host already has limit idle connections, or takes no
// more traffic; otherwise it closes uc.
func (u *upstream) putUpTo(uc *upConn, limit int) {
	uc.idleSince = time.Now()
	u.mu.Lock()
	if len(u.idle) < limit && !u.drained.Load() && !u.pool.retired.Load() {
		u.idle = append(u.idle, uc)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	uc.close()
}

func (uc *upConn) close() {
	uc.conn.Close()
	uc.host.open.Add(-1)
}

// closeIdle closes idle connections older than maxAge (all of them when maxAge is 0).
func (u *upstream) closeIdle(maxAge time.Duration) {
	now := time.Now()
	u.mu.Lock()
	keep := u.idle[:0]
	var stale []*upConn
	for _, uc := range u.idle {
		if maxAge > 0 && now.Sub(uc.idleSince) < maxAge {
			keep = append(keep, uc)
		} else {
			stale = append(stale, uc)
		}
	}
	for i := len(keep); i < len(u.idle); i++ {
		u.idle[i] = nil
	}
	u.idle = keep
	u.mu.Unlock()
	for _, uc := range stale {
		uc.close()
	}
	if maxAge == 0 && u.h2 != nil {
		u.h2.CloseIdleConnections()
	}
}

// succeeded and failed feed passive outlier ejection: a host that fails
// EjectAfter times in a row (connection errors, timeouts, 5xx) is ejected for
// EjectBase, doubled for each ejection in a row up to 32×, unless that would eject more
// than MaxEjectPercent of the pool.
func (u *upstream) succeeded() {
	if u.fails.Load() != 0 {
		u.fails.Store(0)
	}
	if u.ejections.Load() != 0 {
		u.ejections.Store(0)
	}
}

func (u *upstream) failed() {
	u.failures.Add(1)
	cfg := &u.pool.cfg
	if cfg.EjectAfter <= 0 || int(u.fails.Add(1)) < cfg.EjectAfter {
		return
	}
	p := u.pool
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	now := time.Now().UnixNano()
	if now < u.ejectedUntil.Load() {
		return
	}
	ejected := 0
	for _, h := range p.all {
		if now < h.ejectedUntil.Load() {
			ejected++
		}
	}
	if (ejected+1)*100 > cfg.MaxEjectPercent*len(p.all) {
		return
	}
	k := min(u.ejections.Add(1)-1, 5)
	u.ejectedUntil.Store(now + int64(cfg.EjectBase)<<k)
	u.fails.Store(0)
	u.ejected.Add(1)
	p.srv.log.Warn("proxy: upstream ejected", "pool", p.name, "host", u.addr,
		"for", (cfg.EjectBase << k).String())
}

// pool is a named set of upstream hosts with a balancing policy. Backup hosts take
// traffic only when no primary host is usable.
type pool struct {
	name       string
	cfg        PoolConfig
	srv        *Server
	primary    hostSet
	backup     hostSet
	all        []*upstream
	policy     balance.Policy
	backupPick balance.Policy
	hash       balance.Hash   // ring_hash and maglev pools: key → host address
	byAddr     map[string]int // host address → index in primary
	hashKey    hashKey
	stickyIdx  map[string]int // sticky cookie value → index in primary

	loopable bool // HTTP/1.1 over plain TCP: an event loop may serve its requests

	ejectMu sync.Mutex  // serialises ejection decisions
	retired atomic.Bool // a reload replaced the pool: connections are not kept

	// The retry budget: every request adds RetryBudget tokens (in thousandths), every
	// retry spends one whole token, and the bucket holds at most retryBurst tokens. Retries
	// thus stay under RetryBudget of requests over time and cannot amplify an outage.
	retryTokens atomic.Int64
	retries     atomic.Uint64
	budgetOut   atomic.Uint64 // retries refused for want of budget
	noHost      atomic.Uint64 // requests answered 503 because no host was usable
	breakerOpen atomic.Uint64 // requests answered 503 because every usable host was full
}

const retryBurst = 10 * 1000

func (p *pool) depositRetryToken() {
	if p.retryTokens.Load() < retryBurst {
		p.retryTokens.Add(int64(p.cfg.RetryBudget * 1000))
	}
}

func (p *pool) takeRetryToken() bool {
	if p.retryTokens.Add(-1000) >= 0 {
		p.retries.Add(1)
		return true
	}
	p.retryTokens.Add(1000)
	p.budgetOut.Add(1)
	return false
}

// hostSet is a list of hosts seen through balance.Hosts.
type hostSet []*upstream

// pickView is one request's view of a host set for a policy: it hides the hosts the
// request has already tried. It lives in the per-connection state so picking allocates
// nothing.
type pickView struct {
	set   hostSet
	tried uint64 // bit i: host i was tried (hosts past 64 cannot be excluded, only re-picked)
	now   int64
}

func (v *pickView) Len() int         { return len(v.set) }
func (v *pickView) Weight(i int) int { return v.set[i].weight }
func (v *pickView) Load(i int) int   { return int(v.set[i].inflight.Load()) }
func (v *pickView) Usable(i int) bool {
	if i < 64 && v.tried&(1<<i) != 0 {
		return false
	}
	u := v.set[i]
	if m := u.pool.cfg.MaxRequestsPerHost; m > 0 && u.inflight.Load() >= int64(m) {
		return false
	}
	return u.up(v.now)
}

// full reports whether some host is up but at its MaxRequestsPerHost: a failed pick
// then means "busy", not "down".
func (p *pool) full() bool {
	m := p.cfg.MaxRequestsPerHost
	if m <= 0 {
		return false
	}
	now := nowNano()
	for _, u := range p.all {
		if u.up(now) && u.inflight.Load() >= int64(m) {
			return true
		}
	}
	return false
}

// pick chooses a host for a request, primaries first, then backups. tried holds the
// hosts already tried by this request (by pointer) and is updated. For a hashing pool,
// key is the request's key: it goes to the host the hash names, or when that host is not
// usable, to the host a re-hash names (so a key's second choice is stable too), and only
// then to whichever host the fallback policy picks. sticky is the value of the pool's
// sticky cookie, if the request has one: a usable primary it names comes first.
func (p *pool) pick(v *pickView, triedP, triedB *uint64, key, sticky []byte) *upstream {
	v.now = time.Now().UnixNano()
	v.set, v.tried = p.primary, *triedP
	if p.cfg.StickyCookie != "" && sticky != nil {
		if i, ok := p.stickyIdx[string(sticky)]; ok && v.Usable(i) {
			if i < 64 {
				*triedP |= 1 << i
			}
			return p.primary[i]
		}
	}
	if p.hash != nil && key != nil {
		k := string(key)
		for try := 0; try < 4; try++ {
			if i, ok := p.byAddr[p.hash.Get(k)]; ok && v.Usable(i) {
				if i < 64 {
					*triedP |= 1 << i
				}
				return p.primary[i]
			}
			k += "#"
		}
	}
	if i := p.policy.Pick(v, 0); i >= 0 {
		if i < 64 {
			*triedP |= 1 << i
		}
		return p.primary[i]
	}
	if len(p.backup) == 0 {
		return nil
	}
	v.set, v.tried = p.backup, *triedB
	if i := p.backupPick.Pick(v, 0); i >= 0 {
		if i < 64 {
			*triedB |= 1 << i
		}
		return p.backup[i]
	}
	return nil
}

// noPick counts and names why pick found no host, for a request with no earlier error
// to report instead: every usable host at its request limit (the breaker), or none usable.
func (p *pool) noPick() *statusError {
	if p.full() {
		p.breakerOpen.Add(1)
		return errAtCapacity
	}
	p.noHost.Add(1)
	return errNoUpstream
}

// hashKey says what a hashing pool hashes: the client IP, a header or a cookie.
type hashKey struct {
	kind int // hashClientIP, hashHeader, hashCookie
	name string
}

const (
	hashClientIP = iota
	hashHeader
	hashCookie
)

func parseHashKey(s string) (hashKey, bool) {
	switch {
	case s == "" || s == "client_ip":
		return hashKey{kind: hashClientIP}, true
	case strings.HasPrefix(s, "header:") && isToken([]byte(s[7:])):
		return hashKey{hashHeader, strings.ToLower(s[7:])}, true
	case strings.HasPrefix(s, "cookie:") && isToken([]byte(s[7:])):
		return hashKey{hashCookie, s[7:]}, true
	}
	return hashKey{}, false
}

// key returns the bytes a request is hashed on, or nil when it has none (the request
// then goes where the fallback policy sends it).
func (k hashKey) key(h *head, remote []byte) []byte {
	switch k.kind {
	case hashHeader:
		return h.get(k.name)
	case hashCookie:
		for i := range h.fields {
			if f := &h.fields[i]; equalFold(f.name, "cookie") {
				if v := cookieValue(f.value, k.name); v != nil {
					return v
				}
			}
		}
		return nil
	}
	return remote
}

// cookieValue finds name=value in a Cookie field (RFC 6265 section 5.4).
func cookieValue(v []byte, name string) []byte {
	for len(v) > 0 {
		var pair []byte
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			pair, v = trimOWS(v[:i]), v[i+1:]
		} else {
			pair, v = trimOWS(v), nil
		}
		if eq := bytes.IndexByte(pair, '='); eq > 0 && string(pair[:eq]) == name {
			return pair[eq+1:]
		}
	}
	return nil
}

// newPolicy returns the policy a pool configuration names; hashing pools fall back to
// smooth weighted round robin for requests without a key.
func newPolicy(name string) balance.Policy {
	switch name {
	case "round_robin":
		return &balance.RoundRobin{}
	case "least_conn":
		return &balance.LeastConn{}
	case "two_choices":
		return balance.TwoChoices{}
	default: // "weighted_round_robin", the default
		return &balance.SmoothWeighted{}
	}
}

func nowNano() int64 { return time.Now().UnixNano() }

// buildHash sets up a ring_hash or maglev pool over its primary hosts.
func (p *pool) buildHash() error {
	p.hashKey, _ = parseHashKey(p.cfg.HashKey)
	p.byAddr = make(map[string]int, len(p.primary))
	var nodes []balance.Node
	var names []string
	for i, u := range p.primary {
		p.byAddr[u.addr] = i
		nodes = append(nodes, balance.Node{Name: u.addr, Weight: u.weight})
		names = append(names, u.addr)
	}
	if p.cfg.Policy == "maglev" {
		m, err := balance.NewMaglev(names, 0)
		if err != nil {
			return err
		}
		p.hash = m
		return nil
	}
	p.hash = balance.NewRing(nodes, 0)
	return nil
}

// buildSticky names each primary host for the sticky cookie: a hash of its address, so
// that the value reveals nothing and stays the same across restarts and reloads.
func (p *pool) buildSticky() {
	p.stickyIdx = make(map[string]int, len(p.primary))
	for i, u := range p.primary {
		u.stickyID = strconv.FormatUint(balance.Sum64(u.addr), 36)
		p.stickyIdx[u.stickyID] = i
	}
}

// stickyValue returns the request's sticky cookie value for pool p, or nil.
func (p *pool) stickyValue(h *head) []byte {
	if p.cfg.StickyCookie == "" {
		return nil
	}
	for i := range h.fields {
		if f := &h.fields[i]; equalFold(f.name, "cookie") {
			if v := cookieValue(f.value, p.cfg.StickyCookie); v != nil {
				return v
			}
		}
	}
	return nil
}
