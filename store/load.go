package store

import (
	"bytes"
	"errors"
	"fmt"

	"gantry/store/page"
)

// ErrUnsorted: Load's input was not in strictly increasing key order.
var ErrUnsorted = errors.New("store: load input is not in increasing key order")

// ErrNotAppendable: Load's bucket already has keys, or a bucket created after it does.
var ErrNotAppendable = errors.New("store: bulk load needs an empty bucket after every bucket with keys")

// Load fills the bucket called name, creating it if missing, from next, which returns the
// entries in strictly increasing key order and a nil key at the end. It returns how many
// entries it loaded. The bucket must be empty and no bucket created after it may hold keys
// (a new bucket always qualifies): its keys then go at the right edge of the tree.
//
// Load builds full leaves and branches bottom-up along the tree's right edge instead of
// inserting key by key, and writes the pages it creates straight to the data file, not
// through the log. That keeps the WAL rule: those pages lie past the page count of every
// committed state, so no snapshot, recovery or checkpoint reads them until the commit that
// references them; they are fsynced before that commit's log frames are written. The
// pages it changes that a committed state holds (the right edge's existing pages, pages
// of values that overflow, the meta page) go through the log as in any commit. A crash
// before the commit is durable leaves the bucket empty: the pages written are unreferenced
// space past the page count, which later commits reuse. The load is one transaction: all
// of it or none. It holds the commit lock while it runs, so other writers wait for it;
// readers do not. It commits durably unless Options.NoSync is set.
func (db *DB) Load(name []byte, next func() (key, value []byte, err error)) (int, error) {
	var id uint32
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists(name)
		if err == nil {
			id = b.id
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	db.commitMu.Lock()
	s, n, err := db.load1(name, id, next)
	db.commitMu.Unlock()
	if err != nil || n == 0 {
		return 0, err
	}
	if !db.opts.NoSync {
		if err := db.wal.Sync(s.lsn); err != nil {
			return 0, db.fail(err)
		}
	}
	db.publish(s)
	db.stats.commits.Add(1)
	if db.ckptDue() {
		db.commitMu.Lock()
		if db.ckptDue() && db.writable() == nil {
			err = db.checkpointLocked()
		}
		db.commitMu.Unlock()
	}
	return n, err
}

// loader builds the tree's right edge: spine[0] is the rightmost leaf, spine[i] its
// ancestor i levels up, the last the root. fresh pages are the loader's new pages, written
// to the data file once complete.
type loader struct {
	w     *writer
	spine []*page.Node
	size  []int // encoded size of each spine node
	fresh map[uint32]bool
	buf   []byte
	wrote int // pages written to the data file
}

func (db *DB) load1(name []byte, id uint32, next func() ([]byte, []byte, error)) (snapshot, int, error) {
	if err := db.writable(); err != nil {
		return snapshot{}, 0, err
	}
	w := &writer{db: db, meta: db.latest.meta, dirty: make(map[uint32]*page.Node), st: &TxStats{}}
	// The bucket must still be the one created above, empty, with nothing after it.
	v, ok, err := treeGet(w, w.meta.Root, treeKey(catalogBucket, name))
	if err != nil {
		return snapshot{}, 0, err
	}
	if !ok || len(v) != 4 || [4]byte(v) != [4]byte(treeKey(id, nil)) {
		return snapshot{}, 0, fmt.Errorf("%w: bucket %q was dropped or recreated during the load", ErrConflict, name)
	}
	lo, hi := treeKey(id, nil), treeKey(id+1, nil)
	tc := treeCursor{r: w, root: w.meta.Root}
	if err := tc.seek(lo); err != nil {
		return snapshot{}, 0, err
	}
	if tc.valid() {
		return snapshot{}, 0, fmt.Errorf("%w: key %q of bucket %d is in the way", ErrNotAppendable, tc.key()[4:], id)
	}
	l := &loader{w: w, fresh: map[uint32]bool{}, buf: make([]byte, db.pageSize)}
	if err := l.openSpine(); err != nil {
		return snapshot{}, 0, err
	}
	var prev []byte
	n := 0
	for {
		k, v, err := next()
		if err != nil {
			return snapshot{}, 0, err
		}
		if k == nil {
			break
		}
		switch {
		case len(k) == 0:
			return snapshot{}, 0, ErrKeyEmpty
		case len(k)+4 > maxKey(db.pageSize):
			return snapshot{}, 0, fmt.Errorf("%w: %d bytes, at most %d with %d-byte pages", ErrKeyTooLarge, len(k), maxKey(db.pageSize)-4, db.pageSize)
		case len(v) > MaxValueSize:
			return snapshot{}, 0, fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, len(v), MaxValueSize)
		case prev != nil && bytes.Compare(k, prev[4:]) <= 0:
			return snapshot{}, 0, fmt.Errorf("%w: %q after %q", ErrUnsorted, k, prev[4:])
		}
		tk := treeKey(id, k) // a copy: next may reuse its buffers
		if err := l.add(tk, bytes.Clone(v)); err != nil {
			return snapshot{}, 0, err
		}
		prev = tk
		n++
	}
	if n == 0 {
		return snapshot{}, 0, nil
	}
	if err := l.fixRightEdge(prev); err != nil {
		return snapshot{}, 0, err
	}
	if err := l.flush(); err != nil {
		return snapshot{}, 0, db.fail(err)
	}
	s, err := w.appendCommit()
	if err != nil {
		if errors.Is(err, page.ErrCorrupt) {
			return snapshot{}, 0, err
		}
		return snapshot{}, 0, db.fail(err)
	}
	db.remember(commitRecord{lsn: s.lsn, span: &keyRange{lo, hi}})
	return s, n, nil
}

// openSpine takes the tree's right edge, from the root down, as the nodes to append to.
func (l *loader) openSpine() error {
	n, err := l.w.mutable(l.w.meta.Root)
	for depth := 0; err == nil; depth++ {
		l.spine = append([]*page.Node{n}, l.spine...)
		l.size = append([]int{n.Size()}, l.size...)
		if n.Type == page.TypeLeaf {
			return nil
		}
		if err = expect(n, page.TypeBranch); err != nil || depth > 64 {
			break
		}
		n, err = l.w.mutable(n.Children[len(n.Children)-1])
	}
	if err == nil {
		err = fmt.Errorf("%w: tree deeper than 64 levels", page.ErrCorrupt)
	}
	return err
}

// add appends one entry to the rightmost leaf, starting a new leaf when it is full.
func (l *loader) add(k, v []byte) error {
	val, err := l.w.makeValue(k, v)
	if err != nil {
		return err
	}
	cell := page.LeafCellSize(k, val)
	leaf := l.spine[0]
	if l.size[0]+cell > l.w.db.pageSize && len(leaf.Keys) > 0 {
		nl := l.alloc(page.TypeLeaf)
		nl.Prev, leaf.Next = leaf.Pgno, nl.Pgno
		if err := l.done(leaf); err != nil {
			return err
		}
		if err := l.push(1, k, nl.Pgno); err != nil { // before nl replaces leaf: a new root needs leaf
			return err
		}
		l.spine[0], l.size[0] = nl, page.HeaderSize
		leaf = nl
	}
	leaf.Keys = append(leaf.Keys, k)
	leaf.Vals = append(leaf.Vals, val)
	l.size[0] += cell
	return nil
}

// push adds separator sep and the new child to the right of the branch at level, which
// starts a new branch when full and a new root above the old one.
func (l *loader) push(level int, sep []byte, child uint32) error {
	if level == len(l.spine) {
		root := l.alloc(page.TypeBranch)
		root.Keys = [][]byte{sep}
		root.Children = []uint32{l.spine[level-1].Pgno, child}
		l.w.meta.Root = root.Pgno
		l.spine = append(l.spine, root)
		l.size = append(l.size, root.Size())
		return nil
	}
	b := l.spine[level]
	cell := page.BranchCellSize(sep)
	if l.size[level]+cell > l.w.db.pageSize {
		nb := l.alloc(page.TypeBranch)
		nb.Children = []uint32{child} // sep goes up: it separates b from nb
		if err := l.done(b); err != nil {
			return err
		}
		if err := l.push(level+1, sep, nb.Pgno); err != nil {
			return err
		}
		l.spine[level], l.size[level] = nb, page.HeaderSize
		return nil
	}
	b.Keys = append(b.Keys, sep)
	b.Children = append(b.Children, child)
	l.size[level] += cell
	return nil
}

// alloc takes a new page from the end of the file (never the free list: freed pages are
// part of committed states until the checkpoint, and only the log may change those).
func (l *loader) alloc(typ byte) *page.Node {
	w := l.w
	pgno := w.meta.PageCount
	w.meta.PageCount++
	n := &page.Node{Type: typ, Pgno: pgno}
	w.dirty[pgno] = n
	l.fresh[pgno] = true
	return n
}

// done is called on a node that gets no more entries: a fresh one is written to the data
// file now and leaves the commit's log frames.
func (l *loader) done(n *page.Node) error {
	if l.w.meta.PageCount >= 1<<31 {
		return fmt.Errorf("store: database is full (%d pages)", l.w.meta.PageCount)
	}
	if !l.fresh[n.Pgno] {
		return nil
	}
	db := l.w.db
	n.LSN = db.latest.lsn // no log frame describes it: the last commit's LSN, durable before it
	if err := n.Encode(l.buf); err != nil {
		return err
	}
	if _, err := db.dbf.WriteAt(l.buf, int64(n.Pgno)*int64(db.pageSize)); err != nil {
		return db.fail(err)
	}
	delete(l.w.dirty, n.Pgno)
	db.pool.drop(pageKey{n.Pgno, 0}) // an abandoned earlier load may have left a copy
	l.wrote++
	return nil
}

// fixRightEdge merges or refills the underfull nodes the load leaves on the right edge
// (the last leaf may hold a single entry, a new branch a single child).
func (l *loader) fixRightEdge(last []byte) error {
	w := l.w
	for range 64 {
		leaf, path, err := descend(w, w.meta.Root, last, make([]step, 0, 8))
		if err != nil {
			return err
		}
		fixed := false
		n := leaf
		for i := len(path); i > 0; i-- {
			if w.underfull(n) || (n.Type == page.TypeBranch && len(n.Keys) == 0) {
				if n, err = w.mutable(n.Pgno); err != nil {
					return err
				}
				if err := w.rebalanceUp(path[:i], n); err != nil {
					return err
				}
				fixed = true
				break
			}
			if n, err = w.node(path[i-1].pgno); err != nil {
				return err
			}
		}
		if !fixed {
			return nil
		}
	}
	return fmt.Errorf("store: bulk load could not settle the tree's right edge")
}

// flush makes the pages written to the data file durable before the commit that
// references them is logged.
func (l *loader) flush() error {
	if l.wrote == 0 {
		return nil
	}
	return l.w.db.dbf.Sync()
}
