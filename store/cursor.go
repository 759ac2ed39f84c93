package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"gantry/store/page"
)

// treeCursor is a position in one committed state of the tree: a leaf and an index.
// It walks leaves through their sibling links; idx == n is past the end and idx == -1 is
// before the start. A leaf read from a page is stepped through its page bytes (raw), one
// buffer, rather than its decoded Keys and Vals, two more.
type treeCursor struct {
	r    reader
	root uint32
	leaf *page.Node
	n    int // entries in leaf
	idx  int
}

// at makes leaf the cursor's leaf, at entry idx.
func (c *treeCursor) at(leaf *page.Node, idx int) {
	c.leaf, c.n, c.idx = leaf, leaf.Count(), idx
}

func (c *treeCursor) valid() bool { return c.leaf != nil && c.idx >= 0 && c.idx < c.n }

// entry returns entry i of the leaf, which must exist.
func (c *treeCursor) entry(i int) ([]byte, page.Value) {
	if c.leaf.Ents != nil {
		if k, v, inline := c.leaf.Entry(i); inline {
			return k, page.Value{Inline: v, Len: uint32(len(v))}
		}
		return page.RawLeafEntry(c.leaf.Raw, i)
	}
	return c.leaf.Keys[i], c.leaf.Vals[i]
}

func (c *treeCursor) key() []byte {
	if !c.valid() {
		return nil
	}
	k, _ := c.entry(c.idx)
	return k
}

// seek moves to the first key >= k.
func (c *treeCursor) seek(k []byte) error {
	leaf, _, err := descend(c.r, c.root, k, nil)
	if err != nil {
		return err
	}
	i, _ := searchLeaf(leaf, k)
	c.at(leaf, i)
	return c.forward()
}

// forward moves past the end of empty tails onto the next leaf.
func (c *treeCursor) forward() error {
	for c.idx >= c.n && c.leaf.Next != 0 {
		n, err := c.r.node(c.leaf.Next)
		if err != nil {
			return err
		}
		if err := expect(n, page.TypeLeaf); err != nil {
			return err
		}
		c.at(n, 0)
	}
	return nil
}

func (c *treeCursor) next() error {
	if !c.valid() {
		return nil
	}
	c.idx++
	return c.forward()
}

func (c *treeCursor) prev() error {
	if c.leaf == nil || c.idx < 0 {
		return nil
	}
	c.idx--
	for c.idx < 0 && c.leaf.Prev != 0 {
		n, err := c.r.node(c.leaf.Prev)
		if err != nil {
			return err
		}
		if err := expect(n, page.TypeLeaf); err != nil {
			return err
		}
		c.at(n, n.Count()-1)
	}
	return nil
}

// seekLT moves to the last key < k.
func (c *treeCursor) seekLT(k []byte) error {
	if err := c.seek(k); err != nil {
		return err
	}
	return c.prev()
}

// Cursor iterates over a bucket's keys in byte-wise order. It sees the transaction's
// snapshot plus the transaction's own writes, whatever other transactions commit
// meanwhile. Keys and values returned stay valid for the transaction's life.
type Cursor struct {
	b   *Bucket
	tc  treeCursor
	lo  []byte // bucket's first tree key
	hi  []byte // first tree key after the bucket
	cur []byte // current tree key, nil when off either end
	val []byte
	err error
	// bounds holds lo and hi, and seekKey is Seek's tree key, reused by every Seek, so
	// that a cursor costs one allocation.
	bounds  [8]byte
	seekKey []byte
	seekBuf [32]byte
	// rd is the tree cursor's reader, kept here so that handing it to the tree cursor as
	// an interface does not allocate.
	rd snapReader
	// onTree says cur is the tree cursor's current key, so Next and Prev can step the
	// leaf instead of seeking.
	onTree bool
	// inBkt is the end of the run of the leaf's entries, from the current one on, that are
	// in the bucket (bucketRun): Next steps through them without reading their keys'
	// prefixes, and finish takes the current key without reading it when inBkt is past it.
	inBkt int
}

// Cursor returns a cursor over the bucket.
func (b *Bucket) Cursor() *Cursor {
	c := &Cursor{b: b}
	c.seekKey = c.seekBuf[:0]
	binary.BigEndian.PutUint32(c.bounds[:4], b.id)
	binary.BigEndian.PutUint32(c.bounds[4:], b.id+1)
	c.lo, c.hi = c.bounds[:4:4], c.bounds[4:8:8]
	r, root, err := b.tx.reader()
	c.rd = r
	c.tc = treeCursor{r: &c.rd, root: root}
	c.err = err
	if b.tx.isDropped(b.id) {
		c.err = fmt.Errorf("%w: %q was deleted", ErrBucketMissing, b.name)
	}
	if b.tx.txWrites != nil && b.tx.reads != nil && b.id != catalogBucket {
		// Serializable: a scan depends on the whole bucket, phantoms included.
		b.tx.ranges = append(b.tx.ranges, keyRange{c.lo, c.hi})
	}
	return c
}

// Err returns the first error the cursor met (a damaged page, a closed transaction).
func (c *Cursor) Err() error { return c.err }

// First moves to the bucket's first key and returns it with its value (nil at the end).
func (c *Cursor) First() ([]byte, []byte) { return c.move(func() error { return c.seekGE(c.lo) }) }

// Last moves to the bucket's last key.
func (c *Cursor) Last() ([]byte, []byte) { return c.move(func() error { return c.seekLT(c.hi) }) }

// Seek moves to the first key >= key.
func (c *Cursor) Seek(key []byte) ([]byte, []byte) {
	// seekGE keeps no reference to its key past the call, so the buffer can be reused.
	c.seekKey = append(binary.BigEndian.AppendUint32(c.seekKey[:0], c.b.id), key...)
	return c.move(func() error { return c.seekGE(c.seekKey) })
}

// Next moves to the following key; nil at the end.
func (c *Cursor) Next() ([]byte, []byte) {
	if c.cur == nil {
		return nil, nil
	}
	if c.onTree && c.err == nil && !c.b.tx.done && !c.merged() {
		// Fast path: the tree cursor sits on the current key; step along the leaf, and
		// when the next entry is in the same leaf, inline and in the bucket, take it here.
		tc := &c.tc
		if i := tc.idx + 1; i < c.inBkt && tc.leaf.Ents != nil {
			k, v, inline := tc.leaf.Entry(i)
			if inline {
				tc.idx = i
				c.cur, c.val = k, v
				return k[4:], v
			}
		}
		return c.finish(c.fromTree(tc.next()))
	}
	prev := c.cur
	return c.move(func() error { return c.seekGE(append(append([]byte{}, prev...), 0)) })
}

// Prev moves to the preceding key; nil at the start.
func (c *Cursor) Prev() ([]byte, []byte) {
	if c.cur == nil {
		return nil, nil
	}
	if c.onTree && c.err == nil && !c.b.tx.done && !c.merged() {
		return c.finish(c.fromTree(c.tc.prev()))
	}
	prev := c.cur
	return c.move(func() error { return c.seekLT(prev) })
}

func (c *Cursor) move(f func() error) ([]byte, []byte) {
	if c.err != nil {
		return nil, nil
	}
	if c.b.tx.done {
		c.err = ErrTxDone
		return nil, nil
	}
	c.cur, c.val, c.onTree = nil, nil, false
	return c.finish(f())
}

// finish checks the position a move reached.
func (c *Cursor) finish(err error) ([]byte, []byte) {
	if err != nil {
		c.err = err
		c.cur, c.val = nil, nil
	}
	if c.cur == nil || !(c.onTree && c.inBkt > c.tc.idx) && !c.inBucket(c.cur) {
		c.cur, c.val = nil, nil
		return nil, nil
	}
	return c.cur[4:], c.val
}

// inBucket reports whether tree key k is the cursor's bucket's: the bucket's keys are
// exactly those with its 4-byte prefix.
func (c *Cursor) inBucket(k []byte) bool { return len(k) >= 4 && binary.BigEndian.Uint32(k) == c.b.id }

// merged reports whether the transaction has writes in this bucket, which the cursor
// must merge with the tree.
func (c *Cursor) merged() bool { return c.b.tx.writable && c.b.tx.perBkt[c.b.id] > 0 }

// fromTree takes the tree cursor's position as the current one.
func (c *Cursor) fromTree(err error) error {
	c.cur, c.val, c.onTree = nil, nil, false
	if err != nil || !c.tc.valid() {
		return err
	}
	c.onTree = true
	k, val := c.tc.entry(c.tc.idx)
	c.cur = k
	c.inBkt = c.bucketRun()
	v, err := value(c.tc.r, val)
	c.val = v
	return err
}

// bucketRun returns the end of the run of the leaf's entries, from the tree cursor's on,
// that are in the bucket; the tree cursor's index when its own key is not. Keys sort by
// bucket first: when the current key and the leaf's last are in the bucket, so is every
// key between. A leaf decoded from its page knows its first and last keys' buckets
// (page.Node.FirstBkt, LastBkt), so a scan reads no key's cell to know that a leaf lies
// wholly in its bucket; else it reads the current key and the last one.
func (c *Cursor) bucketRun() int {
	tc := &c.tc
	l := tc.leaf
	known := l.Raw != nil && l.Bkts
	if known && l.FirstBkt == c.b.id && l.LastBkt == c.b.id {
		return tc.n
	}
	if k, _ := tc.entry(tc.idx); !c.inBucket(k) {
		return tc.idx
	}
	if known {
		if l.LastBkt == c.b.id {
			return tc.n
		}
		return tc.idx + 1
	}
	if last, _ := tc.entry(tc.n - 1); c.inBucket(last) {
		return tc.n
	}
	return tc.idx + 1
}

// seekGE positions on the first visible key >= k: the smaller of the tree's and the
// write set's, the write set winning ties, skipping the transaction's deletions.
func (c *Cursor) seekGE(k []byte) error {
	for {
		if err := c.tc.seek(k); err != nil {
			return err
		}
		if !c.merged() {
			return c.fromTree(nil)
		}
		ws := c.b.tx.sortedWrites()
		i := sort.SearchStrings(ws, string(k))
		tk := c.tc.key()
		if i == len(ws) || (tk != nil && bytes.Compare(tk, []byte(ws[i])) < 0) {
			return c.fromTree(nil)
		}
		e := c.b.tx.writes[ws[i]]
		if e.del {
			k = append([]byte(ws[i]), 0)
			continue
		}
		c.cur, c.val = []byte(ws[i]), e.val
		return nil
	}
}

// seekLT positions on the last visible key < k.
func (c *Cursor) seekLT(k []byte) error {
	for {
		if err := c.tc.seekLT(k); err != nil {
			return err
		}
		if !c.merged() {
			return c.fromTree(nil)
		}
		ws := c.b.tx.sortedWrites()
		i := sort.SearchStrings(ws, string(k)) - 1
		tk := c.tc.key()
		if i < 0 || (tk != nil && bytes.Compare(tk, []byte(ws[i])) > 0) {
			return c.fromTree(nil)
		}
		e := c.b.tx.writes[ws[i]]
		if e.del {
			k = []byte(ws[i])
			continue
		}
		c.cur, c.val = []byte(ws[i]), e.val
		return nil
	}
}
