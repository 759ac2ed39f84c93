package store

import (
	"sync"

	"gantry/store/page"
)

// pageKey names one version of a page: the LSN of the log frame it came from, or 0 for
// the copy in the data file.
type pageKey struct {
	pgno uint32
	lsn  uint64
}

// pool is the buffer pool: a bounded cache of decoded, checked, committed page versions
// with CLOCK (second-chance) eviction.
//
// It holds only clean pages. A writer's dirty pages live in its own commit (no-steal), and
// a cached node is immutable, so eviction never invalidates a node a transaction still uses:
// the transaction's reference keeps it alive. That is why there are no pin counts here: in
// an engine that reuses frame memory, a pin stops the frame being overwritten while read;
// here a frame's memory is never reused, only dropped from the map.
type pool struct {
	shards [poolShards]poolShard
}

// poolShards splits the pool by page number so that concurrent readers rarely meet on
// one mutex. Each shard runs its own CLOCK over its share of the capacity.
const poolShards = 16

type poolShard struct {
	mu    sync.Mutex // guards everything below
	slots []slot
	index map[pageKey]int
	hand  int
}

type slot struct {
	key  pageKey
	node *page.Node
	ref  bool // referenced since the hand last passed
}

func newPool(pages int) *pool {
	p := &pool{}
	per := max(1, pages/poolShards)
	for i := range p.shards {
		p.shards[i] = poolShard{slots: make([]slot, 0, per), index: make(map[pageKey]int, per)}
	}
	return p
}

func (p *pool) shard(k pageKey) *poolShard { return &p.shards[k.pgno%poolShards] }

func (p *pool) get(k pageKey) (*page.Node, bool) {
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[k]
	if !ok {
		return nil, false
	}
	s.slots[i].ref = true
	return s.slots[i].node, true
}

func (p *pool) put(k pageKey, n *page.Node) {
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[k]; ok {
		return
	}
	if len(s.slots) < cap(s.slots) {
		s.index[k] = len(s.slots)
		s.slots = append(s.slots, slot{key: k, node: n})
		return
	}
	for {
		sl := &s.slots[s.hand]
		if sl.ref {
			sl.ref = false
			s.hand = (s.hand + 1) % len(s.slots)
			continue
		}
		if sl.node != nil {
			delete(s.index, sl.key)
		}
		*sl = slot{key: k, node: n}
		s.index[k] = s.hand
		s.hand = (s.hand + 1) % len(s.slots)
		return
	}
}

// drop forgets version k, whose bytes have changed (a checkpoint rewrote the data file).
func (p *pool) drop(k pageKey) {
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[k]; ok {
		delete(s.index, k)
		s.slots[i] = slot{}
	}
}

// rekey renames version from to (same page), dropping any entry already called to: a
// checkpoint that restarts the log turns the newest log version of a page into the data
// file's copy.
func (p *pool) rekey(from, to pageKey) {
	s := p.shard(from)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[from]
	if !ok {
		return
	}
	if j, ok := s.index[to]; ok {
		s.slots[j] = slot{}
		delete(s.index, to)
	}
	delete(s.index, from)
	s.slots[i].key = to
	s.index[to] = i
}

func (p *pool) len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}
