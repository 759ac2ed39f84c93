package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"gantry/store/page"
)

// Report is what Check found: the shape of the tree and how full its pages are.
type Report struct {
	LSN           uint64 // commit checked
	TxID          uint64 // commits in the database's life
	PageSize      int
	Pages         int // pages in the file, meta page included
	BranchPages   int
	LeafPages     int
	OverflowPages int
	FreePages     int
	Height        int     // levels, the leaves included
	Keys          int     // entries in all buckets, catalog included
	LeafFill      float64 // mean fraction of a leaf's space in use
	Buckets       map[string]int
	WALFrames     uint64
	Problems      []string // invariant violations; empty when the database is sound
}

// ErrCheck is returned by Check when the database breaks an invariant.
var ErrCheck = errors.New("store: check failed")

// Check reads every page of the current snapshot and verifies every invariant: checksums;
// keys in order and inside their parent's bounds; every leaf at the same depth; leaf fill
// at least a quarter page except the root; branches with at least two children; sibling
// links forming one chain in key order both ways; overflow chains of the right length;
// the free list; every page either used exactly once or free, never both, never lost; and
// every key belonging to an existing bucket. It does not block writers.
func (db *DB) Check() (Report, error) {
	tx, err := db.Begin(false)
	if err != nil {
		return Report{}, err
	}
	defer tx.Rollback()
	m := tx.snap.meta
	c := &checker{r: snapReader{db, tx.snap.lsn, &tx.stats}, owner: make([]string, m.PageCount), ps: db.pageSize, buckets: map[uint32]string{}}
	rep := &c.rep
	rep.LSN, rep.TxID, rep.PageSize, rep.Pages = m.LSN, m.TxID, db.pageSize, int(m.PageCount)
	rep.WALFrames = db.wal.Stats().Frames
	rep.Buckets = map[string]int{}
	c.own(0, "meta")
	c.walk(m.Root, nil, nil, 1, true)
	if rep.LeafPages > 0 {
		rep.LeafFill /= float64(rep.LeafPages)
	}
	c.links()
	c.freeList(m)
	for p, o := range c.owner {
		if o == "" {
			c.problem("page %d is neither used nor free", p)
		}
	}
	c.bucketsOK()
	if len(rep.Problems) > 0 {
		return *rep, fmt.Errorf("%w: %d problems, first: %s", ErrCheck, len(rep.Problems), rep.Problems[0])
	}
	return *rep, nil
}

type checker struct {
	r       reader
	rep     Report
	owner   []string
	leaves  []*page.Node
	ps      int
	buckets map[uint32]string // id -> name, from the catalog
	keysIn  map[uint32]int    // keys per bucket id
}

func (c *checker) problem(format string, args ...any) {
	if len(c.rep.Problems) < 100 {
		c.rep.Problems = append(c.rep.Problems, fmt.Sprintf(format, args...))
	}
}

func (c *checker) own(p uint32, what string) bool {
	if int(p) >= len(c.owner) {
		c.problem("%s page %d is past the last page %d", what, p, len(c.owner)-1)
		return false
	}
	if o := c.owner[p]; o != "" {
		c.problem("page %d is both %s and %s", p, o, what)
		return false
	}
	c.owner[p] = what
	return true
}

// walk checks the subtree at p, whose keys must lie in [lo, hi).
func (c *checker) walk(p uint32, lo, hi []byte, depth int, root bool) {
	if !c.own(p, "tree") {
		return
	}
	n, err := c.r.node(p)
	if err != nil {
		c.problem("%v", err)
		return
	}
	for i, k := range n.Keys {
		if i > 0 && bytes.Compare(n.Keys[i-1], k) >= 0 {
			c.problem("page %d: key %d %q not above key %d", p, i, k, i-1)
		}
		if (lo != nil && bytes.Compare(k, lo) < 0) || (hi != nil && bytes.Compare(k, hi) >= 0) {
			c.problem("page %d: key %q outside its parent's range [%q, %q)", p, k, lo, hi)
		}
	}
	used := n.Size() - page.HeaderSize
	switch n.Type {
	case page.TypeLeaf:
		if c.rep.Height == 0 {
			c.rep.Height = depth
		} else if c.rep.Height != depth {
			c.problem("leaf %d at depth %d, other leaves at %d", p, depth, c.rep.Height)
		}
		if !root && used < minFill(c.ps) {
			c.problem("leaf %d is %d bytes full, below the minimum %d", p, used, minFill(c.ps))
		}
		c.rep.LeafPages++
		c.rep.LeafFill += float64(used) / float64(capacity(c.ps))
		c.rep.Keys += len(n.Keys)
		c.leaves = append(c.leaves, n)
		for i, k := range n.Keys {
			c.leafEntry(p, k, n.Vals[i])
		}
	case page.TypeBranch:
		c.rep.BranchPages++
		if len(n.Children) < 2 {
			c.problem("branch %d has %d children", p, len(n.Children))
		}
		for i, ch := range n.Children {
			clo, chi := lo, hi
			if i > 0 {
				clo = n.Keys[i-1]
			}
			if i < len(n.Keys) {
				chi = n.Keys[i]
			}
			c.walk(ch, clo, chi, depth+1, false)
		}
	default:
		c.problem("tree page %d has type %d", p, n.Type)
	}
}

func (c *checker) leafEntry(p uint32, k []byte, v page.Value) {
	if len(k) < 4 {
		c.problem("leaf %d: key %q has no bucket prefix", p, k)
		return
	}
	id := binary.BigEndian.Uint32(k)
	if c.keysIn == nil {
		c.keysIn = map[uint32]int{}
	}
	c.keysIn[id]++
	if id == catalogBucket {
		if v.Ovfl != 0 || len(v.Inline) != 4 {
			c.problem("catalog entry %q is not a 4-byte id", k[4:])
		} else {
			c.buckets[binary.BigEndian.Uint32(v.Inline)] = string(k[4:])
		}
	}
	if v.Ovfl == 0 {
		return
	}
	total := 0
	for q := v.Ovfl; q != 0; {
		if !c.own(q, "overflow") {
			return
		}
		n, err := c.r.node(q)
		if err != nil {
			c.problem("%v", err)
			return
		}
		if n.Type != page.TypeOverflow {
			c.problem("overflow chain of %q reaches page %d of type %d", k, q, n.Type)
			return
		}
		c.rep.OverflowPages++
		total += len(n.Data)
		q = n.Next
	}
	if total != int(v.Len) {
		c.problem("overflow chain of %q holds %d bytes, want %d", k, total, v.Len)
	}
}

// links checks that the leaves found left to right form one chain both ways.
func (c *checker) links() {
	for i, n := range c.leaves {
		var prev, next uint32
		if i > 0 {
			prev = c.leaves[i-1].Pgno
		}
		if i+1 < len(c.leaves) {
			next = c.leaves[i+1].Pgno
		}
		if n.Prev != prev || n.Next != next {
			c.problem("leaf %d links prev %d next %d, want %d and %d", n.Pgno, n.Prev, n.Next, prev, next)
		}
	}
}

func (c *checker) freeList(m page.Meta) {
	count := 0
	for p := m.FreeHead; p != 0; count++ {
		if !c.own(p, "free") {
			return
		}
		n, err := c.r.node(p)
		if err != nil {
			c.problem("%v", err)
			return
		}
		if n.Type != page.TypeFree {
			c.problem("free list reaches page %d of type %d", p, n.Type)
			return
		}
		p = n.Next
	}
	c.rep.FreePages = count
	if count != int(m.FreeCount) {
		c.problem("free list has %d pages, meta says %d", count, m.FreeCount)
	}
}

func (c *checker) bucketsOK() {
	for id, n := range c.keysIn {
		if id == catalogBucket {
			continue
		}
		name, ok := c.buckets[id]
		if !ok {
			c.problem("%d keys belong to bucket %d, which is not in the catalog", n, id)
			continue
		}
		c.rep.Buckets[name] = n
	}
	for _, name := range c.buckets {
		if _, ok := c.rep.Buckets[name]; !ok {
			c.rep.Buckets[name] = 0
		}
	}
}
