package proxy

import (
	"math/rand/v2"
	"time"
)

// Retries wait before they go: the n-th retry of a request waits a random time between
// half and all of RetryBackoff×2^(n-1), capped at RetryBackoffMax ("equal jitter"). The
// growth gives a struggling upstream room to recover; the randomness keeps the retries of
// many clients that failed together from arriving together again; the floor of half makes
// sure a retry never goes at once. A route's Timeout bounds the whole exchange up to the
// response head, every attempt and wait included: a wait that would end past it is not
// taken, and the client gets 504 at once.

// backoff returns how long the retry-th retry (1 for the first) waits.
func (p *pool) backoff(retry int) time.Duration {
	base, most := p.cfg.RetryBackoff, p.cfg.RetryBackoffMax
	if base <= 0 {
		return 0
	}
	d := base << min(retry-1, 20)
	if d > most || d <= 0 {
		d = most
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// waitRetry waits before the retry-th retry, and reports false, without waiting, when
// the wait would end past the deadline (zero: none).
func (p *pool) waitRetry(retry int, deadline time.Time) bool {
	d := p.backoff(retry)
	if !deadline.IsZero() && time.Until(deadline) <= d {
		return false
	}
	if d > 0 {
		time.Sleep(d)
	}
	return true
}

// setLimit bounds the connection's reads by an absolute deadline as well as by its
// per-read timeout (zero t removes the bound).
func (c *timeoutConn) setLimit(t time.Time) {
	c.limit = t
	switch {
	case !t.IsZero():
		c.setDeadline(t, 0)
	case c.timeout == 0:
		c.setDeadline(time.Time{}, 0)
	}
}
