package log

import (
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Compact keeps, in the sealed segments, only the latest record of each key, as
// Kafka's log cleaner does for cleanup.policy=compact. A tombstone (a record with a
// null value) is itself removed once its batch is older than deleteRetention, so that
// consumers have that long to see the deletion. Records without a key are kept.
// The active segment is not touched, but its keys count: a key written there again
// is removed from the sealed segments. Offsets do not change; compaction leaves gaps.
// Compressed batches are read through franz-go's decompressor; a batch that loses
// records is rewritten uncompressed. It returns how many records it removed.
func (l *Log) Compact(now time.Time, deleteRetention time.Duration) (int, error) {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	var sealed []*segment
	for _, s := range l.segs[:len(l.segs)-1] {
		if s != l.rolled { // its roll's fsync is in flight: rewrite it another time
			sealed = append(sealed, s)
		}
	}
	start := l.segs[0].base
	l.mu.RUnlock()
	if len(sealed) == 0 {
		return 0, nil
	}
	dec := kgo.DefaultDecompressor()
	records := func(b Batch, raw []byte) ([]record, error) { return batchRecords(dec, b, raw) }

	// Pass 1: the offset of each key's latest record, over the whole log.
	latest := map[string]int64{}
	var ferr error
	err := l.ForEachBatch(start, func(b Batch, raw []byte) bool {
		if b.IsControl() {
			return true
		}
		recs, err := records(b, raw)
		if err != nil {
			ferr = err
			return false
		}
		for _, r := range recs {
			if r.key != nil {
				latest[string(r.key)] = b.BaseOffset + int64(r.offsetDelta)
			}
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return 0, err
	}

	// Pass 2: rewrite each sealed segment that loses records.
	horizon := now.Add(-deleteRetention).UnixMilli()
	removed := 0
	for _, s := range sealed {
		n, err := l.compactSegment(s, func(b Batch, raw []byte) ([]byte, int, error) {
			if b.IsControl() {
				return raw, 0, nil
			}
			recs, err := records(b, raw)
			if err != nil {
				return nil, 0, err
			}
			keep := recs[:0:0]
			for _, r := range recs {
				off := b.BaseOffset + int64(r.offsetDelta)
				switch {
				case r.key == nil:
					keep = append(keep, r)
				case latest[string(r.key)] != off:
				case r.tombstone && b.MaxTimestamp < horizon:
				default:
					keep = append(keep, r)
				}
			}
			switch len(keep) {
			case len(recs):
				return raw, 0, nil
			case 0:
				return nil, len(recs), nil
			}
			return buildBatch(b, keep), len(recs) - len(keep), nil
		})
		if err != nil {
			return removed, err
		}
		removed += n
	}
	return removed, nil
}

// compactSegment rewrites s through fn (which returns a batch's new bytes, nil to
// drop it, and how many records it removed) when fn removes anything: a new file is
// written and synced beside the old one, then renamed over it.
func (l *Log) compactSegment(s *segment, fn func(Batch, []byte) ([]byte, int, error)) (int, error) {
	l.mu.RLock()
	size := s.size
	l.mu.RUnlock()
	tmpName := segName(l.dir, s.base, ".log.cleaned")
	tmp, err := os.Create(tmpName)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmpName) // after a successful rename there is nothing to remove
	defer tmp.Close()
	removed := 0
	hdr := make([]byte, HeaderSize)
	var pos int64
	for pos+HeaderSize <= size {
		if _, err := s.f.ReadAt(hdr, pos); err != nil {
			return 0, err
		}
		b, err := ParseHeader(hdr)
		if err != nil {
			return 0, err
		}
		raw := make([]byte, b.Size())
		if _, err := s.f.ReadAt(raw, pos); err != nil {
			return 0, err
		}
		out, n, err := fn(b, raw)
		if err != nil {
			return 0, err
		}
		removed += n
		if out != nil {
			if _, err := tmp.Write(out); err != nil {
				return 0, err
			}
		}
		pos += int64(b.Size())
	}
	if removed == 0 {
		return 0, nil
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	// The old indexes go first, and durably so, before the lock is taken: a crash
	// between here and the new ones leaves a segment without indexes, which Open
	// rebuilds, never one with indexes of the old layout. Nothing else writes a sealed
	// segment's indexes (compactMu is held), and if the segment goes meanwhile they
	// were removed anyway.
	for _, ext := range []string{".index", ".timeindex"} {
		if err := os.Remove(segName(l.dir, s.base, ext)); err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	syncDir(l.dir)
	n, err := l.replaceSegment(s, tmpName, removed, size)
	if err == nil && n > 0 {
		syncDir(l.dir) // makes the rename durable; the log is whole either way
	}
	return n, err
}

// replaceSegment renames the compacted file over s and puts it in s's place, unless s
// was deleted meanwhile. It holds mu, but does no fsync.
func (l *Log) replaceSegment(s *segment, tmpName string, removed int, size int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	idx := -1
	for i, x := range l.segs {
		if x == s {
			idx = i
		}
	}
	if idx < 0 || idx == len(l.segs)-1 {
		return 0, nil // deleted by retention meanwhile, or (impossible) became active
	}
	if err := os.Rename(tmpName, segName(l.dir, s.base, ".log")); err != nil {
		return 0, err
	}
	ns, err := openSegment(l.dir, s.base)
	if err != nil {
		return 0, err
	}
	ns.created = s.created
	fi, err := ns.f.Stat()
	if err != nil {
		return 0, err
	}
	if _, err := l.scan(ns, fi.Size()); err != nil {
		return 0, err
	}
	if err := ns.writeIndexes(l.dir); err != nil {
		return 0, err
	}
	l.segs[idx] = ns
	// Reads still on the old file finish first; later ones find the new segment.
	s.retire()
	l.lg.Info("log: compacted segment", "base", s.base, "removed_records", removed, "bytes_before", size, "bytes_after", ns.size)
	return removed, nil
}
