package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config tunes a Log. The zero value of every field means its default.
type Config struct {
	// SegmentBytes rolls the active segment when the next append would take it past
	// this size. Default 128 MiB.
	SegmentBytes int64
	// SegmentAge rolls the active segment on the first append after it is this old.
	// Default 7 days.
	SegmentAge time.Duration
	// RetentionAge deletes a whole segment once its newest record is older than this
	// (measured by record timestamps). Default 7 days; negative keeps forever.
	RetentionAge time.Duration
	// RetentionBytes deletes the oldest segments while the log without them is still at
	// least this big. Default 0: no limit by size.
	RetentionBytes int64
	// IndexInterval is how many bytes of batches lie between two index entries.
	// Default 4096.
	IndexInterval int64
	// FlushMessages makes Append sync the log once this many records are unsynced.
	// Default 0: never by count (the caller syncs).
	FlushMessages int64
	// Logger receives recovery and retention lines. Nil discards them.
	Logger *slog.Logger
	// OnSync, when set, is told how long each fsync of a segment took (syncs of
	// appended records and of a segment sealed at roll): the disk's own latency, not
	// the time callers waited for a shared sync.
	OnSync func(time.Duration)
}

func (c *Config) fill() {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 128 << 20
	}
	if c.SegmentAge <= 0 {
		c.SegmentAge = 7 * 24 * time.Hour
	}
	if c.RetentionAge == 0 {
		c.RetentionAge = 7 * 24 * time.Hour
	}
	if c.IndexInterval <= 0 {
		c.IndexInterval = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrOutOfRange reports a read below the log's start or past its end.
var ErrOutOfRange = errors.New("offset out of range")

// ErrClosed reports use of a closed log.
var ErrClosed = errors.New("log closed")

// Log is one partition's log. Its methods are safe for concurrent use.
type Log struct {
	dir string
	cfg Config
	lg  *slog.Logger

	// mu protects segs, next, unflushed, rolled and closed. Appends hold it for writing;
	// reads hold it only to find their segment and its size, then read the file without it.
	mu        sync.RWMutex
	segs      []*segment
	next      int64 // offset the next record gets: the log end offset
	unflushed int64 // records appended since the last sync began
	closed    bool
	// rolled is the segment sealed by the last roll while its fsync (and the fsync of
	// the directory that names the new active segment) has not yet succeeded. At most
	// one segment is ever in this state, so Open need only scan the last two segments.
	// Retention and compaction leave it alone; every Sync covers it.
	rolled *segment

	syncMu    sync.Mutex   // one fsync at a time; waiters share the next one
	compactMu sync.Mutex   // one compaction at a time
	flushed   atomic.Int64 // every offset below this is on disk

	syncFile func(*os.File) error // datasync; tests hold or fail it
}

// Appends smaller than growMin get room on disk ahead of them: growChunk bytes of zeros
// at a time are written past the end of the active segment's data, and the appends
// that follow overwrite them. An fdatasync of such a write changes no metadata (the
// file's size and blocks are already on disk), so it needs no journal commit: on ext4,
// a 4 KiB append and sync of one log took about half the time (BenchmarkAppendSync).
// Bigger appends (a producer's batches of a MiB) gain little from it and would write
// the disk twice, so they extend the file as before. The sync after a grow waits for
// the zeros and commits the new size: growChunk is kept small so that this sync, which
// one produce in every growChunk of data waits for, is not much slower than the others.
const (
	growMin   = 128 << 10
	growChunk = 256 << 10
)

// Open opens or creates the log in dir, recovering its tail.
func Open(dir string, cfg Config) (*Log, error) {
	cfg.fill()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, cfg: cfg, lg: cfg.Logger.With("dir", dir), syncFile: datasync}
	bases, err := segmentBases(dir)
	if err != nil {
		return nil, err
	}
	for i, base := range bases {
		s, err := openSegment(dir, base)
		if err != nil {
			l.closeFiles()
			return nil, err
		}
		l.segs = append(l.segs, s)
		switch i {
		case len(bases) - 1:
			err = l.recover(s)
		case len(bases) - 2:
			// It may have rolled just before a crash, before its fsync finished.
			err = l.recoverRolled(s)
		default:
			err = l.loadIndexes(s)
		}
		if err != nil {
			l.closeFiles()
			return nil, err
		}
	}
	if len(l.segs) == 0 {
		s, err := createSegment(dir, 0, time.Now())
		if err != nil {
			return nil, err
		}
		l.segs = append(l.segs, s)
		syncDir(dir)
	}
	active := l.segs[len(l.segs)-1]
	l.next = active.end
	l.flushed.Store(l.next) // what survived recovery is what is on disk
	return l, nil
}

func segmentBases(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range ents {
		// Leftovers of a crash: a compaction's new segment or an index being replaced.
		if strings.HasSuffix(e.Name(), ".cleaned") || strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(name) != 20 {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil || base < 0 {
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// recover scans the active segment batch by batch, truncates it after the last whole
// batch whose CRC matches, and rebuilds its indexes. When nothing but zeros follows
// that batch, they are the room makeRoom wrote ahead of the data, and are kept as such.
func (l *Log) recover(s *segment) error {
	return l.truncateTornTail(s, "torn or corrupt tail", true)
}

// recoverRolled checks the segment before the active one batch by batch, as recover
// does the active one, and writes its indexes anew. A roll fsyncs the sealed segment
// after the new one has begun, so a crash can leave this one torn; its index files
// (written at roll, never synced) are not trusted. Records lost from its tail were
// never acknowledged with acks=all (their Sync covers this segment), and the
// segments after it are kept: readers skip the gap, as they skip compaction's.
func (l *Log) recoverRolled(s *segment) error {
	if err := l.truncateTornTail(s, "torn or corrupt tail of the last rolled segment", false); err != nil {
		return err
	}
	return s.writeIndexes(l.dir)
}

// truncateTornTail cuts s after its last whole batch whose CRC matches, logging what it
// drops as what, and syncs the cut. With keepZeros, a tail of nothing but zeros is
// kept as room for appends: it holds nothing that was ever synced (a synced batch is
// on disk whole, and the first bad batch ends the scan).
func (l *Log) truncateTornTail(s *segment, what string, keepZeros bool) error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	good, err := l.scan(s, fi.Size())
	if err != nil {
		return err
	}
	s.alloc = fi.Size()
	if good == fi.Size() {
		return nil
	}
	if keepZeros {
		zero, err := allZeros(s.f, good, fi.Size())
		if err != nil {
			return err
		}
		if zero {
			l.lg.Debug("log: keeping zeros after the last batch as room", "segment", s.base,
				"valid_bytes", good, "file_bytes", fi.Size())
			return nil
		}
	}
	l.lg.Warn("log: truncating "+what, "segment", s.base,
		"valid_bytes", good, "file_bytes", fi.Size(), "dropped_bytes", fi.Size()-good)
	if err := s.f.Truncate(good); err != nil {
		return fmt.Errorf("truncate %s: %w", s.f.Name(), err)
	}
	s.alloc = good
	return s.f.Sync()
}

// allZeros reports whether f holds only zero bytes from off to end.
func allZeros(f *os.File, off, end int64) (bool, error) {
	buf := make([]byte, min(end-off, 64<<10))
	for off < end {
		n := min(int64(len(buf)), end-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}

// scan reads the batches of s up to limit, rebuilding its in-memory indexes, and
// returns the size of the valid prefix.
func (l *Log) scan(s *segment, limit int64) (int64, error) {
	s.reset()
	var pos int64
	hdr := make([]byte, HeaderSize)
	var buf []byte
	for pos+HeaderSize <= limit {
		if _, err := s.f.ReadAt(hdr, pos); err != nil {
			return 0, fmt.Errorf("read %s: %w", s.f.Name(), err)
		}
		b, err := ParseHeader(hdr)
		if err != nil || pos+int64(b.Size()) > limit || b.BaseOffset < s.end {
			break
		}
		if cap(buf) < b.Size() {
			buf = make([]byte, b.Size())
		}
		buf = buf[:b.Size()]
		if _, err := s.f.ReadAt(buf, pos); err != nil {
			return 0, fmt.Errorf("read %s: %w", s.f.Name(), err)
		}
		if _, err := ParseBatch(buf); err != nil {
			break
		}
		if pos == 0 && b.MaxTimestamp > 0 && b.MaxTimestamp < time.Now().UnixMilli() {
			// The age of a reopened segment counts from its first batch, as Kafka's
			// segment.ms does, not from the broker's start (which would put off the
			// roll by age at every restart).
			s.created = time.UnixMilli(b.MaxTimestamp)
		}
		s.track(&b, pos, l.cfg.IndexInterval)
		pos += int64(b.Size())
	}
	s.size = pos
	return pos, nil
}

// loadIndexes reads the index files of a sealed segment, and rebuilds them from the
// segment when they are missing or do not make sense.
func (l *Log) loadIndexes(s *segment) error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	s.size = fi.Size()
	s.alloc = s.size
	if err := s.readIndexes(); err == nil {
		return nil
	} else {
		l.lg.Warn("log: rebuilding index", "segment", s.base, "reason", err)
	}
	good, err := l.scan(s, s.size)
	if err != nil {
		return err
	}
	if good < s.size {
		// A sealed segment was synced when it rolled: damage here is the disk's doing.
		// Keep what is valid and say so loudly; later segments are kept as they are.
		l.lg.Error("log: corrupt batch inside a sealed segment; truncating it", "segment", s.base,
			"valid_bytes", good, "file_bytes", s.size)
		if err := s.f.Truncate(good); err != nil {
			return err
		}
		s.size, s.alloc = good, good
	}
	return s.writeIndexes(l.dir)
}

// Append checks the record batches in p (a Produce request's records: whole batches,
// format v2, CRC-32C correct), gives them the next offsets, and writes them. It
// rewrites the base offsets inside p. It returns the offsets of the first and last
// records appended. The batches are in the page cache, not yet on disk: see Sync.
func (l *Log) Append(p []byte) (first, last int64, err error) {
	batches, err := SplitBatches(p)
	if err != nil {
		return 0, 0, err
	}
	return l.AppendParsed(p, batches)
}

// AppendParsed is Append for a caller that has already checked p with SplitBatches
// and holds its result.
func (l *Log) AppendParsed(p []byte, batches []Batch) (first, last int64, err error) {
	if len(batches) == 0 {
		return 0, 0, fmt.Errorf("%w: no batches", ErrCorrupt)
	}
	first, last, sync, rolled, err := l.append(p, batches)
	if rolled {
		l.syncRolled()
	}
	if err == nil && sync {
		err = l.Sync()
	}
	return first, last, err
}

// append writes p under the lock; rolled reports that it sealed a segment, whose
// fsync the caller then runs without the lock (syncRolled).
func (l *Log) append(p []byte, batches []Batch) (first, last int64, sync, rolled bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, false, false, ErrClosed
	}
	if rolled, err = l.maybeRoll(int64(len(p))); err != nil {
		return 0, 0, false, rolled, err
	}
	s := l.segs[len(l.segs)-1]
	if s.size == 0 {
		s.created = time.Now() // a segment's age counts from its first records
	}
	first = l.next
	off, pos := l.next, int64(0)
	for i := range batches {
		b := &batches[i]
		setBaseOffset(p[pos:], off)
		b.BaseOffset = off
		off += int64(b.LastOffsetDelta) + 1
		pos += int64(b.Size())
	}
	l.makeRoom(s, int64(len(p)))
	if _, err := s.f.WriteAt(p, s.size); err != nil {
		// Take back whatever part of p reached the file, so the log stays whole.
		s.f.Truncate(s.size)
		s.alloc = s.size
		return 0, 0, false, rolled, fmt.Errorf("append to %s: %w", s.f.Name(), err)
	}
	pos = s.size
	for i := range batches {
		s.track(&batches[i], pos, l.cfg.IndexInterval)
		pos += int64(batches[i].Size())
	}
	s.size = pos
	s.alloc = max(s.alloc, pos)
	l.next = off
	l.unflushed += off - first
	sync = l.cfg.FlushMessages > 0 && l.unflushed >= l.cfg.FlushMessages
	return first, off - 1, sync, rolled, nil
}

// makeRoom writes zeros past the data of the active segment s before an append of n
// bytes that does not fit in the room already there, when n is below growMin: see
// growMin. The zeros are handed to the disk at once, so that the next fsync finds them
// under way; that fsync waits for them and commits the file's new size and blocks, once
// per growChunk. A failure leaves the file as it was, and the append extends it.
// Called with mu held.
func (l *Log) makeRoom(s *segment, n int64) {
	if s.size+n <= s.alloc || n >= growMin {
		return
	}
	from := max(s.alloc, s.size)
	to := min(s.size+n+growChunk, max(l.cfg.SegmentBytes, s.size+n))
	if to <= from {
		return
	}
	zeros := make([]byte, min(to-from, 64<<10)) // not kept: a log may sit idle for long
	for off := from; off < to; {
		k := min(int64(len(zeros)), to-off)
		if _, err := s.f.WriteAt(zeros[:k], off); err != nil {
			l.lg.Warn("log: writing room ahead of the data failed; appending without it", "segment", s.base, "err", err)
			s.f.Truncate(from)
			return
		}
		off += k
	}
	startWriteback(s.f, from, to-from)
	s.alloc = to
}

// maybeRoll starts a new segment when adding n bytes would overfill the active one or
// when it is too old, and reports whether it did. Called with mu held.
func (l *Log) maybeRoll(n int64) (bool, error) {
	s := l.segs[len(l.segs)-1]
	if s.size == 0 {
		return false, nil
	}
	if s.size+n <= l.cfg.SegmentBytes && time.Since(s.created) < l.cfg.SegmentAge {
		return false, nil
	}
	return true, l.roll()
}

// roll seals the active segment (its indexes written) and creates the next one. The
// sealed segment is not synced here, under mu, but by syncRolled or the next Sync
// once mu is released: appends and reads go on meanwhile.
func (l *Log) roll() error {
	if l.rolled != nil {
		// The previous roll's fsync has not succeeded yet (only a segment filled
		// within one fsync, or a failed fsync, gets here). Finish it first, so that
		// no more than one sealed segment is ever unsynced: Open relies on that.
		if err := l.syncRolledFiles(l.rolled); err != nil {
			return err
		}
		l.rolled = nil
	}
	s := l.segs[len(l.segs)-1]
	if s.alloc > s.size {
		// A sealed segment ends with its last batch: Open takes the size of all but
		// the last two segments from the file.
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("truncate %s: %w", s.f.Name(), err)
		}
		s.alloc = s.size
	}
	if err := s.writeIndexes(l.dir); err != nil {
		return err
	}
	n, err := createSegment(l.dir, l.next, time.Now())
	if err != nil {
		return err
	}
	l.segs = append(l.segs, n)
	l.rolled = s
	l.lg.Debug("log: rolled segment", "base", n.base)
	return nil
}

// syncRolled fsyncs the segment sealed by the last roll and the directory, without mu.
// A failure leaves it to the next Sync, whose caller hears of it.
func (l *Log) syncRolled() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	s, closed := l.rolled, l.closed
	l.mu.RUnlock()
	if s == nil || closed {
		return // a Sync or Close got there first, or Remove
	}
	if err := l.syncRolledFiles(s); err != nil {
		l.lg.Error("log: sync of rolled segment failed; the next sync retries it", "segment", s.base, "err", err)
		return
	}
	l.mu.Lock()
	if l.rolled == s {
		l.rolled = nil
	}
	l.mu.Unlock()
}

// syncRolledFiles fsyncs a sealed segment, then the directory (which names the segment
// after it). The segment cannot be retired meanwhile except by Remove or Close.
func (l *Log) syncRolledFiles(s *segment) error {
	if !s.acquire() {
		return ErrClosed
	}
	err := l.fsync(s.f)
	s.release()
	if err != nil {
		return fmt.Errorf("sync %s: %w", s.f.Name(), err)
	}
	syncDir(l.dir)
	return nil
}

// SetConfig changes the log's segment and retention settings (segment size and age,
// retention by age and size, flush count) from now on; the index interval and logger
// and sync observer stay as opened.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cfg.IndexInterval, cfg.Logger, cfg.OnSync = l.cfg.IndexInterval, l.cfg.Logger, l.cfg.OnSync
	cfg.fill()
	l.cfg = cfg
}

// Sync makes every batch appended before the call durable. Callers that arrive while
// an fsync is running wait for it and then share the next one.
func (l *Log) Sync() error {
	l.mu.RLock()
	target := l.next
	l.mu.RUnlock()
	return l.SyncTo(target)
}

// SyncTo makes every offset below end durable.
func (l *Log) SyncTo(end int64) error {
	if l.flushed.Load() >= end {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.flushed.Load() >= end {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	active, rolled := l.segs[len(l.segs)-1], l.rolled
	upTo := l.next
	l.unflushed = 0
	l.mu.Unlock()
	// Segments before rolled were synced after they rolled; rolled (if its roll's sync
	// has not succeeded) is synced here first, then active. A roll after this point
	// leaves active for the next sync to cover, which waits for this one, so these
	// fsyncs cover everything below upTo.
	if rolled != nil {
		if err := l.syncRolledFiles(rolled); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		l.mu.Lock()
		if l.rolled == rolled {
			l.rolled = nil
		}
		l.mu.Unlock()
	}
	if !active.acquire() {
		// Retired since: the log closed (Close synced it), or the segment rolled, was
		// synced and then deleted by retention.
		l.mu.RLock()
		closed := l.closed
		l.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		l.flushed.Store(upTo)
		return nil
	}
	err := l.fsync(active.f)
	active.release()
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	l.flushed.Store(upTo)
	return nil
}

// fsync syncs f, telling the observer how long it took.
func (l *Log) fsync(f *os.File) error {
	if l.cfg.OnSync == nil {
		return l.syncFile(f)
	}
	start := time.Now()
	err := l.syncFile(f)
	l.cfg.OnSync(time.Since(start))
	return err
}

// Dirty reports whether some appended records are not yet synced.
func (l *Log) Dirty() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.flushed.Load() < l.next
}

// StartOffset is the offset of the oldest record kept.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[0].base
}

// ActiveStart is the base offset of the active segment: the part of the log that
// recovery checks batch by batch on Open.
func (l *Log) ActiveStart() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[len(l.segs)-1].base
}

// EndOffset is the offset the next appended record will get (the high watermark on a
// single node).
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.next
}

// Size is the number of bytes in all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Segments is the number of segment files.
func (l *Log) Segments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}

// Read returns whole batches starting with the one that holds offset, at most maxBytes
// of them, but always at least one batch however big (so that a consumer can make
// progress, as Kafka does). At the end of the log it returns nothing.
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.ReadWith(offset, maxBytes, nil)
}

// ReadWith is Read into a buffer of the caller's: get(n) returns a slice of length n
// (its contents need not be zero), which the returned batches then lie in. A nil get
// allocates. It lets a server reuse the buffers of reads it has answered.
func (l *Log) ReadWith(offset int64, maxBytes int, get func(n int) []byte) ([]byte, error) {
	for {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return nil, ErrClosed
		}
		if offset < l.segs[0].base || offset > l.next {
			l.mu.RUnlock()
			return nil, ErrOutOfRange
		}
		if offset == l.next {
			l.mu.RUnlock()
			return nil, nil
		}
		i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
		s := l.segs[i]
		size, start := s.size, s.positionFor(offset)
		l.mu.RUnlock()

		if !s.acquire() {
			continue // retired by retention or compaction meanwhile: look again
		}
		pos, err := s.find(offset, start, size)
		if err != nil {
			s.release()
			return nil, err
		}
		if pos >= 0 {
			p, err := s.readBatches(pos, size, maxBytes, get)
			s.release()
			return p, err
		}
		s.release()
		// offset lies past this segment's last batch: a gap left by compaction or by a
		// truncated sealed segment. Go on with the next segment, unless the segments
		// changed meanwhile (retention, compaction), then look again.
		l.mu.RLock()
		changed := i >= len(l.segs) || l.segs[i] != s
		last := !changed && i == len(l.segs)-1
		if !changed && !last {
			offset = max(offset, l.segs[i+1].base)
		}
		l.mu.RUnlock()
		if last {
			return nil, nil // only compaction leaves gaps, and never in the active segment
		}
	}
}

// OffsetForTime returns the offset and timestamp of the first record whose timestamp
// is at least ts (as ListOffsets asks); ok is false when no record is that recent.
func (l *Log) OffsetForTime(ts int64) (offset, recordTs int64, ok bool, err error) {
	off, batchTs, ok, err := l.batchForTime(ts)
	if err != nil || !ok {
		return off, batchTs, ok, err
	}
	// Look inside the batch for the record itself.
	p, err := l.Read(off, 1)
	if err != nil || len(p) == 0 {
		return off, batchTs, ok, err
	}
	b, err := ParseBatch(p)
	if err != nil {
		return off, batchTs, ok, nil
	}
	recs, err := batchRecords(kgo.DefaultDecompressor(), b, p[:b.Size()])
	if err != nil {
		return off, batchTs, ok, nil // the batch's offset is a fine answer too
	}
	for _, r := range recs {
		if t := b.FirstTimestamp + r.tsDelta; t >= ts {
			return b.BaseOffset + int64(r.offsetDelta), t, true, nil
		}
	}
	return off, batchTs, ok, nil
}

// batchForTime finds the first batch whose max timestamp is at least ts.
func (l *Log) batchForTime(ts int64) (offset, batchTs int64, ok bool, err error) {
	l.mu.RLock()
	type snap struct {
		s     *segment
		size  int64
		start int64
	}
	var cands []snap
	for _, s := range l.segs {
		if s.maxTs >= ts {
			cands = append(cands, snap{s, s.size, s.positionForTime(ts)})
		}
	}
	l.mu.RUnlock()
	hdr := make([]byte, HeaderSize)
	for _, c := range cands {
		if !c.s.acquire() {
			continue // retired: its records are gone
		}
		for pos := c.start; pos+HeaderSize <= c.size; {
			if _, err := c.s.f.ReadAt(hdr, pos); err != nil {
				c.s.release()
				return 0, 0, false, err
			}
			b, err := ParseHeader(hdr)
			if err != nil {
				c.s.release()
				return 0, 0, false, err
			}
			if b.MaxTimestamp >= ts {
				c.s.release()
				return b.BaseOffset, b.MaxTimestamp, true, nil
			}
			pos += int64(b.Size())
		}
		c.s.release()
	}
	return 0, 0, false, nil
}

// Retain deletes the oldest sealed segments that retention by age or by size no
// longer keeps, and returns how many it deleted. The active segment is never deleted.
func (l *Log) Retain(now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	n := 0
	for len(l.segs) > 1 {
		s := l.segs[0]
		if s == l.rolled {
			break // its fsync is in flight or failed: keep it until a sync succeeds
		}
		byAge := l.cfg.RetentionAge > 0 && s.newest() < now.Add(-l.cfg.RetentionAge).UnixMilli()
		bySize := l.cfg.RetentionBytes > 0 && total-s.size >= l.cfg.RetentionBytes
		if !byAge && !bySize {
			break
		}
		if err := s.remove(l.dir); err != nil {
			return n, err
		}
		l.lg.Info("log: retention deleted segment", "base", s.base, "bytes", s.size, "by_age", byAge, "by_size", bySize)
		total -= s.size
		l.segs = l.segs[1:]
		n++
	}
	return n, nil
}

// Close syncs the log, writes the active segment's indexes and closes the files.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.rolled != nil {
		err = l.syncRolledFiles(l.rolled)
		l.rolled = nil
	}
	s := l.segs[len(l.segs)-1]
	if err == nil {
		err = l.syncFile(s.f)
	}
	if err == nil {
		err = s.writeIndexes(l.dir)
	}
	if cerr := l.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	l.mu.Lock()
	l.closed = true
	l.closeFiles()
	l.mu.Unlock()
	return os.RemoveAll(l.dir)
}

func (l *Log) closeFiles() error {
	var first error
	for _, s := range l.segs {
		if err := s.retire(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ForEachBatch calls fn with every batch from offset on, in order, until fn returns
// false or the log ends. The slice is only valid during the call.
func (l *Log) ForEachBatch(offset int64, fn func(b Batch, raw []byte) bool) error {
	for {
		p, err := l.Read(offset, 1<<20)
		if err != nil || len(p) == 0 {
			return err
		}
		for len(p) > 0 {
			b, err := ParseBatch(p)
			if err != nil {
				return err
			}
			if b.LastOffset() >= offset && !fn(b, p[:b.Size()]) {
				return nil
			}
			offset = b.LastOffset() + 1
			p = p[b.Size():]
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func segName(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

var be = binary.BigEndian
