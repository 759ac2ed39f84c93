package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gantry/store/page"
	"gantry/store/vfs"
	"gantry/store/wal"
)

// Errors callers branch on.
var (
	// ErrConflict: a concurrent transaction committed a conflicting write first. Retry the
	// transaction (Update does, with Options.Retries).
	ErrConflict = errors.New("store: transaction conflict")
	// ErrReadOnly: the database stopped taking writes after a failed write or fsync (the
	// error that caused it is wrapped), or the transaction is read-only.
	ErrReadOnly = errors.New("store: read-only")
	// ErrClosed: the database or transaction is closed.
	ErrClosed        = errors.New("store: closed")
	ErrTxDone        = errors.New("store: transaction already committed or rolled back")
	ErrBucketExists  = errors.New("store: bucket exists")
	ErrBucketMissing = errors.New("store: bucket not found")
	ErrKeyEmpty      = errors.New("store: empty key")
	ErrKeyTooLarge   = errors.New("store: key too large")
	ErrValueTooLarge = errors.New("store: value too large")
	ErrTxTooLarge    = errors.New("store: transaction too large")
	// ErrLockTimeout: Lock waited Options.LockTimeout for a key another transaction holds.
	ErrLockTimeout = errors.New("store: lock wait timed out")
	// ErrDeadlock: Lock would wait for a younger transaction (wait-die): retry.
	ErrDeadlock = errors.New("store: lock would deadlock")
	// ErrNotDatabase and ErrVersion come from the page format.
	ErrNotDatabase = page.ErrNotDatabase
	ErrVersion     = page.ErrVersion
	ErrLocked      = vfs.ErrLocked
)

// MaxValueSize is the largest value Put takes.
const MaxValueSize = 256 << 20

// Options configure Open. The zero value (or nil) means the defaults given on each field.
type Options struct {
	// PageSize of a new database, a power of two from 1 KiB to 64 KiB. Default 4096.
	// An existing database keeps the page size it was created with.
	PageSize int
	// CacheBytes bounds the buffer pool. Default 64 MiB.
	CacheBytes int
	// NoSync skips the fsync at commit: a crash may lose the last commits (never
	// corrupts the database: checkpoints still sync the log first). For tests and bulk
	// loads. Default false: a commit returns once its log frames are durable.
	NoSync bool
	// CheckpointBytes is the log size past which a commit copies the log into the data
	// file. Default 64 MiB.
	CheckpointBytes int64
	// WALSegmentBytes is the size of a log segment file, filled with zeros when it is
	// made and reused after checkpoints (docs/store.md, "Segments"). Default a quarter of
	// CheckpointBytes, from 64 KiB to 1 MiB (1 MiB with the default CheckpointBytes). Up to
	// CheckpointBytes/WALSegmentBytes + 4 (at most 64) spare segments are kept: the log
	// takes up to about twice CheckpointBytes on disk.
	WALSegmentBytes int64
	// LockTimeout bounds how long Tx.Lock waits for a key. Default 1s.
	LockTimeout time.Duration
	// MaxTxBytes bounds the keys and values one transaction may write (its write set is
	// held in memory until commit). Default 256 MiB; past it Put fails with ErrTxTooLarge.
	MaxTxBytes int
	// Retries is how many times Update runs its function again after ErrConflict.
	// Default 0.
	Retries int
	// FS is the file layer. Default the operating system's.
	FS vfs.FS
	// Logger receives checkpoints and recovery. Default: discard.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.PageSize == 0 {
		c.PageSize = 4096
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 64 << 20
	}
	if c.CheckpointBytes == 0 {
		c.CheckpointBytes = 64 << 20
	}
	if c.MaxTxBytes == 0 {
		c.MaxTxBytes = 256 << 20
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = time.Second
	}
	if c.FS == nil {
		c.FS = vfs.OS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// snapshot is one committed state: the meta page of the commit whose frame has LSN lsn.
type snapshot struct {
	lsn  uint64
	meta page.Meta
	pin  *snapPin // the registration a transaction holds (acquire), else nil
}

// snapPin counts the transactions reading one published snapshot.
type snapPin struct {
	snap snapshot
	refs atomic.Int64
}

// DB is an open database: one data file of pages and its write-ahead log, segment files
// named path.000000000001-wal and on.
type DB struct {
	path     string
	opts     Options
	log      *slog.Logger
	dbf      vfs.File
	wal      *wal.Log
	pageSize int
	pool     *pool
	locks    *lockTable

	// table holds, per page, the LSNs of its frames in the log and its most-read cached
	// versions, for readers without a lock. idxMu is held exclusively to add LSNs and to
	// let the log go at a checkpoint, and shared by readers that miss the table, across
	// resolving a version and reading the frame, so that a checkpoint cannot release a
	// frame (and recycle its segment) from under them. logPages lists the pages with frames in the log (idxMu).
	table    pageTable
	idxMu    sync.RWMutex
	logPages []uint32

	// side keeps the page versions that snapshots older than a checkpoint read (side.go);
	// saved lists them per page, ascending, and changes under commitMu and idxMu held
	// exclusively. sideBytes and sideVersions mirror the side store's size for Stats.
	side         sideStore
	saved        map[uint32][]sideVer
	sideBytes    atomic.Int64
	sideVersions atomic.Int64

	// commitMu serialises commits' validation, tree changes and log appends, and
	// checkpoints. A transaction's own life takes no lock: only this short step does.
	commitMu sync.Mutex
	latest   snapshot       // last appended commit (maybe not durable yet)
	recent   []commitRecord // recent commits' write sets, for validation
	ckptLSN  uint64         // data file holds every frame up to here
	// ckptAt is the log size at the last checkpoint that could not let the log go (it
	// could not save versions aside for open snapshots: checkpointToOldest): the next
	// waits for the log to grow by a quarter of CheckpointBytes again rather than trying
	// at every commit.
	ckptAt atomic.Int64

	// cat is the bucket-name cache, valid for snapshots at or after its lsn, the last
	// commit that changed the catalog. Readers load it without a lock; it is replaced
	// whole (copy on write) under catMu.
	catMu sync.Mutex
	cat   atomic.Pointer[catalogCache]

	// cur is the latest durable commit, what new transactions see; a transaction pins it
	// by counting itself in its refs (acquire), without a lock.
	cur     atomic.Pointer[snapPin]
	mu      sync.Mutex // guards pins, failed, and publishing cur
	pins    []*snapPin // snapshots published and maybe still held, oldest first
	failed  error
	closed  atomic.Bool
	txSeq   atomic.Uint64
	bucket  atomic.Uint32 // next bucket id
	stats   dbStats
	closeMu sync.Once
}

type dbStats struct {
	pagesRead, cacheHits, pagesWritten, commits, conflicts, checkpoints atomic.Uint64
}

// Open opens the database at path, creating it if missing, and recovers it from its log.
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	if o.CacheBytes < 0 || o.CheckpointBytes < 0 || o.MaxTxBytes < 0 || o.LockTimeout < 0 || o.Retries < 0 || o.WALSegmentBytes < 0 {
		return nil, errors.New("store: CacheBytes, CheckpointBytes, WALSegmentBytes, MaxTxBytes, LockTimeout and Retries must not be negative")
	}
	if !page.ValidSize(o.PageSize) {
		return nil, fmt.Errorf("store: page size %d: want a power of two from %d to %d", o.PageSize, page.MinSize, page.MaxSize)
	}
	db := &DB{path: path, opts: o, log: o.Logger, saved: make(map[uint32][]sideVer)}
	db.locks = newLockTable()
	db.cat.Store(&catalogCache{})
	f, err := o.FS.OpenFile(path, true)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.dbf = f
	if err := db.open(); err != nil {
		db.closeFiles()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) open() error {
	if err := db.dbf.Lock(); err != nil {
		return err
	}
	size, err := db.dbf.Size()
	if err != nil {
		return err
	}
	var meta page.Meta
	metaErr := error(nil)
	if size == 0 {
		db.pageSize = db.opts.PageSize
		if meta, err = db.create(); err != nil {
			return err
		}
	} else {
		head := make([]byte, min(size, page.HeaderSize+64))
		if _, err := db.dbf.ReadAt(head, 0); err != nil {
			return err
		}
		db.pageSize = page.PageSizeOf(head)
		if !page.ValidSize(db.pageSize) {
			if db.pageSize == 0 {
				return ErrNotDatabase
			}
			return fmt.Errorf("%w: page size %d", page.ErrCorrupt, db.pageSize)
		}
		p := make([]byte, db.pageSize)
		if _, err := db.dbf.ReadAt(p, 0); err != nil && err != io.EOF {
			return err
		}
		// A torn meta page is repaired from the log below; anything else is fatal.
		if meta, metaErr = page.DecodeMeta(p); metaErr != nil && !errors.Is(metaErr, page.ErrCorrupt) {
			return metaErr
		}
	}
	db.pool = newPool(max(16, db.opts.CacheBytes/db.pageSize), &db.table)
	// The side file holds versions for this process's snapshots only: whatever an earlier
	// process left there is of no use.
	if db.side.f, err = db.opts.FS.OpenFile(db.path+"-side", true); err != nil {
		return err
	}
	db.side.pageSize = db.pageSize
	if err := db.side.f.Truncate(0); err != nil {
		return err
	}
	l, frames, err := db.openLog(meta, metaErr, size == 0)
	if err != nil {
		return err
	}
	db.wal = l
	if len(frames) > 0 {
		last := frames[len(frames)-1]
		p := make([]byte, db.pageSize)
		if err := l.ReadFrame(last.LSN, 0, p); err != nil {
			return err
		}
		if meta, err = page.DecodeMeta(p); err != nil {
			return fmt.Errorf("log's last commit: %w", err)
		}
		if meta.ID != l.ID() {
			return fmt.Errorf("%w: its commits are of database %016x", wal.ErrFormat, meta.ID)
		}
		for _, fr := range frames {
			// Pages are never taken back from the end of the file: every frame's page is
			// below the last commit's page count (and the table is sized by it).
			if fr.Pgno >= meta.PageCount {
				return fmt.Errorf("%w: log frame %d is of page %d, past the page count %d", page.ErrCorrupt, fr.LSN, fr.Pgno, meta.PageCount)
			}
			db.addFrame(fr.Pgno, fr.LSN)
		}
		db.log.Info("store: recovered from log", "path", db.path, "frames", len(frames), "lsn", last.LSN)
	} else if metaErr != nil {
		return metaErr
	}
	db.latest = snapshot{lsn: meta.LSN, meta: meta}
	db.publish(db.latest)
	db.ckptLSN = meta.LSN
	if len(frames) > 0 {
		db.ckptLSN = frames[0].LSN - 1
	}
	db.bucket.Store(meta.NextBucket)
	if len(frames) > 0 {
		db.commitMu.Lock()
		err = db.checkpointLocked()
		db.commitMu.Unlock()
		if err != nil {
			return err
		}
	}
	// Every page ever allocated has been written, and the log is now in the data file:
	// a page count past the file's end is damage (and would size Check's tables).
	if size, err = db.dbf.Size(); err != nil {
		return err
	}
	if int64(meta.PageCount) > size/int64(db.pageSize) {
		return fmt.Errorf("%w: meta page counts %d pages, the file holds %d", page.ErrCorrupt, meta.PageCount, size/int64(db.pageSize))
	}
	return nil
}

// openLog opens the log and recovers the commits the data file lacks, from the start the
// log's headers record (the data file's meta page can be ahead of its other pages after a
// crash in a checkpoint; when it is torn, metaErr, the last recovered commit's meta page is
// the one kept, and the log's database id is checked against it). A log beside a new data file (fresh)
// belongs to some earlier database: it is never replayed. A log of format version 1 (one
// file, path + "-wal") is removed when it holds nothing the data file lacks, as after a
// clean close; otherwise Open refuses it.
func (db *DB) openLog(meta page.Meta, metaErr error, fresh bool) (*wal.Log, []wal.Frame, error) {
	from, id := meta.LSN+1, meta.ID
	if metaErr != nil {
		from, id = 0, 0 // ID 0: any log, checked against its last commit below
	}
	legacy := db.path + "-wal"
	exists, needed, err := wal.Legacy(db.opts.FS, legacy, db.pageSize)
	if err != nil && !fresh {
		return nil, nil, fmt.Errorf("%s: %w", legacy, err)
	}
	if needed && !fresh {
		return nil, nil, fmt.Errorf("%w: %s is a log of format version 1 that holds commits the data file lacks: open the database once with a gantry from before log segments, which checkpoints it on open", wal.ErrFormat, legacy)
	}
	// Spares for a checkpoint's worth of log and the transactions that cross the limit.
	spares := int(min(64, db.opts.CheckpointBytes/max(1, db.segmentBytes())+4))
	l, frames, err := wal.Open(db.opts.FS, db.path, db.pageSize, from, wal.Options{ID: id, SegmentBytes: db.segmentBytes(), Spares: spares, Discard: fresh})
	if err != nil {
		return nil, nil, err
	}
	if exists {
		// The segments are in place (Open synced them): the old file can go.
		err := db.opts.FS.Remove(legacy)
		if err == nil {
			err = db.opts.FS.SyncDir(legacy)
		}
		if err != nil {
			l.Close()
			return nil, nil, err
		}
	}
	return l, frames, nil
}

// segmentBytes is the size of a new log segment: WALSegmentBytes, else a quarter of the
// checkpoint distance from 64 KiB to 1 MiB (wal.DefaultSegmentBytes), so that a small log
// is not made of files mostly empty.
func (db *DB) segmentBytes() int64 {
	if db.opts.WALSegmentBytes > 0 {
		return db.opts.WALSegmentBytes
	}
	return min(wal.DefaultSegmentBytes, max(64<<10, db.opts.CheckpointBytes/4))
}

// create writes an empty database: the meta page and an empty root leaf, synced.
func (db *DB) create() (page.Meta, error) {
	meta := page.Meta{PageSize: uint32(db.pageSize), Root: 1, PageCount: 2, NextBucket: 1, ID: rand.Uint64() | 1}
	b := make([]byte, 2*db.pageSize)
	meta.Encode(b[:db.pageSize])
	if err := (&page.Node{Type: page.TypeLeaf, Pgno: 1}).Encode(b[db.pageSize:]); err != nil {
		return meta, err
	}
	if _, err := db.dbf.WriteAt(b, 0); err != nil {
		return meta, err
	}
	return meta, db.dbf.Sync()
}

// Path returns the data file's path.
func (db *DB) Path() string { return db.path }

// PageSize returns the database's page size.
func (db *DB) PageSize() int { return db.pageSize }

// Close checkpoints the log into the data file when it can and closes the files.
// Transactions still open fail afterwards with ErrClosed.
func (db *DB) Close() error {
	var err error
	db.closeMu.Do(func() {
		db.commitMu.Lock()
		db.mu.Lock()
		failed := db.failed
		db.closed.Store(true)
		db.mu.Unlock()
		if failed == nil {
			err = db.checkpointLocked()
		}
		db.commitMu.Unlock()
		if cerr := db.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (db *DB) closeFiles() error {
	var err error
	if db.wal != nil {
		err = db.wal.Close()
	}
	if db.side.f != nil {
		db.side.f.Truncate(0) // nothing in it is of use to a later process
		if cerr := db.side.f.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := db.dbf.Close(); err == nil {
		err = cerr
	}
	return err
}

// fail turns the database read-only after a write or fsync error.
func (db *DB) fail(err error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.failed == nil {
		db.failed = err
		db.log.Error("store: database is read-only after a failed write", "path", db.path, "err", err)
	}
	return fmt.Errorf("%w: %w", ErrReadOnly, db.failed)
}

// acquire registers a transaction on the current snapshot, which stays readable (its log
// frames stay) until release. It takes no lock: it counts itself in the snapshot's pin,
// then checks the pin is still the current one. oldest reads the counts after publishing
// a new snapshot, so either it sees this count or this check sees the new snapshot and
// tries again (the atomics are sequentially consistent).
func (db *DB) acquire() (snapshot, error) {
	for {
		if db.closed.Load() {
			return snapshot{}, ErrClosed
		}
		p := db.cur.Load()
		p.refs.Add(1)
		if db.cur.Load() == p {
			s := p.snap
			s.pin = p
			return s, nil
		}
		p.refs.Add(-1)
	}
}

func (db *DB) release(s snapshot) {
	if s.pin != nil {
		s.pin.refs.Add(-1)
	}
}

// publish makes s the snapshot new transactions see, unless a later one already is.
func (db *DB) publish(s snapshot) {
	db.mu.Lock()
	if c := db.cur.Load(); c == nil || s.lsn > c.snap.lsn {
		s.pin = nil
		p := &snapPin{snap: s}
		db.pins = append(db.pins, p)
		db.cur.Store(p)
	}
	db.mu.Unlock()
}

// oldest returns the oldest snapshot any transaction holds, or the current one, and
// forgets the pins no transaction holds any more.
func (db *DB) oldest() uint64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.cur.Load()
	o := cur.snap.lsn
	keep := db.pins[:0]
	for _, p := range db.pins {
		if p == cur || p.refs.Load() > 0 {
			o = min(o, p.snap.lsn)
			keep = append(keep, p)
		}
	}
	clear(db.pins[len(keep):])
	db.pins = keep
	return o
}

// load returns page pgno as of snapshot mark: its newest log frame at or below mark,
// else the data file's copy. The fast path finds a cached version through the page table
// without a lock; the table only ever holds a page's data-file copy and its newest log
// version, and only while they are in the pool.
func (db *DB) load(pgno uint32, mark uint64, st *TxStats) (*page.Node, error) {
	if e := db.table.entry(pgno); e != nil {
		if t := e.top.Load(); t != nil {
			if t.key.lsn <= mark {
				// top is the newest frame, and every frame at or below mark was recorded
				// before the commit at mark was published: it is the version mark sees.
				t.touch()
				st.CacheHits++ // added to the database's counters when the transaction ends
				return &t.node, nil
			}
			// A commit newer than mark wrote top. prev, loaded after top, is top's
			// predecessor (or nil, or top or newer, which fail the test): the version a
			// reader one commit behind sees, as scans beside a committing writer are.
			if p := e.prev.Load(); p != nil && p.key.lsn <= mark {
				p.touch()
				st.CacheHits++
				return &p.node, nil
			}
		}
		if lsn, _ := e.version(mark); lsn == 0 {
			// The data-file copy, unless a checkpoint wrote a version newer than mark
			// there: then mark's version was saved aside (the slow path finds it). A
			// copy at or below mark is mark's version: any newer one at or below mark
			// would be a frame in lsns, or, if a checkpoint let that frame go, the
			// data file would hold it or a later one.
			if b := e.base.Load(); b != nil && b.node.LSN <= mark {
				b.touch()
				st.CacheHits++
				return &b.node, nil
			}
		}
	}
	return db.loadSlow(pgno, mark, st)
}

func (db *DB) loadSlow(pgno uint32, mark uint64, st *TxStats) (*page.Node, error) {
	db.idxMu.RLock()
	defer db.idxMu.RUnlock()
	lsn, newest := db.table.entry(pgno).version(mark)
	if lsn == 0 {
		if v, ok := db.savedVersion(pgno, mark); ok {
			return db.loadSaved(pgno, v, st)
		}
	}
	k := pageKey{pgno, lsn}
	if n, ok := db.pool.get(k); ok {
		if lsn == 0 && n.LSN > mark {
			return nil, db.tooNew(pgno, n.LSN, mark)
		}
		st.CacheHits++
		return n, nil
	}
	buf := make([]byte, db.pageSize)
	var err error
	if lsn != 0 {
		err = db.wal.ReadFrame(lsn, pgno, buf)
	} else {
		_, err = db.dbf.ReadAt(buf, int64(pgno)*int64(db.pageSize))
		if err == io.EOF {
			err = fmt.Errorf("%w: page %d is past the end of the file", page.ErrCorrupt, pgno)
		}
	}
	if err != nil {
		return nil, err
	}
	st.PagesRead++
	n, err := page.Decode(buf, pgno)
	if err != nil {
		return nil, err
	}
	if lsn == 0 && n.LSN > mark {
		return nil, db.tooNew(pgno, n.LSN, mark)
	}
	return db.pool.put(k, n, newest), nil // no frame can be added meanwhile: idxMu is held
}

// savedVersion returns the version of page pgno that snapshot mark reads from the side
// store, if it has one: the saved version with the lowest hi above mark (the versions of
// a page cover disjoint ranges of snapshots, and every snapshot still held that reads a
// saved version lies in one). idxMu is held.
func (db *DB) savedVersion(pgno uint32, mark uint64) (sideVer, bool) {
	for _, v := range db.saved[pgno] {
		if mark < v.hi {
			return v, true
		}
	}
	return sideVer{}, false
}

// loadSaved returns saved version v of page pgno, through the pool. idxMu is held, so the
// slot cannot be given back meanwhile.
func (db *DB) loadSaved(pgno uint32, v sideVer, st *TxStats) (*page.Node, error) {
	k := pageKey{pgno, sideKeyBit | v.hi}
	if n, ok := db.pool.get(k); ok {
		st.CacheHits++
		return n, nil
	}
	buf := make([]byte, db.pageSize)
	if err := db.side.read(v.off, pgno, v.hi, buf); err != nil {
		return nil, err
	}
	st.PagesRead++
	n, err := page.Decode(buf, pgno)
	if err != nil {
		return nil, err
	}
	return db.pool.put(k, n, false), nil
}

// tooNew is the error of a read that finds in the data file a version newer than its
// snapshot and nothing saved for it: a transaction still reading after Close (the last
// checkpoint saves nothing), else a broken invariant, reported rather than read.
func (db *DB) tooNew(pgno uint32, lsn, mark uint64) error {
	if db.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("store: page %d: the data file holds lsn %d, newer than snapshot %d, and no older version is saved", pgno, lsn, mark)
}

// addFrame records that the log holds a version of page pgno at lsn. Its cached newest
// version is no longer the newest. idxMu is held exclusively (or the DB is not shared yet).
func (db *DB) addFrame(pgno uint32, lsn uint64) {
	e := db.table.ensure(pgno)
	e.prev.Store(e.top.Load()) // nil if the newest was not cached: prev is top's predecessor or nothing
	e.top.Store(nil)
	if e.appendLSN(lsn) {
		db.logPages = append(db.logPages, pgno)
	}
}

// checkpointLocked writes every page's newest version from the log into the data file,
// syncs it, and lets the log go (the segments wholly before it become spares), however
// old the snapshots transactions still read:
// before a page's copy in the data file is overwritten, or the log frames holding its
// older versions are let go, the version each older snapshot reads is saved aside
// (side.go). If that fails (a full disk under the side file) it falls back to
// checkpointToOldest, which needs no saving but cannot let the log go. commitMu is held.
func (db *DB) checkpointLocked() error {
	if err := db.wal.Sync(db.latest.lsn); err != nil { // the WAL rule, also under NoSync
		return db.fail(err)
	}
	db.publish(db.latest)
	var held []snapshot
	if !db.closed.Load() { // after Close no transaction reads again
		held = db.heldSnapshots()
	}
	db.forgetSaved(held)
	if db.wal.Stats().Frames == 0 {
		db.ckptAt.Store(0)
		return nil
	}
	saves, err := db.saveVersions(held)
	if err != nil {
		db.log.Warn("store: cannot save page versions aside for older snapshots; the log stays until they end", "path", db.path, "err", err)
		return db.checkpointToOldest(held)
	}
	db.idxMu.Lock()
	for _, sv := range saves {
		db.saved[sv.pgno] = append(db.saved[sv.pgno], sv.v)
	}
	db.idxMu.Unlock()
	db.noteSide()
	bound := db.latest.lsn
	if err := db.copyToDataFile(bound); err != nil {
		return err
	}
	db.ckptAt.Store(0)
	return db.recycleLog(bound)
}

// pageVersion is a version of page pgno saved aside.
type pageVersion struct {
	pgno uint32
	v    sideVer
}

// saveVersions writes into the side store, for every page the checkpoint will overwrite
// in the data file, the version each held snapshot reads, unless it is the page's newest
// (the data file will hold it) or already saved. It returns them, not yet visible to
// readers. On an error it gives back what it wrote. commitMu is held (so no frame is
// added meanwhile).
func (db *DB) saveVersions(held []snapshot) ([]pageVersion, error) {
	var saves []pageVersion
	buf := make([]byte, db.pageSize)
	for _, pgno := range db.logPages {
		if pgno == 0 {
			continue // the meta page: a snapshot carries its own copy and never reads it
		}
		lsns := *db.table.entry(pgno).lsns.Load()
		newest := lsns[len(lsns)-1]
		if newest <= db.ckptLSN {
			continue // the data file holds it already: nothing is overwritten
		}
		last := uint64(math.MaxUint64)
		for _, s := range held { // ascending, so the versions they read ascend too
			if s.lsn >= newest {
				break
			}
			if pgno >= s.meta.PageCount {
				continue // the page did not exist yet in that snapshot
			}
			v, _ := db.table.entry(pgno).version(s.lsn)
			if v == last {
				continue
			}
			if _, ok := db.savedVersion(pgno, s.lsn); ok && v == 0 {
				continue // it reads a version saved by an earlier checkpoint
			}
			last = v
			i := sort.Search(len(lsns), func(i int) bool { return lsns[i] > v })
			sv := sideVer{lo: v, hi: lsns[i]}
			var err error
			if v == 0 {
				_, err = db.dbf.ReadAt(buf, int64(pgno)*int64(db.pageSize))
				sv.lo = page.LSN(buf)
			} else {
				err = db.wal.ReadFrame(v, pgno, buf)
			}
			if err == nil {
				sv.off, err = db.side.write(pgno, sv.hi, buf)
			}
			if err != nil {
				for _, s := range saves {
					db.side.release(s.v.off)
				}
				return nil, err
			}
			saves = append(saves, pageVersion{pgno, sv})
		}
	}
	return saves, nil
}

// forgetSaved drops the saved versions that no held snapshot reads. commitMu is held.
func (db *DB) forgetSaved(held []snapshot) {
	if len(db.saved) == 0 {
		return
	}
	db.idxMu.Lock()
	for pgno, vs := range db.saved {
		keep := vs[:0]
		for _, v := range vs {
			if readsVersion(held, v) {
				keep = append(keep, v)
				continue
			}
			db.side.release(v.off)
			db.pool.drop(pageKey{pgno, sideKeyBit | v.hi})
		}
		if len(keep) == 0 {
			delete(db.saved, pgno)
		} else {
			clear(vs[len(keep):])
			db.saved[pgno] = keep
		}
	}
	db.idxMu.Unlock()
	db.noteSide()
}

// readsVersion reports whether a snapshot in held (ascending) lies in [v.lo, v.hi).
func readsVersion(held []snapshot, v sideVer) bool {
	i := sort.Search(len(held), func(i int) bool { return held[i].lsn >= v.lo })
	return i < len(held) && held[i].lsn < v.hi
}

func (db *DB) noteSide() {
	db.sideBytes.Store(db.side.bytes())
	db.sideVersions.Store(int64(db.side.live()))
}

// heldSnapshots returns the snapshots older than the latest commit that transactions
// hold, oldest first, and forgets the pins no transaction holds. Called after publishing
// the latest commit: a transaction that registers later takes that one.
func (db *DB) heldSnapshots() []snapshot {
	db.oldest() // forgets the pins no longer held
	db.mu.Lock()
	defer db.mu.Unlock()
	var held []snapshot
	for _, p := range db.pins {
		if p.refs.Load() > 0 && p.snap.lsn < db.latest.lsn {
			held = append(held, p.snap)
		}
	}
	return held
}

// copyToDataFile copies into the data file, for every page with frames in the log, its
// newest frame at or below bound not already there, and syncs the data file.
// commitMu is held.
func (db *DB) copyToDataFile(bound uint64) error {
	type copyOp struct {
		pgno uint32
		lsn  uint64
	}
	var ops []copyOp
	db.idxMu.RLock()
	for _, pgno := range db.logPages {
		if lsn, _ := db.table.entry(pgno).version(bound); lsn > db.ckptLSN {
			ops = append(ops, copyOp{pgno, lsn})
		}
	}
	db.idxMu.RUnlock()
	sort.Slice(ops, func(i, j int) bool { return ops[i].pgno < ops[j].pgno })
	buf := make([]byte, db.pageSize)
	for _, op := range ops {
		if err := db.wal.ReadFrame(op.lsn, op.pgno, buf); err != nil {
			return db.fail(err)
		}
		if page.LSN(buf) > db.latest.lsn {
			return db.fail(fmt.Errorf("WAL rule: page %d has lsn %d past the durable log %d", op.pgno, page.LSN(buf), db.latest.lsn))
		}
		if _, err := db.dbf.WriteAt(buf, int64(op.pgno)*int64(db.pageSize)); err != nil {
			return db.fail(err)
		}
		db.pool.drop(pageKey{op.pgno, 0})
		db.stats.pagesWritten.Add(1)
	}
	if len(ops) > 0 {
		if err := db.dbf.Sync(); err != nil {
			return db.fail(err)
		}
		db.stats.checkpoints.Add(1)
	}
	db.ckptLSN = max(db.ckptLSN, bound)
	return nil
}

// checkpointToOldest is the checkpoint that saves nothing aside: it copies for each page
// its newest frame not newer than the oldest held snapshot, and lets the log go only
// when that is the latest commit. commitMu is held.
func (db *DB) checkpointToOldest(held []snapshot) error {
	bound := db.latest.lsn
	if len(held) > 0 {
		bound = held[0].lsn
	}
	if err := db.copyToDataFile(bound); err != nil {
		return err
	}
	if bound != db.latest.lsn {
		db.ckptAt.Store(db.wal.Stats().Bytes)
		return nil
	}
	db.ckptAt.Store(0)
	return db.recycleLog(bound)
}

// recycleLog lets the log go up to bound, the latest commit, now in the synced data file:
// no reader reads those frames again, and the segments that hold only them become spares.
// commitMu is held.
func (db *DB) recycleLog(bound uint64) error {
	if err := db.releaseLog(bound); err != nil {
		return err
	}
	// Outside idxMu: no reader can be reading a released frame (releaseLog emptied the
	// table under it), and renaming files and syncing the directory take a while.
	if err := db.wal.Recycle(); err != nil {
		return db.fail(err)
	}
	return nil
}

func (db *DB) releaseLog(bound uint64) error {
	db.idxMu.Lock()
	defer db.idxMu.Unlock()
	if err := db.wal.Release(bound); err != nil {
		return db.fail(err)
	}
	// What readers will now read from the data file is each page's newest frame: keep the
	// cached copies under their new name instead of going cold.
	for _, pgno := range db.logPages {
		e := db.table.entry(pgno)
		lsns := *e.lsns.Load()
		db.pool.rekey(pageKey{pgno, lsns[len(lsns)-1]}, pageKey{pgno, 0})
		e.lsns.Store(nil)
		e.top.Store(nil)
		e.prev.Store(nil)
	}
	db.logPages = db.logPages[:0]
	db.log.Debug("store: checkpoint", "lsn", bound)
	return nil
}

// Checkpoint copies the log into the data file now (Close and large logs do it too).
func (db *DB) Checkpoint() error {
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	if err := db.writable(); err != nil {
		return err
	}
	return db.checkpointLocked()
}

func (db *DB) writable() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed.Load() {
		return ErrClosed
	}
	if db.failed != nil {
		return fmt.Errorf("%w: %w", ErrReadOnly, db.failed)
	}
	return nil
}

// Stats are a database's counters since Open.
type Stats struct {
	PagesRead    uint64 // pages read from the data file or the log (cache misses)
	CacheHits    uint64 // page reads the buffer pool served
	PagesWritten uint64 // pages written: log frames and checkpoint copies
	Commits      uint64 // write transactions committed
	Conflicts    uint64 // commits refused with ErrConflict
	Checkpoints  uint64
	Syncs        uint64 // log fsyncs (fewer than commits when group commit shares them)
	WALFrames    uint64 // frames in the log not yet checkpointed
	WALBytes     int64  // the size of those frames
	WALSegments  int    // log segment files in use
	WALSpares    int    // recycled or prepared segment files kept for use
	WALPrepared  uint64 // new segments made ahead by the background, before a commit needed them
	CachedPages  int    // pages in the buffer pool now
	// SideVersions and SideBytes: page versions saved aside for snapshots older than the
	// last checkpoint, and the side file's size (see docs/store.md, "Checkpoints").
	SideVersions int
	SideBytes    int64
}

// Stats returns the database's counters.
func (db *DB) Stats() Stats {
	ws := db.wal.Stats()
	return Stats{
		PagesRead:    db.stats.pagesRead.Load(),
		CacheHits:    db.stats.cacheHits.Load(),
		PagesWritten: db.stats.pagesWritten.Load(),
		Commits:      db.stats.commits.Load(),
		Conflicts:    db.stats.conflicts.Load(),
		Checkpoints:  db.stats.checkpoints.Load(),
		Syncs:        ws.Syncs,
		WALFrames:    ws.Frames,
		WALBytes:     ws.Bytes,
		WALSegments:  ws.Segments,
		WALSpares:    ws.Spares,
		WALPrepared:  ws.Prepared,
		CachedPages:  db.pool.len(),
		SideVersions: int(db.sideVersions.Load()),
		SideBytes:    db.sideBytes.Load(),
	}
}

var latestMark = uint64(math.MaxUint64)

// catalogCache maps bucket names to ids for snapshots at or after lsn. It is immutable.
type catalogCache struct {
	lsn uint64
	ids map[string]cachedID
}

// cachedID is a bucket's identifier and its name, kept as a string so that a Bucket
// found here needs no copy of the name.
type cachedID struct {
	id   uint32
	name string
}

func (db *DB) cachedBucket(name []byte, snap uint64) (cachedID, bool) {
	c := db.cat.Load()
	if snap < c.lsn {
		return cachedID{}, false
	}
	e, ok := c.ids[string(name)]
	return e, ok
}

func (db *DB) cacheBucket(name []byte, id uint32, snap uint64) {
	db.catMu.Lock()
	defer db.catMu.Unlock()
	c := db.cat.Load()
	if snap < c.lsn {
		return
	}
	ids := make(map[string]cachedID, len(c.ids)+1)
	if len(c.ids) < 4096 {
		for k, v := range c.ids {
			ids[k] = v
		}
	}
	ids[string(name)] = cachedID{id, string(name)}
	db.cat.Store(&catalogCache{lsn: c.lsn, ids: ids})
}

// catalogChanged drops the bucket-name cache: commit lsn changed the catalog.
func (db *DB) catalogChanged(lsn uint64) {
	db.catMu.Lock()
	db.cat.Store(&catalogCache{lsn: lsn})
	db.catMu.Unlock()
}

// ckptDue reports whether the log has grown enough for a checkpoint.
func (db *DB) ckptDue() bool {
	size, limit := db.wal.Stats().Bytes, db.opts.CheckpointBytes
	if at := db.ckptAt.Load(); at > 0 {
		return size > at+max(1, limit/4)
	}
	return size > limit
}
