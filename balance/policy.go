package balance

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Hosts is the set of upstream hosts a Policy picks from, as its owner (a proxy's pool) sees
// them at the moment of the pick. Indexes run from 0 to Len()-1 and stay stable for the
// life of the set, so that a policy may keep state per index.
type Hosts interface {
	Len() int
	// Weight is the host's configured weight, at least 1.
	Weight(i int) int
	// Usable reports whether the host may take this request: it is up, not ejected, not
	// drained, and not already tried by this request.
	Usable(i int) bool
	// Load is the number of requests the host has in flight.
	Load(i int) int
}

// A Policy chooses a host for one request. key is the request's hash key for the policies
// that use one (0 otherwise). Pick returns -1 when no host is usable. A Policy is safe for
// concurrent use and is bound to one host set (its per-host state is indexed like it).
type Policy interface {
	Pick(h Hosts, key uint64) int
}

var (
	_ Policy = (*RoundRobin)(nil)
	_ Policy = (*SmoothWeighted)(nil)
	_ Policy = (*LeastConn)(nil)
	_ Policy = (*TwoChoices)(nil)
)

// RoundRobin hands requests to the usable hosts in turn, ignoring weights. The zero value
// is ready to use.
type RoundRobin struct {
	next atomic.Uint64
}

// Pick implements Policy.
func (p *RoundRobin) Pick(h Hosts, _ uint64) int {
	n := h.Len()
	if n == 0 {
		return -1
	}
	start := int(p.next.Add(1) % uint64(n))
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if h.Usable(j) {
			return j
		}
	}
	return -1
}

// SmoothWeighted is nginx's smooth weighted round robin: over any run of sum(weights)
// picks each host is chosen weight times, and the picks of a heavy host are spread out
// rather than bunched (weights 5,1,1 give a a b a c a a). Unusable hosts are left out of
// the round and their share goes to the others. The zero value is ready to use.
type SmoothWeighted struct {
	mu      sync.Mutex
	current []int // current[i] is host i's running score; guarded by mu
}

// Pick implements Policy.
func (p *SmoothWeighted) Pick(h Hosts, _ uint64) int {
	n := h.Len()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.current) != n {
		p.current = make([]int, n)
	}
	best, total := -1, 0
	for i := 0; i < n; i++ {
		if !h.Usable(i) {
			continue
		}
		w := h.Weight(i)
		p.current[i] += w
		total += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	if best >= 0 {
		p.current[best] -= total
	}
	return best
}

// LeastConn picks the usable host with the fewest requests in flight per unit of weight,
// breaking ties in turn so that idle hosts share the work. It is the right policy for
// long-lived requests (streams, WebSockets, long polls), where round robin piles work on
// whichever host happens to hold the long ones. The zero value is ready to use.
type LeastConn struct {
	next atomic.Uint64
}

// Pick implements Policy.
func (p *LeastConn) Pick(h Hosts, _ uint64) int {
	n := h.Len()
	if n == 0 {
		return -1
	}
	start := int(p.next.Add(1) % uint64(n))
	best, bestLoad, bestWeight := -1, 0, 1
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if !h.Usable(j) {
			continue
		}
		load, w := h.Load(j), h.Weight(j)
		// load/w < bestLoad/bestWeight without division.
		if best < 0 || load*bestWeight < bestLoad*w {
			best, bestLoad, bestWeight = j, load, w
		}
	}
	return best
}

// TwoChoices is the power of two random choices: it samples two usable hosts at random
// and takes the one with less load per unit of weight. It comes close to least
// connections without looking at every host, and without the herd that a shared "least"
// causes when many proxies see the same loads. The zero value is ready to use.
type TwoChoices struct{}

// Pick implements Policy.
func (TwoChoices) Pick(h Hosts, _ uint64) int {
	n := h.Len()
	if n == 0 {
		return -1
	}
	a := randomUsable(h, n, -1)
	if a < 0 {
		return -1
	}
	b := randomUsable(h, n, a)
	if b < 0 || h.Load(a)*h.Weight(b) <= h.Load(b)*h.Weight(a) {
		return a
	}
	return b
}

// randomUsable returns a random usable host other than not, trying a few random draws
// and then scanning from a random start, or -1.
func randomUsable(h Hosts, n, not int) int {
	for try := 0; try < 3; try++ {
		i := rand.IntN(n)
		if i != not && h.Usable(i) {
			return i
		}
	}
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		j := (start + i) % n
		if j != not && h.Usable(j) {
			return j
		}
	}
	return -1
}
