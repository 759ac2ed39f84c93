package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// indexEntry says that the batch with relative offset rel starts at byte pos of the
// segment, and that every batch before it has timestamps at most tsBefore.
type indexEntry struct {
	rel      uint32
	pos      uint32
	tsBefore int64
}

const (
	indexEntrySize = 8  // rel uint32, pos uint32
	timeEntrySize  = 12 // ts int64, rel uint32
)

// segment is one file of the log. The log's mutex guards every field but f, base, ioMu
// and retired.
type segment struct {
	base int64
	f    *os.File

	// ioMu lets reads that hold no log lock use f while retention or compaction
	// retires the segment: readers hold it shared, close holds it alone.
	ioMu    sync.RWMutex
	retired bool // f is closed; readers must look up their segment again

	size       int64 // bytes of valid batches
	alloc      int64 // the file's length when more than size: zeros written ahead (Log.makeRoom)
	end        int64 // offset after the last batch
	maxTs      int64 // largest batch max timestamp, -1 when empty
	entries    []indexEntry
	sinceIndex int64 // bytes appended since the last index entry
	created    time.Time
}

func openSegment(dir string, base int64) (*segment, error) {
	f, err := os.OpenFile(segName(dir, base, ".log"), os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	s := &segment{base: base, f: f, created: time.Now()}
	s.reset()
	return s, nil
}

func createSegment(dir string, base int64, now time.Time) (*segment, error) {
	f, err := os.OpenFile(segName(dir, base, ".log"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	os.Remove(segName(dir, base, ".index"))
	os.Remove(segName(dir, base, ".timeindex"))
	s := &segment{base: base, f: f, created: now}
	s.reset()
	return s, nil
}

func (s *segment) reset() {
	s.size, s.end, s.maxTs, s.entries, s.sinceIndex = 0, s.base, -1, nil, 0
}

// track records a batch written at pos in the indexes.
func (s *segment) track(b *Batch, pos, interval int64) {
	if s.sinceIndex >= interval {
		s.entries = append(s.entries, indexEntry{rel: uint32(b.BaseOffset - s.base), pos: uint32(pos), tsBefore: s.maxTs})
		s.sinceIndex = 0
	}
	s.sinceIndex += int64(b.Size())
	s.maxTs = max(s.maxTs, b.MaxTimestamp)
	s.end = b.LastOffset() + 1
}

// positionFor is where to start looking for offset: the last indexed batch at or before it.
func (s *segment) positionFor(offset int64) int64 {
	i := sort.Search(len(s.entries), func(i int) bool { return s.base+int64(s.entries[i].rel) > offset })
	if i == 0 {
		return 0
	}
	return int64(s.entries[i-1].pos)
}

// positionForTime is where to start looking for the first batch with a timestamp of at
// least ts: after the last indexed point before which every timestamp is smaller.
func (s *segment) positionForTime(ts int64) int64 {
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].tsBefore >= ts })
	if i == 0 {
		return 0
	}
	return int64(s.entries[i-1].pos)
}

// find returns the position of the first batch at or after start that holds offset or
// a later one, or -1 when none does before size.
func (s *segment) find(offset, start, size int64) (int64, error) {
	var hdr [HeaderSize]byte
	for pos := start; pos+HeaderSize <= size; {
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
			return 0, err
		}
		b, err := ParseHeader(hdr[:])
		if err != nil {
			return 0, fmt.Errorf("%s at %d: %w", s.f.Name(), pos, err)
		}
		if b.LastOffset() >= offset {
			return pos, nil
		}
		pos += int64(b.Size())
	}
	return -1, nil
}

// readBatches reads whole batches from pos: at least one, then as many as fit in
// maxBytes, into a buffer from get (nil: a new one).
func (s *segment) readBatches(pos, size int64, maxBytes int, get func(int) []byte) ([]byte, error) {
	var hdr [HeaderSize]byte
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, err
	}
	b, err := ParseHeader(hdr[:])
	if err != nil {
		return nil, err
	}
	n := int(min(int64(max(maxBytes, b.Size())), size-pos))
	var buf []byte
	if get != nil {
		buf = get(n)
	} else {
		buf = make([]byte, n)
	}
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	var whole int
	for whole+HeaderSize <= len(buf) {
		b, err := ParseHeader(buf[whole:])
		if err != nil || whole+b.Size() > len(buf) {
			break
		}
		whole += b.Size()
	}
	return buf[:whole], nil
}

// newest is the timestamp retention by age judges the segment by.
func (s *segment) newest() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	if fi, err := s.f.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// writeIndexes writes both index files of the segment, replacing the old ones. They
// are not synced: an index lost in a crash is detected and rebuilt on Open.
func (s *segment) writeIndexes(dir string) error {
	idx := make([]byte, 0, len(s.entries)*indexEntrySize)
	tix := make([]byte, 0, (len(s.entries)+1)*timeEntrySize)
	for _, e := range s.entries {
		idx = be.AppendUint32(idx, e.rel)
		idx = be.AppendUint32(idx, e.pos)
		tix = be.AppendUint64(tix, uint64(e.tsBefore))
		tix = be.AppendUint32(tix, e.rel)
	}
	// The trailer: the segment's max timestamp and its end, relative to base.
	tix = be.AppendUint64(tix, uint64(s.maxTs))
	tix = be.AppendUint32(tix, uint32(s.end-s.base))
	if err := writeFile(segName(dir, s.base, ".index"), idx); err != nil {
		return err
	}
	return writeFile(segName(dir, s.base, ".timeindex"), tix)
}

func writeFile(name string, p []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, p, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

var errBadIndex = errors.New("index does not match its segment")

// readIndexes loads the index files of a sealed segment and checks that they agree
// with each other and with the segment.
func (s *segment) readIndexes() error {
	dir, base := dirOf(s.f.Name()), s.base
	idx, err := os.ReadFile(segName(dir, base, ".index"))
	if err != nil {
		return err
	}
	tix, err := os.ReadFile(segName(dir, base, ".timeindex"))
	if err != nil {
		return err
	}
	n := len(idx) / indexEntrySize
	if len(idx)%indexEntrySize != 0 || len(tix) != (n+1)*timeEntrySize {
		return fmt.Errorf("%w: sizes %d and %d", errBadIndex, len(idx), len(tix))
	}
	entries := make([]indexEntry, n)
	for i := range entries {
		e := indexEntry{
			rel:      be.Uint32(idx[i*8:]),
			pos:      be.Uint32(idx[i*8+4:]),
			tsBefore: int64(be.Uint64(tix[i*12:])),
		}
		if be.Uint32(tix[i*12+8:]) != e.rel || int64(e.pos) >= s.size ||
			(i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos || e.tsBefore < entries[i-1].tsBefore)) {
			return fmt.Errorf("%w: entry %d", errBadIndex, i)
		}
		entries[i] = e
	}
	t := tix[n*12:]
	maxTs, endRel := int64(be.Uint64(t)), int64(be.Uint32(t[8:]))
	if n > 0 && endRel <= int64(entries[n-1].rel) {
		return fmt.Errorf("%w: end %d", errBadIndex, endRel)
	}
	// The last entry must point at a batch that has the offset it claims.
	if n > 0 {
		hdr := make([]byte, HeaderSize)
		if _, err := s.f.ReadAt(hdr, int64(entries[n-1].pos)); err != nil {
			return err
		}
		b, err := ParseHeader(hdr)
		if err != nil || b.BaseOffset != base+int64(entries[n-1].rel) {
			return fmt.Errorf("%w: last entry points at no batch", errBadIndex)
		}
	}
	s.entries, s.maxTs, s.end = entries, maxTs, base+endRel
	s.sinceIndex = 0
	return nil
}

// retire closes the file once no read is using it.
func (s *segment) retire() error {
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	if s.retired {
		return nil
	}
	s.retired = true
	return s.f.Close()
}

// acquire pins the file for a read; it reports false when the segment is retired.
func (s *segment) acquire() bool {
	s.ioMu.RLock()
	if s.retired {
		s.ioMu.RUnlock()
		return false
	}
	return true
}

func (s *segment) release() { s.ioMu.RUnlock() }

func (s *segment) remove(dir string) error {
	s.retire()
	for _, ext := range []string{".index", ".timeindex"} {
		os.Remove(segName(dir, s.base, ext))
	}
	return os.Remove(segName(dir, s.base, ".log"))
}

func dirOf(name string) string { return filepath.Dir(name) }
