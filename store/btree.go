package store

import (
	"bytes"
	"fmt"

	"gantry/store/page"
)

// The B+tree. Every key of every bucket lives in one tree, prefixed with the bucket's
// 4-byte identifier, so buckets are contiguous ranges of one byte-wise order. Branch nodes
// hold separators: Keys[i] is the least key under Children[i+1]. Leaves hold the entries
// and are linked both ways.
//
// Readers walk it through load at their snapshot. The committer changes it through a
// writer: a private map of the pages this commit changed (decoded nodes, cloned on first
// change), appended to the log as whole page images at the end of the commit.

// capacity is the space for cells in a page.
func capacity(pageSize int) int { return pageSize - page.HeaderSize }

// maxKey is the longest tree key: an eighth of a page, so that a branch split always
// leaves both halves at least a quarter full.
func maxKey(pageSize int) int { return capacity(pageSize)/8 - 8 }

// minFill is the fill below which a non-root node is merged or refilled on delete.
func minFill(pageSize int) int { return capacity(pageSize) / 4 }

// search returns the index of the first key >= k, and whether it equals k.
func search(keys [][]byte, k []byte) (int, bool) {
	lo, hi := 0, len(keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(keys[m], k) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(keys) && bytes.Equal(keys[lo], k)
}

// searchLeaf is search over leaf n's keys, through its entries' heads when it has a page.
func searchLeaf(n *page.Node, k []byte) (int, bool) {
	if n.Raw == nil {
		return search(n.Keys, k)
	}
	return n.Search(k)
}

// childIndex returns which child of branch n covers key k: the number of separators <= k.
func childIndex(n *page.Node, k []byte) int {
	if n.Raw != nil {
		i, eq := n.Search(k)
		if eq {
			i++
		}
		return i
	}
	lo, hi := 0, len(n.Keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(n.Keys[m], k) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// child returns child i of branch n, from its entries when it has a page: the heads just
// compared sit beside it, where Children is one more cache miss.
func child(n *page.Node, i int) uint32 {
	if n.Raw != nil {
		return n.Child(i)
	}
	return n.Children[i]
}

// leafValue returns value i of leaf n, from its entries when it has a page (as child
// does): an inline value's place is there, and its cell is read only by the caller.
func leafValue(n *page.Node, i int) page.Value {
	if n.Raw != nil {
		if _, v, inline := n.Entry(i); inline {
			return page.Value{Inline: v, Len: uint32(len(v))}
		}
		return page.RawLeafValue(n.Raw, i)
	}
	return n.Vals[i]
}

// reader reads pages of one state of the tree.
type reader interface {
	node(pgno uint32) (*page.Node, error)
}

// snapReader reads a committed snapshot.
type snapReader struct {
	db   *DB
	mark uint64
	st   *TxStats
}

func (r snapReader) node(pgno uint32) (*page.Node, error) { return r.db.load(pgno, r.mark, r.st) }

func expect(n *page.Node, typ byte) error {
	if n.Type != typ {
		return fmt.Errorf("%w: page %d has type %d, want %d", page.ErrCorrupt, n.Pgno, n.Type, typ)
	}
	return nil
}

// step is one branch on the way down: the page and which child was taken.
type step struct {
	pgno uint32
	idx  int
}

// descend walks from root to the leaf that covers k, appending the branches taken to
// path when path is not nil.
func descend(r reader, root uint32, k []byte, path []step) (*page.Node, []step, error) {
	n, err := r.node(root)
	for depth := 0; err == nil; depth++ {
		if n.Type == page.TypeLeaf {
			return n, path, nil
		}
		if err = expect(n, page.TypeBranch); err != nil || depth > 64 {
			break
		}
		i := childIndex(n, k)
		if path != nil {
			path = append(path, step{n.Pgno, i})
		}
		n, err = r.node(child(n, i))
	}
	if err == nil {
		err = fmt.Errorf("%w: tree deeper than 64 levels under page %d", page.ErrCorrupt, root)
	}
	return nil, path, err
}

// value returns a leaf value's bytes, following its overflow chain if it has one.
func value(r reader, v page.Value) ([]byte, error) {
	if v.Ovfl == 0 {
		return v.Inline, nil
	}
	if v.Len > MaxValueSize {
		return nil, fmt.Errorf("%w: value of %d bytes in overflow page %d, more than any Put writes", page.ErrCorrupt, v.Len, v.Ovfl)
	}
	out := make([]byte, 0, v.Len)
	for p := v.Ovfl; p != 0 && len(out) < int(v.Len); {
		n, err := r.node(p)
		if err != nil {
			return nil, err
		}
		if err := expect(n, page.TypeOverflow); err != nil {
			return nil, err
		}
		out = append(out, n.Data...)
		p = n.Next
	}
	if len(out) != int(v.Len) {
		return nil, fmt.Errorf("%w: overflow chain at page %d holds %d bytes, want %d", page.ErrCorrupt, v.Ovfl, len(out), v.Len)
	}
	return out, nil
}

// treeGet looks k up.
func treeGet(r reader, root uint32, k []byte) ([]byte, bool, error) {
	leaf, _, err := descend(r, root, k, nil)
	if err != nil {
		return nil, false, err
	}
	i, ok := searchLeaf(leaf, k)
	if !ok {
		return nil, false, nil
	}
	v, err := value(r, leafValue(leaf, i))
	return v, err == nil, err
}

// writer changes the tree for one commit.
type writer struct {
	db    *DB
	meta  page.Meta
	dirty map[uint32]*page.Node
	st    *TxStats

	framesWritten int // by appendCommit
}

func (w *writer) node(pgno uint32) (*page.Node, error) {
	if n, ok := w.dirty[pgno]; ok {
		return n, nil
	}
	return w.db.load(pgno, latestMark, w.st)
}

// mutable returns page pgno ready to change: the commit's own copy.
func (w *writer) mutable(pgno uint32) (*page.Node, error) {
	if n, ok := w.dirty[pgno]; ok {
		return n, nil
	}
	n, err := w.db.load(pgno, latestMark, w.st)
	if err != nil {
		return nil, err
	}
	c := n.Clone()
	w.dirty[pgno] = c
	return c, nil
}

// alloc takes a page from the free list, or grows the file.
func (w *writer) alloc(typ byte) (*page.Node, error) {
	var pgno uint32
	if w.meta.FreeHead != 0 {
		f, err := w.node(w.meta.FreeHead)
		if err != nil {
			return nil, err
		}
		if err := expect(f, page.TypeFree); err != nil {
			return nil, err
		}
		pgno = w.meta.FreeHead
		w.meta.FreeHead = f.Next
		w.meta.FreeCount--
	} else {
		if w.meta.PageCount == 1<<31 {
			return nil, fmt.Errorf("store: database is full (%d pages)", w.meta.PageCount)
		}
		pgno = w.meta.PageCount
		w.meta.PageCount++
	}
	n := &page.Node{Type: typ, Pgno: pgno}
	w.dirty[pgno] = n
	return n, nil
}

func (w *writer) free(pgno uint32) {
	w.dirty[pgno] = &page.Node{Type: page.TypeFree, Pgno: pgno, Next: w.meta.FreeHead}
	w.meta.FreeHead = pgno
	w.meta.FreeCount++
}

// makeValue stores v inline when its cell fits in a quarter page, else in overflow pages.
func (w *writer) makeValue(k, v []byte) (page.Value, error) {
	if page.LeafCellSize(k, page.Value{Inline: v}) <= minFill(w.db.pageSize) {
		return page.Value{Inline: v, Len: uint32(len(v))}, nil
	}
	chunk := capacity(w.db.pageSize)
	var first, prev *page.Node
	for off := 0; off < len(v); off += chunk {
		n, err := w.alloc(page.TypeOverflow)
		if err != nil {
			return page.Value{}, err
		}
		n.Data = v[off:min(off+chunk, len(v))]
		if prev != nil {
			prev.Next = n.Pgno
		} else {
			first = n
		}
		prev = n
	}
	return page.Value{Ovfl: first.Pgno, Len: uint32(len(v))}, nil
}

func (w *writer) freeValue(v page.Value) error {
	pages := int(v.Len)/capacity(w.db.pageSize) + 1 // a damaged chain must not loop
	for p := v.Ovfl; p != 0 && pages > 0; pages-- {
		n, err := w.node(p)
		if err != nil {
			return err
		}
		next := n.Next
		w.free(p)
		p = next
	}
	return nil
}

func (w *writer) put(k, v []byte) error {
	leaf, path, err := descend(w, w.meta.Root, k, make([]step, 0, 8))
	if err != nil {
		return err
	}
	val, err := w.makeValue(k, v)
	if err != nil {
		return err
	}
	if leaf, err = w.mutable(leaf.Pgno); err != nil {
		return err
	}
	i, found := search(leaf.Keys, k)
	if found {
		if err := w.freeValue(leaf.Vals[i]); err != nil {
			return err
		}
		leaf.Vals[i] = val
	} else {
		leaf.Keys = insertAt(leaf.Keys, i, k)
		leaf.Vals = insertAt(leaf.Vals, i, val)
	}
	if found && w.underfull(leaf) { // a smaller value in place can leave the leaf underfull
		return w.rebalanceUp(path, leaf)
	}
	return w.splitUp(path, leaf, !found && i == len(leaf.Keys)-1 && leaf.Next == 0)
}

func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	return s[:len(s)-1]
}

// splitUp splits n while it overflows its page, pushing separators up the path. appending
// says the key went to the very end of the tree: keys arriving in order, as in a sequential
// load, where a split at the midpoint would leave every leaf half empty for good.
func (w *writer) splitUp(path []step, n *page.Node, appending bool) error {
	for n.Size() > w.db.pageSize {
		right, sep, err := w.split(n, appending)
		if err != nil {
			return err
		}
		if len(path) == 0 {
			root, err := w.alloc(page.TypeBranch)
			if err != nil {
				return err
			}
			root.Keys = [][]byte{sep}
			root.Children = []uint32{n.Pgno, right.Pgno}
			w.meta.Root = root.Pgno
			return nil
		}
		s := path[len(path)-1]
		path = path[:len(path)-1]
		p, err := w.mutable(s.pgno)
		if err != nil {
			return err
		}
		p.Keys = insertAt(p.Keys, s.idx, sep)
		p.Children = insertAt(p.Children, s.idx+1, right.Pgno)
		appending = appending && s.idx == len(p.Keys)-1
		n = p
	}
	return nil
}

// splitPoint returns where to cut a node's cells so the left part holds about half the
// bytes; when appending, so that the right part holds just the minimum fill, leaving the
// left part, which will get no more keys, about three quarters full.
func splitPoint(n *page.Node, appending bool, fill int) int {
	s := splitIndex(n, appending, fill)
	if n.Type == page.TypeBranch {
		s = min(s, len(n.Keys)-2) // key s moves up: the right part keeps at least one
	}
	return s
}

func splitIndex(n *page.Node, appending bool, fill int) int {
	sizes := make([]int, len(n.Keys))
	total := 0
	for i, k := range n.Keys {
		if n.Type == page.TypeLeaf {
			sizes[i] = page.LeafCellSize(k, n.Vals[i])
		} else {
			sizes[i] = page.BranchCellSize(k)
		}
		total += sizes[i]
	}
	acc := 0
	if appending {
		for i := len(sizes) - 1; i > 0; i-- {
			if acc += sizes[i]; acc >= fill {
				return max(1, min(i, len(sizes)-1))
			}
		}
		acc = 0
	}
	for i, s := range sizes {
		acc += s
		if acc*2 >= total {
			return max(1, min(i+1, len(sizes)-1))
		}
	}
	return len(sizes) / 2
}

// split moves the upper half of n into a new right sibling and returns it with the
// separator for the parent.
func (w *writer) split(n *page.Node, appending bool) (*page.Node, []byte, error) {
	right, err := w.alloc(n.Type)
	if err != nil {
		return nil, nil, err
	}
	s := splitPoint(n, appending, minFill(w.db.pageSize))
	if n.Type == page.TypeLeaf {
		right.Keys = append([][]byte(nil), n.Keys[s:]...)
		right.Vals = append([]page.Value(nil), n.Vals[s:]...)
		n.Keys, n.Vals = n.Keys[:s:s], n.Vals[:s:s]
		right.Next, right.Prev = n.Next, n.Pgno
		if n.Next != 0 {
			nx, err := w.mutable(n.Next)
			if err != nil {
				return nil, nil, err
			}
			nx.Prev = right.Pgno
		}
		n.Next = right.Pgno
		return right, right.Keys[0], nil
	}
	sep := n.Keys[s]
	right.Keys = append([][]byte(nil), n.Keys[s+1:]...)
	right.Children = append([]uint32(nil), n.Children[s+1:]...)
	n.Keys, n.Children = n.Keys[:s:s], n.Children[:s+1:s+1]
	return right, sep, nil
}

// del removes k; it reports whether k was there.
func (w *writer) del(k []byte) (bool, error) {
	leaf, path, err := descend(w, w.meta.Root, k, make([]step, 0, 8))
	if err != nil {
		return false, err
	}
	i, found := search(leaf.Keys, k)
	if !found {
		return false, nil
	}
	if leaf, err = w.mutable(leaf.Pgno); err != nil {
		return false, err
	}
	if err := w.freeValue(leaf.Vals[i]); err != nil {
		return false, err
	}
	leaf.Keys = removeAt(leaf.Keys, i)
	leaf.Vals = removeAt(leaf.Vals, i)
	return true, w.rebalanceUp(path, leaf)
}

func (w *writer) underfull(n *page.Node) bool {
	return n.Size()-page.HeaderSize < minFill(w.db.pageSize)
}

// rebalanceUp merges or refills n with a sibling while it is under the minimum fill, then
// shrinks the tree if the root is a branch with one child.
func (w *writer) rebalanceUp(path []step, n *page.Node) error {
	for len(path) > 0 && w.underfull(n) {
		s := path[len(path)-1]
		path = path[:len(path)-1]
		p, err := w.mutable(s.pgno)
		if err != nil {
			return err
		}
		li := max(0, s.idx-1)
		l, err := w.mutable(p.Children[li])
		if err != nil {
			return err
		}
		r, err := w.mutable(p.Children[li+1])
		if err != nil {
			return err
		}
		if err := w.rebalancePair(p, li, l, r); err != nil {
			return err
		}
		n = p
	}
	for n.Type == page.TypeBranch && len(n.Keys) == 0 && n.Pgno == w.meta.Root {
		w.meta.Root = n.Children[0]
		w.free(n.Pgno)
		var err error
		if n, err = w.node(w.meta.Root); err != nil {
			return err
		}
	}
	return nil
}

// rebalancePair merges siblings l and r (children li and li+1 of p) when they fit in one
// page, else shares their cells evenly.
func (w *writer) rebalancePair(p *page.Node, li int, l, r *page.Node) error {
	if l.Type == page.TypeLeaf {
		if l.Size()+r.Size()-page.HeaderSize <= w.db.pageSize {
			l.Keys = append(l.Keys, r.Keys...)
			l.Vals = append(l.Vals, r.Vals...)
			l.Next = r.Next
			if r.Next != 0 {
				nx, err := w.mutable(r.Next)
				if err != nil {
					return err
				}
				nx.Prev = l.Pgno
			}
			p.Keys = removeAt(p.Keys, li)
			p.Children = removeAt(p.Children, li+1)
			w.free(r.Pgno)
			return nil
		}
		all := &page.Node{Type: page.TypeLeaf, Keys: append(append([][]byte(nil), l.Keys...), r.Keys...),
			Vals: append(append([]page.Value(nil), l.Vals...), r.Vals...)}
		s := splitPoint(all, false, 0)
		l.Keys, l.Vals = all.Keys[:s:s], all.Vals[:s:s]
		r.Keys, r.Vals = append([][]byte(nil), all.Keys[s:]...), append([]page.Value(nil), all.Vals[s:]...)
		p.Keys[li] = r.Keys[0]
		return nil
	}
	sep := p.Keys[li]
	if l.Size()+r.Size()-page.HeaderSize+page.BranchCellSize(sep) <= w.db.pageSize {
		l.Keys = append(append(l.Keys, sep), r.Keys...)
		l.Children = append(l.Children, r.Children...)
		p.Keys = removeAt(p.Keys, li)
		p.Children = removeAt(p.Children, li+1)
		w.free(r.Pgno)
		return nil
	}
	all := &page.Node{Type: page.TypeBranch, Keys: append(append(append([][]byte(nil), l.Keys...), sep), r.Keys...)}
	ch := append(append([]uint32(nil), l.Children...), r.Children...)
	s := splitPoint(all, false, 0)
	l.Keys, l.Children = all.Keys[:s:s], ch[:s+1:s+1]
	p.Keys[li] = all.Keys[s]
	r.Keys, r.Children = append([][]byte(nil), all.Keys[s+1:]...), append([]uint32(nil), ch[s+1:]...)
	return nil
}
