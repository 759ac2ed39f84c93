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
	return &pool{slots: make([]slot, 0, pages), index: make(map[pageKey]int, pages)}
}

func (p *pool) get(k pageKey) (*page.Node, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.index[k]
	if !ok {
		return nil, false
	}
	p.slots[i].ref = true
	return p.slots[i].node, true
}

func (p *pool) put(k pageKey, n *page.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.index[k]; ok {
		return
	}
	if len(p.slots) < cap(p.slots) {
		p.index[k] = len(p.slots)
		p.slots = append(p.slots, slot{key: k, node: n})
		return
	}
	for {
		s := &p.slots[p.hand]
		if s.ref {
			s.ref = false
			p.hand = (p.hand + 1) % len(p.slots)
			continue
		}
		if s.node != nil {
			delete(p.index, s.key)
		}
		*s = slot{key: k, node: n}
		p.index[k] = p.hand
		p.hand = (p.hand + 1) % len(p.slots)
		return
	}
}

// drop forgets version k, whose bytes have changed (a checkpoint rewrote the data file).
func (p *pool) drop(k pageKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.index[k]; ok {
		delete(p.index, k)
		p.slots[i] = slot{}
	}
}

func (p *pool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.index)
}

// rekey renames version from to, dropping any entry already called to: a checkpoint that
// restarts the log turns the newest log version of a page into the data file's copy.
func (p *pool) rekey(from, to pageKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.index[from]
	if !ok {
		return
	}
	if j, ok := p.index[to]; ok {
		p.slots[j] = slot{}
	}
	delete(p.index, from)
	p.slots[i].key = to
	p.index[to] = i
}
