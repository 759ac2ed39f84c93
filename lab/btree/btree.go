package btree

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// The page layout counted, as store/page's.
const (
	HeaderSize = 32            // page header
	cellFixed  = 2 + 1 + 2 + 4 // slot, flags, key length, value length
	childSize  = 4             // a child page number
)

// Errors Put returns.
var (
	ErrKeyEmpty = errors.New("btree: empty key")
	ErrTooLarge = errors.New("btree: entry larger than a quarter page")
)

// Tree is a classic B-tree of byte-string keys, ordered byte-wise. It is not safe for
// concurrent use.
type Tree struct {
	pageSize int
	root     *node
	nextID   int // page numbers handed out
	len      int
}

type node struct {
	id       int // page number: what distinct-page counts count
	keys     [][]byte
	vals     [][]byte
	children []*node // nil in a leaf, else len(keys)+1
	size     int     // bytes of the page in use, header included
}

func (n *node) leaf() bool { return n.children == nil }

// New returns an empty tree of nodes of pageSize bytes, a power of two from 1 KiB to 64 KiB.
func New(pageSize int) (*Tree, error) {
	if pageSize < 1024 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("btree: page size %d: want a power of two from 1024 to 65536", pageSize)
	}
	return &Tree{pageSize: pageSize}, nil
}

// PageSize returns the size of a node's page.
func (t *Tree) PageSize() int { return t.pageSize }

// Len returns the number of entries.
func (t *Tree) Len() int { return t.len }

// MaxEntry returns the most bytes of key and value together that Put takes: an entry's
// cell in an internal node may fill at most a quarter of the page's cell space.
func (t *Tree) MaxEntry() int { return (t.pageSize-HeaderSize)/4 - cellFixed - childSize }

// Capacity returns how many entries with keys of keyLen bytes and values of valueLen bytes
// fit in an internal node and in a leaf: an internal node of n entries has n+1 children.
func (t *Tree) Capacity(keyLen, valueLen int) (internal, leaf int) {
	k, v := make([]byte, keyLen), make([]byte, valueLen)
	space := t.pageSize - HeaderSize
	return space / cellSize(k, v, true), space / cellSize(k, v, false)
}

// cellSize is the space an entry takes in a node: slot and cell, and in an internal node
// its child pointer.
func cellSize(k, v []byte, internal bool) int {
	s := cellFixed + len(k) + len(v)
	if internal {
		s += childSize
	}
	return s
}

func (t *Tree) newNode(internal bool) *node {
	t.nextID++
	n := &node{id: t.nextID, size: HeaderSize}
	if internal {
		n.children = []*node{}
	}
	return n
}

// Put sets key to value, both copied.
func (t *Tree) Put(key, value []byte) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if len(key)+len(value) > t.MaxEntry() {
		return fmt.Errorf("%w: %d bytes of key and value, at most %d with %d-byte pages", ErrTooLarge, len(key)+len(value), t.MaxEntry(), t.pageSize)
	}
	k, v := bytes.Clone(key), bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	if t.root == nil {
		t.root = t.newNode(false)
	}
	mk, mv, right := t.insert(t.root, k, v)
	if right != nil {
		root := t.newNode(true)
		root.keys, root.vals = [][]byte{mk}, [][]byte{mv}
		root.children = []*node{t.root, right}
		root.size += cellSize(mk, mv, true)
		t.root = root
	}
	return nil
}

// insert puts k into the subtree at n. If n outgrows its page it splits, and insert
// returns the middle entry and the new right sibling for the parent to take.
func (t *Tree) insert(n *node, k, v []byte) ([]byte, []byte, *node) {
	i, found := search(n.keys, k)
	switch {
	case found:
		n.size += len(v) - len(n.vals[i])
		n.vals[i] = v
	case n.leaf():
		n.keys, n.vals = insertAt(n.keys, i, k), insertAt(n.vals, i, v)
		n.size += cellSize(k, v, false)
		t.len++
	default:
		mk, mv, right := t.insert(n.children[i], k, v)
		if right == nil {
			return nil, nil, nil
		}
		n.keys, n.vals = insertAt(n.keys, i, mk), insertAt(n.vals, i, mv)
		n.children = insertAt(n.children, i+1, right)
		n.size += cellSize(mk, mv, true)
	}
	if n.size <= t.pageSize {
		return nil, nil, nil
	}
	return t.split(n)
}

// split moves the entries after the byte midpoint of n into a new right sibling and
// returns the middle entry, which goes up to the parent.
func (t *Tree) split(n *node) ([]byte, []byte, *node) {
	internal := !n.leaf()
	total, acc, m := n.size-HeaderSize, 0, len(n.keys)/2
	for i := range n.keys {
		acc += cellSize(n.keys[i], n.vals[i], internal)
		if 2*acc >= total {
			m = i
			break
		}
	}
	m = max(1, min(m, len(n.keys)-2)) // both halves keep an entry
	right := t.newNode(internal)
	mk, mv := n.keys[m], n.vals[m]
	right.keys = append([][]byte(nil), n.keys[m+1:]...)
	right.vals = append([][]byte(nil), n.vals[m+1:]...)
	n.keys, n.vals = n.keys[:m:m], n.vals[:m:m]
	if internal {
		right.children = append([]*node(nil), n.children[m+1:]...)
		n.children = n.children[: m+1 : m+1]
	}
	n.size, right.size = t.measure(n), t.measure(right)
	return mk, mv, right
}

// measure computes the bytes n's page uses.
func (t *Tree) measure(n *node) int {
	s := HeaderSize
	for i, k := range n.keys {
		s += cellSize(k, n.vals[i], !n.leaf())
	}
	return s
}

func insertAt[T any](s []T, i int, x T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = x
	return s
}

// search returns the index of the first key >= k, and whether it equals k.
func search(keys [][]byte, k []byte) (int, bool) {
	i := sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], k) >= 0 })
	return i, i < len(keys) && bytes.Equal(keys[i], k)
}

// Get returns key's value and the number of pages the lookup touched: the nodes from the
// root down to the one holding the key, or to a leaf if there is none.
func (t *Tree) Get(key []byte) (value []byte, pages int, ok bool) {
	n := t.root
	for n != nil {
		pages++
		i, found := search(n.keys, key)
		if found {
			return n.vals[i], pages, true
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return nil, pages, false
}
