package btree

import (
	"bytes"
	"fmt"
)

// ScanStats count what a scan read.
type ScanStats struct {
	Entries int // entries passed to the callback
	// Pages is the number of distinct pages the traversal entered: the reads of a cursor
	// that keeps its path from the root in memory.
	Pages int
	// Visits counts every entry into a page, returns from a child to its parent included:
	// the reads of a cursor that holds only the page it is on.
	Visits int
}

// frame is a node on the traversal's path and the index of its next entry to emit; in an
// internal node, child i comes before entry i.
type frame struct {
	n *node
	i int
}

// Scan calls fn with the entries from the first key >= from (nil: the first key) in order,
// at most limit of them, and stops early when fn returns false. It returns what it read.
func (t *Tree) Scan(from []byte, limit int, fn func(key, value []byte) bool) ScanStats {
	var st ScanStats
	if t.root == nil || limit <= 0 {
		return st
	}
	seen := map[int]bool{}
	enter := func(n *node) {
		st.Visits++
		if !seen[n.id] {
			seen[n.id] = true
			st.Pages++
		}
	}
	// Seek: descend until the key is found or a leaf is reached.
	var path []frame
	for n := t.root; ; {
		enter(n)
		i, found := search(n.keys, from)
		path = append(path, frame{n, i})
		if found || n.leaf() {
			break
		}
		n = n.children[i]
	}
	for len(path) > 0 {
		top := &path[len(path)-1]
		if top.i >= len(top.n.keys) {
			// Node done: back to the parent, whose next entry follows this subtree.
			path = path[:len(path)-1]
			if len(path) > 0 {
				enter(path[len(path)-1].n)
			}
			continue
		}
		n, i := top.n, top.i
		st.Entries++
		if !fn(n.keys[i], n.vals[i]) || st.Entries == limit {
			break
		}
		top.i++
		if !n.leaf() {
			// The subtree after entry i, from its leftmost leaf.
			c := n.children[i+1]
			for {
				enter(c)
				path = append(path, frame{c, 0})
				if c.leaf() {
					break
				}
				c = c.children[0]
			}
		}
	}
	return st
}

// Shape describes the tree's nodes.
type Shape struct {
	Height          int // levels, the leaves included; 0 when empty
	Pages           int
	InternalPages   int
	LeafPages       int
	InternalEntries int // entries held in internal nodes
	LeafEntries     int
	UsedBytes       int // bytes of all pages in use, headers included
}

// Fanout is the mean number of children of an internal node (0 without one).
func (s Shape) Fanout() float64 {
	if s.InternalPages == 0 {
		return 0
	}
	return float64(s.Pages-1) / float64(s.InternalPages)
}

// LeafEntriesPerPage is the mean number of entries in a leaf.
func (s Shape) LeafEntriesPerPage() float64 {
	if s.LeafPages == 0 {
		return 0
	}
	return float64(s.LeafEntries) / float64(s.LeafPages)
}

// Shape walks the tree and describes it.
func (t *Tree) Shape() Shape {
	var s Shape
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		s.Pages++
		s.UsedBytes += n.size
		s.Height = max(s.Height, depth)
		if n.leaf() {
			s.LeafPages++
			s.LeafEntries += len(n.keys)
			return
		}
		s.InternalPages++
		s.InternalEntries += len(n.keys)
		for _, c := range n.children {
			walk(c, depth+1)
		}
	}
	if t.root != nil {
		walk(t.root, 1)
	}
	return s
}

// Check verifies the tree's invariants: keys strictly increasing and inside the bounds
// their parent sets, every leaf at one depth, len(keys)+1 children in internal nodes, no
// empty node but an empty root, each node's size as recorded and within its page, and the
// entry count.
func (t *Tree) Check() error {
	if t.root == nil {
		if t.len != 0 {
			return fmt.Errorf("btree: no root but %d entries", t.len)
		}
		return nil
	}
	leafDepth, entries := 0, 0
	var walk func(n *node, lo, hi []byte, depth int) error
	walk = func(n *node, lo, hi []byte, depth int) error {
		if len(n.keys) == 0 && (n != t.root || !n.leaf()) {
			return fmt.Errorf("btree: page %d is empty", n.id)
		}
		if len(n.vals) != len(n.keys) {
			return fmt.Errorf("btree: page %d has %d keys and %d values", n.id, len(n.keys), len(n.vals))
		}
		if got := t.measure(n); got != n.size || got > t.pageSize {
			return fmt.Errorf("btree: page %d uses %d bytes, recorded %d, page %d", n.id, got, n.size, t.pageSize)
		}
		for i, k := range n.keys {
			if (i > 0 && bytes.Compare(n.keys[i-1], k) >= 0) || (lo != nil && bytes.Compare(k, lo) <= 0) || (hi != nil && bytes.Compare(k, hi) >= 0) {
				return fmt.Errorf("btree: page %d: key %q out of order", n.id, k)
			}
		}
		entries += len(n.keys)
		if n.leaf() {
			if leafDepth == 0 {
				leafDepth = depth
			}
			if depth != leafDepth {
				return fmt.Errorf("btree: leaf %d at depth %d, another at %d", n.id, depth, leafDepth)
			}
			return nil
		}
		if len(n.children) != len(n.keys)+1 {
			return fmt.Errorf("btree: page %d has %d keys and %d children", n.id, len(n.keys), len(n.children))
		}
		for i, c := range n.children {
			clo, chi := lo, hi
			if i > 0 {
				clo = n.keys[i-1]
			}
			if i < len(n.keys) {
				chi = n.keys[i]
			}
			if err := walk(c, clo, chi, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(t.root, nil, nil, 1); err != nil {
		return err
	}
	if entries != t.len {
		return fmt.Errorf("btree: %d entries in the pages, %d counted", entries, t.len)
	}
	return nil
}
