package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"time"

	"gantry/store/page"
	"gantry/store/wal"
)

// Isolation is a transaction's isolation level.
type Isolation int

const (
	// Snapshot isolation (the default): a transaction reads the state as of its start and
	// fails with ErrConflict at commit if a concurrent transaction committed a write to a
	// key it also wrote (first committer wins). Write skew is possible.
	Snapshot Isolation = iota
	// Serializable adds to Snapshot a check of what the transaction read: a commit fails
	// with ErrConflict if a concurrent commit wrote a key it read or a key inside a range
	// its cursors scanned (backward optimistic validation).
	Serializable
	// ReadCommitted reads, at each Get and each new cursor, the latest committed state,
	// and does no validation at commit: the last writer wins (lost updates are possible).
	ReadCommitted
)

func (i Isolation) String() string {
	switch i {
	case Snapshot:
		return "snapshot"
	case Serializable:
		return "serializable"
	case ReadCommitted:
		return "read-committed"
	}
	return fmt.Sprintf("Isolation(%d)", int(i))
}

// TxOptions configure BeginTx.
type TxOptions struct {
	Writable  bool
	Isolation Isolation // default Snapshot
	// NoSync makes this transaction's commit return before its log frames are durable
	// (as Options.NoSync does for every transaction): a crash may lose it, never half of
	// it. A later durable commit makes it durable too. Default false.
	NoSync bool
}

// TxStats count one transaction's page reads and writes.
type TxStats struct {
	PagesRead    int // pages read from the file or the log
	CacheHits    int // pages the buffer pool served
	PagesWritten int // log frames its commit wrote
}

// Tx is a transaction. A Tx is not safe for concurrent use; use one per goroutine.
type Tx struct {
	db       *DB
	id       uint64
	writable bool
	noSync   bool
	done     bool
	iso      Isolation
	snap     snapshot
	stats    TxStats
	// txWrites is a writable transaction's state, nil in a read-only one, so that a read
	// allocates a Tx of 192 bytes rather than 352.
	*txWrites

	bkt     Bucket // the first Bucket the transaction returns (newBucket)
	bktUsed bool
	getRd   snapReader // get's reader, here so that passing it as an interface does not allocate
}

// txWrites is what only a writable transaction keeps.
type txWrites struct {
	writes    map[string]*entry // tree key -> pending write
	sorted    []string          // keys of writes in order, rebuilt when dirty
	dirtyWS   bool
	perBkt    map[uint32]int    // writes per bucket, so cursors know when to merge
	reads     map[string]bool   // Serializable: keys read
	ranges    []keyRange        // Serializable: ranges scanned
	deps      map[string]bool   // catalog keys of the buckets used: a concurrent drop conflicts
	dropped   []uint32          // buckets deleted by this transaction
	lockedAt  map[string]uint64 // keys locked with Lock: the snapshot they were read at
	dropSet   map[uint32]bool
	newBkt    uint32 // highest bucket id created
	usedLocks bool   // Lock was called: the lock table has entries to release
	wsBytes   int    // bytes of keys and values in writes
}

// isDropped reports whether tx deleted bucket id.
func (tx *Tx) isDropped(id uint32) bool { return tx.txWrites != nil && tx.dropSet[id] }

type entry struct {
	val []byte
	del bool
}

type keyRange struct{ lo, hi []byte } // [lo, hi); hi nil = to the end

// commitRecord is what validation needs of a committed transaction.
type commitRecord struct {
	lsn  uint64
	keys map[string]bool
	span *keyRange // a bulk load: every key in [lo, hi) counts as written
}

// touches reports whether c wrote k.
func (c *commitRecord) touches(k string) bool {
	if c.span != nil && k >= string(c.span.lo) && k < string(c.span.hi) {
		return true
	}
	return c.keys[k]
}

// Begin starts a transaction; a writable one may Put and Delete.
func (db *DB) Begin(writable bool) (*Tx, error) {
	return db.BeginTx(&TxOptions{Writable: writable})
}

// BeginTx starts a transaction with options (nil: read-only, Snapshot).
func (db *DB) BeginTx(opts *TxOptions) (*Tx, error) {
	var o TxOptions
	if opts != nil {
		o = *opts
	}
	if o.Writable {
		if err := db.writable(); err != nil {
			return nil, err
		}
	}
	s, err := db.acquire()
	if err != nil {
		return nil, err
	}
	tx := &Tx{db: db, id: db.txSeq.Add(1), writable: o.Writable, iso: o.Isolation, noSync: o.NoSync, snap: s}
	if o.Writable {
		tx.txWrites = &txWrites{writes: make(map[string]*entry), perBkt: make(map[uint32]int), deps: make(map[string]bool)}
		if o.Isolation == Serializable {
			tx.reads = make(map[string]bool)
		}
	}
	return tx, nil
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Update runs fn in a writable transaction and commits it if fn returns nil; it rolls back
// if fn returns an error or panics (the panic goes on). On ErrConflict, or ErrDeadlock from
// Bucket.Lock, it runs fn again, up to Options.Retries times.
func (db *DB) Update(fn func(*Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.update(fn)
		retry := errors.Is(err, ErrConflict) || errors.Is(err, ErrDeadlock)
		if !retry || attempt >= db.opts.Retries {
			return err
		}
		backoff(attempt)
	}
}

// backoff waits before retry attempt+1 of a transaction that lost a conflict: first only
// yields, then sleeps a random time that doubles up to a millisecond. Without it, losers
// that retry at once can spin through every retry while the winner waits for a core.
func backoff(attempt int) {
	if attempt < 2 {
		runtime.Gosched()
		return
	}
	limit := min(time.Millisecond, time.Microsecond<<min(attempt, 10))
	time.Sleep(rand.N(limit) + 1)
}

func (db *DB) update(fn func(*Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ID returns the transaction's number, unique in this process.
func (tx *Tx) ID() uint64 { return tx.id }

// Writable reports whether tx can write.
func (tx *Tx) Writable() bool { return tx.writable }

// Stats returns the transaction's page counters.
func (tx *Tx) Stats() TxStats { return tx.stats }

// Rollback ends tx, discarding its writes. It is a no-op on a finished transaction.
func (tx *Tx) Rollback() error {
	if tx.done {
		return nil
	}
	tx.finish()
	return nil
}

func (tx *Tx) finish() {
	tx.done = true
	tx.db.stats.cacheHits.Add(uint64(tx.stats.CacheHits))
	if tx.stats.PagesRead != 0 { // mostly 0: spare readers one more shared atomic
		tx.db.stats.pagesRead.Add(uint64(tx.stats.PagesRead))
	}
	tx.db.release(tx.snap)
	if tx.txWrites != nil {
		if tx.usedLocks {
			tx.db.locks.releaseAll(tx)
		}
		tx.writes, tx.reads = nil, nil
	}
}

// reader returns the tree state reads see: the snapshot, or for ReadCommitted the latest
// committed state, re-registered so that a checkpoint keeps it readable.
func (tx *Tx) reader() (snapReader, uint32, error) {
	if tx.done {
		return snapReader{}, 0, ErrTxDone
	}
	if tx.iso == ReadCommitted {
		s, err := tx.db.acquire()
		if err != nil {
			return snapReader{}, 0, err
		}
		tx.db.release(tx.snap)
		tx.snap = s
	}
	return snapReader{tx.db, tx.snap.lsn, &tx.stats}, tx.snap.meta.Root, nil
}

func treeKey(bucket uint32, k []byte) []byte {
	b := make([]byte, 4+len(k))
	binary.BigEndian.PutUint32(b, bucket)
	copy(b[4:], k)
	return b
}

// get reads tree key k as this transaction sees it.
func (tx *Tx) get(k []byte) ([]byte, bool, error) {
	r, root, err := tx.reader()
	if err != nil {
		return nil, false, err
	}
	if tx.txWrites != nil {
		if e, ok := tx.writes[string(k)]; ok {
			return e.val, !e.del, nil
		}
		if tx.reads != nil {
			tx.reads[string(k)] = true
		}
	}
	tx.getRd = r
	return treeGet(&tx.getRd, root, k)
}

func (tx *Tx) checkWrite(bucket uint32, k []byte, vlen int) error {
	switch {
	case tx.done:
		return ErrTxDone
	case !tx.writable:
		return fmt.Errorf("%w: transaction", ErrReadOnly)
	case len(k) == 0:
		return ErrKeyEmpty
	case len(k)+4 > maxKey(tx.db.pageSize):
		return fmt.Errorf("%w: %d bytes, at most %d with %d-byte pages", ErrKeyTooLarge, len(k), maxKey(tx.db.pageSize)-4, tx.db.pageSize)
	case vlen > MaxValueSize:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, vlen, MaxValueSize)
	case tx.wsBytes+len(k)+vlen > tx.db.opts.MaxTxBytes:
		return fmt.Errorf("%w: its writes would pass Options.MaxTxBytes (%d)", ErrTxTooLarge, tx.db.opts.MaxTxBytes)
	}
	return nil
}

func (tx *Tx) write(bucket uint32, k, v []byte, del bool) {
	tk := string(treeKey(bucket, k))
	if _, ok := tx.writes[tk]; !ok {
		tx.dirtyWS = true
		tx.perBkt[bucket]++
	}
	tx.wsBytes += len(k) + len(v)
	e := &entry{del: del}
	if !del {
		e.val = append([]byte{}, v...)
	}
	tx.writes[tk] = e
}

// sortedWrites returns the write set's keys in order.
func (tx *Tx) sortedWrites() []string {
	if tx.dirtyWS {
		tx.sorted = tx.sorted[:0]
		for k := range tx.writes {
			tx.sorted = append(tx.sorted, k)
		}
		sort.Strings(tx.sorted)
		tx.dirtyWS = false
	}
	return tx.sorted
}

// Commit makes tx's writes durable and visible, or returns why not: ErrConflict
// (nothing written; retry), or an I/O error that turned the database read-only.
func (tx *Tx) Commit() error {
	if tx.done {
		return ErrTxDone
	}
	if !tx.writable || (len(tx.writes) == 0 && len(tx.dropped) == 0) {
		tx.finish()
		return nil
	}
	db := tx.db
	err := tx.commit()
	tx.finish()
	if err != nil {
		return err
	}
	if db.ckptDue() {
		db.commitMu.Lock()
		if db.ckptDue() && db.writable() == nil {
			err = db.checkpointLocked()
		}
		db.commitMu.Unlock()
	}
	return err
}

func (tx *Tx) commit() error {
	db := tx.db
	db.commitMu.Lock()
	if err := db.writable(); err != nil {
		db.commitMu.Unlock()
		return err
	}
	if err := tx.validate(); err != nil {
		db.commitMu.Unlock()
		db.stats.conflicts.Add(1)
		return err
	}
	s, err := tx.apply()
	db.commitMu.Unlock()
	if err != nil {
		if errors.Is(err, page.ErrCorrupt) {
			return err
		}
		return db.fail(err)
	}
	if !db.opts.NoSync && !tx.noSync {
		if err := db.wal.Sync(s.lsn); err != nil {
			return db.fail(err)
		}
	}
	db.publish(s)
	db.stats.commits.Add(1)
	return nil
}

// validate checks tx against the commits that happened since its snapshot (commitMu held).
func (tx *Tx) validate() error {
	for i := range tx.db.recent {
		c := &tx.db.recent[i]
		if c.lsn <= tx.snap.lsn {
			continue
		}
		for k := range tx.writes {
			if tx.iso == ReadCommitted {
				break
			}
			if at, ok := tx.lockedAt[k]; ok && c.lsn <= at {
				continue // read under a lock after this commit: no lost update
			}
			if c.touches(k) {
				return fmt.Errorf("%w: key %q was written by a concurrent transaction", ErrConflict, k[4:])
			}
		}
		for k := range tx.deps {
			if c.keys[k] {
				return fmt.Errorf("%w: bucket %q was changed by a concurrent transaction", ErrConflict, k[4:])
			}
		}
		for k := range tx.reads {
			if c.touches(k) {
				return fmt.Errorf("%w: key %q read was written by a concurrent transaction", ErrConflict, k[4:])
			}
		}
		for _, r := range tx.ranges {
			if c.span != nil && (r.hi == nil || string(c.span.lo) < string(r.hi)) && string(r.lo) < string(c.span.hi) {
				return fmt.Errorf("%w: a concurrent bulk load wrote inside a scanned range", ErrConflict)
			}
			for k := range c.keys {
				if k >= string(r.lo) && (r.hi == nil || k < string(r.hi)) {
					return fmt.Errorf("%w: a concurrent transaction wrote %q inside a scanned range", ErrConflict, k[4:])
				}
			}
		}
	}
	return nil
}

// apply writes tx into the tree and appends the changed pages to the log (commitMu held).
func (tx *Tx) apply() (snapshot, error) {
	db := tx.db
	w := &writer{db: db, meta: db.latest.meta, dirty: make(map[uint32]*page.Node), st: &tx.stats}
	for _, b := range tx.dropped {
		if err := w.dropBucket(b); err != nil {
			return snapshot{}, err
		}
	}
	for _, k := range tx.sortedWrites() {
		e := tx.writes[k]
		var err error
		if e.del {
			_, err = w.del([]byte(k))
		} else {
			err = w.put([]byte(k), e.val)
		}
		if err != nil {
			return snapshot{}, err
		}
	}
	w.meta.NextBucket = max(w.meta.NextBucket, tx.newBkt+1)
	s, err := w.appendCommit()
	if err != nil {
		return snapshot{}, err
	}
	tx.stats.PagesWritten = w.framesWritten
	if tx.perBkt[catalogBucket] > 0 || len(tx.dropped) > 0 {
		db.catalogChanged(s.lsn)
	}
	keys := make(map[string]bool, len(tx.writes))
	for k := range tx.writes {
		keys[k] = true
	}
	db.remember(commitRecord{lsn: s.lsn, keys: keys})
	return s, nil
}

// remember keeps c for validating transactions that began before it (commitMu held).
func (db *DB) remember(c commitRecord) {
	oldest := db.oldest()
	keep := db.recent[:0]
	for _, r := range db.recent {
		if r.lsn > oldest {
			keep = append(keep, r)
		}
	}
	db.recent = append(keep, c)
}

// appendCommit appends the writer's changed pages and its meta page, flagged commit, to
// the log, records the frames, and makes the commit the latest (commitMu held).
func (w *writer) appendCommit() (snapshot, error) {
	db := w.db
	w.meta.TxID++

	// Page images in page order, then the meta page, flagged commit.
	pgnos := make([]uint32, 0, len(w.dirty))
	for p := range w.dirty {
		pgnos = append(pgnos, p)
	}
	sort.Slice(pgnos, func(i, j int) bool { return pgnos[i] < pgnos[j] })
	next := db.wal.Next()
	frames := make([]wal.Frame, 0, len(pgnos)+1)
	for i, p := range pgnos {
		n := w.dirty[p]
		n.LSN = next + uint64(i)
		// A buffer per page, not one for the commit: the page is cached below, and one
		// long-lived page must not keep a whole commit's buffer alive.
		b := make([]byte, db.pageSize)
		if err := n.Encode(b); err != nil {
			return snapshot{}, err
		}
		frames = append(frames, wal.Frame{Pgno: p, LSN: n.LSN, Page: b})
	}
	lsn := next + uint64(len(pgnos))
	w.meta.LSN = lsn
	mb := make([]byte, db.pageSize)
	w.meta.Encode(mb)
	frames = append(frames, wal.Frame{Pgno: 0, Flags: wal.FlagCommit, LSN: lsn, Page: mb})
	if _, err := db.wal.Append(frames); err != nil {
		return snapshot{}, err
	}
	w.framesWritten = len(frames)
	db.stats.pagesWritten.Add(uint64(len(frames)))

	db.idxMu.Lock()
	for _, fr := range frames {
		db.addFrame(fr.Pgno, fr.LSN)
	}
	db.idxMu.Unlock()
	// Write-through: the committed nodes are immutable from here on, and the next reader
	// or committer of these pages would otherwise read them back from the log.
	// The cached copy is decoded from the page image, so that its keys and values live in
	// the page buffer, not in the transaction's write set scattered over the heap.
	for i, p := range pgnos {
		if w.dirty[p].Type == page.TypeFree {
			continue
		}
		n, err := page.Decode(frames[i].Page, p)
		if err != nil {
			continue // cannot happen (just encoded); a reader would meet the error itself
		}
		db.pool.put(pageKey{p, n.LSN}, n, true) // the newest: commits are serialised
	}
	s := snapshot{lsn: lsn, meta: w.meta}
	db.latest = s
	return s, nil
}

// dropBucket deletes every key of bucket b.
func (w *writer) dropBucket(b uint32) error {
	lo, hi := treeKey(b, nil), treeKey(b+1, nil)
	for {
		leaf, _, err := descend(w, w.meta.Root, lo, nil)
		if err != nil {
			return err
		}
		i, _ := search(leaf.Keys, lo)
		if i == len(leaf.Keys) {
			if leaf.Next == 0 {
				return nil
			}
			if leaf, err = w.node(leaf.Next); err != nil {
				return err
			}
			i = 0
		}
		if i >= len(leaf.Keys) || bytes.Compare(leaf.Keys[i], hi) >= 0 {
			return nil
		}
		if _, err := w.del(leaf.Keys[i]); err != nil {
			return err
		}
	}
}
