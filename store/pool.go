package store

import (
	"sync"
	"sync/atomic"

	"gantry/store/page"
)

// pageKey names one version of a page: the LSN of the log frame it came from, or 0 for
// the copy in the data file.
type pageKey struct {
	pgno uint32
	lsn  uint64
}

// cached is one page version in the buffer pool. The node is held inline, and what a
// reader touches (key, ref, node.Raw) sits in its first 48 bytes: a page-table hit costs one
// cache miss here, not one for the entry and another for a separately allocated Node.
type cached struct {
	key  pageKey
	ref  atomic.Bool // referenced since the CLOCK hand last passed
	node page.Node
}

func newCached(k pageKey, n *page.Node) *cached { return &cached{key: k, node: *n} }

// touch marks c referenced. It writes only when the bit is clear, so that readers hitting
// the same hot page (the root) do not keep stealing its cache line from each other.
func (c *cached) touch() {
	if !c.ref.Load() {
		c.ref.Store(true)
	}
}

// pool is the buffer pool: a bounded cache of decoded, checked, committed page versions
// with CLOCK (second-chance) eviction.
//
// It holds only clean pages. A writer's dirty pages live in its own commit (no-steal), and
// a cached node is immutable, so eviction never invalidates a node a transaction still uses:
// the transaction's reference keeps it alive. That is why there are no pin counts here: in
// an engine that reuses frame memory, a pin stops the frame being overwritten while read;
// here a frame's memory is never reused, only dropped from the map. What a checkpoint
// overwrites on disk (a page's copy in the data file, a slot of the side file) is guarded
// one level up, by the snapshot counts: a version an open snapshot reads is saved aside
// and published before its copy in the data file is overwritten, and a side slot is only
// reused once no snapshot reads it (DB.checkpointLocked).
//
// The versions readers want nearly always (a page's data-file copy, and its newest log
// version) are also published in the page table, where a reader finds them with a few
// atomic loads and no lock; the shards' maps hold every version and run the eviction.
type pool struct {
	table  *pageTable
	shards [poolShards]poolShard
}

// poolShards splits the pool by page number so that concurrent misses rarely meet on one
// mutex. Each shard runs its own CLOCK over its share of the capacity.
const poolShards = 16

type poolShard struct {
	mu    sync.Mutex // guards everything below
	slots []*cached  // nil: an empty slot (a dropped version)
	index map[pageKey]int
	hand  int
}

func newPool(pages int, t *pageTable) *pool {
	p := &pool{table: t}
	per := max(1, pages/poolShards)
	for i := range p.shards {
		p.shards[i] = poolShard{slots: make([]*cached, 0, per), index: make(map[pageKey]int, per)}
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
	s.slots[i].touch()
	return &s.slots[i].node, true
}

// put caches version k of a page and publishes it in the page table when it is the
// data-file copy or, as top says, the page's newest log version. It returns the cached
// copy of the node.
func (p *pool) put(k pageKey, n *page.Node, top bool) *page.Node {
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := (*cached)(nil), false
	if i, found := s.index[k]; found {
		c, ok = s.slots[i], true
	}
	if !ok {
		c = newCached(k, n)
		s.insert(p.table, c)
	}
	if k.lsn == 0 || top {
		e := p.table.ensure(k.pgno)
		if k.lsn == 0 {
			e.base.Store(c)
		} else {
			e.top.Store(c)
		}
	}
	return &c.node
}

func (s *poolShard) insert(t *pageTable, c *cached) {
	if len(s.slots) < cap(s.slots) {
		s.index[c.key] = len(s.slots)
		s.slots = append(s.slots, c)
		return
	}
	for {
		old := s.slots[s.hand]
		if old != nil && old.ref.Load() {
			old.ref.Store(false)
			s.hand = (s.hand + 1) % len(s.slots)
			continue
		}
		if old != nil {
			delete(s.index, old.key)
			t.unpublish(old)
		}
		s.slots[s.hand] = c
		s.index[c.key] = s.hand
		s.hand = (s.hand + 1) % len(s.slots)
		return
	}
}

// drop forgets version k, whose bytes have changed (a checkpoint rewrote the data file).
func (p *pool) drop(k pageKey) {
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(p.table, k)
}

func (s *poolShard) remove(t *pageTable, k pageKey) {
	if i, ok := s.index[k]; ok {
		delete(s.index, k)
		t.unpublish(s.slots[i])
		s.slots[i] = nil
	}
}

// rekey renames version from to (same page), dropping any entry already called to: a
// checkpoint that lets the log go turns the newest log version of a page into the data
// file's copy.
func (p *pool) rekey(from, to pageKey) {
	s := p.shard(from)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[from]
	if !ok {
		return
	}
	s.remove(p.table, to)
	c := s.slots[i]
	delete(s.index, from)
	t := p.table.entry(from.pgno)
	if t != nil {
		t.top.CompareAndSwap(c, nil)
		t.prev.CompareAndSwap(c, nil)
	}
	nc := newCached(to, &c.node)
	s.slots[i] = nc
	s.index[to] = i
	if to.lsn == 0 && t != nil {
		t.base.Store(nc)
	}
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

// pageTable is indexed by page number. For each page it holds the LSNs of its frames in
// the log and the pool's versions that readers want most: the data-file copy and the
// newest log version. A reader resolves and finds a cached page with atomic loads only.
//
// Writers: lsns grow in Tx.apply and are cleared when a checkpoint lets the log go, both under
// DB.idxMu held exclusively; base and top change under the pool shard's lock. A reader
// that finds nothing here takes the slow path in DB.load (idxMu shared, the pool's map).
type pageTable struct {
	chunks atomic.Pointer[[]*tableChunk]
	growMu sync.Mutex // serialises growth
}

type tableEntry struct {
	// lsns are the page's frames in the log, ascending. An append writes past the end of
	// the slice a reader may hold, then publishes the longer slice, so a reader's copy
	// never changes under it.
	lsns atomic.Pointer[[]uint64]
	base atomic.Pointer[cached] // the data-file copy, if cached
	top  atomic.Pointer[cached] // the newest log version, if cached
	// prev is the log version just before top, if it was cached when the commit of top
	// recorded its frame: what readers one commit behind want while a writer commits
	// (readers take it only when top is set: then prev, if set, is top's predecessor).
	prev atomic.Pointer[cached]
}

const chunkBits = 10

type tableChunk [1 << chunkBits]tableEntry

// entry returns page pgno's entry, or nil if the table does not reach it yet.
func (t *pageTable) entry(pgno uint32) *tableEntry {
	cs := t.chunks.Load()
	if cs == nil {
		return nil
	}
	i := int(pgno >> chunkBits)
	if i >= len(*cs) {
		return nil
	}
	return &(*cs)[i][pgno&(1<<chunkBits-1)]
}

// ensure returns page pgno's entry, growing the table to reach it. Callers pass only
// page numbers that exist (read from the file, or allocated by a commit).
func (t *pageTable) ensure(pgno uint32) *tableEntry {
	if e := t.entry(pgno); e != nil {
		return e
	}
	t.growMu.Lock()
	defer t.growMu.Unlock()
	if e := t.entry(pgno); e != nil {
		return e
	}
	var old []*tableChunk
	if cs := t.chunks.Load(); cs != nil {
		old = *cs
	}
	n := int(pgno>>chunkBits) + 1
	cs := make([]*tableChunk, len(old), max(n, 2*len(old)))
	copy(cs, old)
	for len(cs) < n {
		cs = append(cs, new(tableChunk))
	}
	t.chunks.Store(&cs)
	return t.entry(pgno)
}

// unpublish removes c from the table if it is there (c left the pool).
func (t *pageTable) unpublish(c *cached) {
	if e := t.entry(c.key.pgno); e != nil {
		e.base.CompareAndSwap(c, nil)
		e.top.CompareAndSwap(c, nil)
		e.prev.CompareAndSwap(c, nil)
	}
}

// version returns the LSN of the newest frame of e's page at or below mark, 0 for the
// data-file copy, and whether that frame is the page's newest.
func (e *tableEntry) version(mark uint64) (lsn uint64, newest bool) {
	if e == nil {
		return 0, false
	}
	p := e.lsns.Load()
	if p == nil {
		return 0, false
	}
	lsns := *p
	lo, hi := 0, len(lsns)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if lsns[m] <= mark {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, false
	}
	return lsns[lo-1], lo == len(lsns)
}

// appendLSN records a new frame of e's page; it reports whether the page had none.
// DB.idxMu is held exclusively.
func (e *tableEntry) appendLSN(lsn uint64) bool {
	var s []uint64
	if p := e.lsns.Load(); p != nil {
		s = *p
	}
	s = append(s, lsn)
	e.lsns.Store(&s)
	return len(s) == 1
}
