package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gantry/store/vfs"
)

const (
	magic       = "GNTWAL02"
	version     = 2
	HeaderSize  = 64
	FrameHeader = 24
	// DefaultSegmentBytes is a segment's size when Options leave it 0.
	DefaultSegmentBytes = 1 << 20
	// DefaultSpares is how many recycled segments are kept when Options leave it 0.
	DefaultSpares = 4
)

// FlagCommit marks the last frame of a transaction.
const FlagCommit = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat reports a log that is not a gantry WAL, has another page size or belongs to
// another database.
var ErrFormat = errors.New("wal: not a gantry write-ahead log")

// Frame is one page image in the log.
type Frame struct {
	Pgno  uint32
	Flags uint32
	LSN   uint64
	Page  []byte
}

// Options configure Open.
type Options struct {
	// ID names the database the log belongs to: a segment of another database is refused
	// (ErrFormat) rather than replayed; 0 accepts any (the caller checks ID after).
	ID uint64
	// SegmentBytes is the size of a new segment. Default DefaultSegmentBytes; at least
	// one frame fits.
	SegmentBytes int64
	// Spares bounds the recycled segments kept for reuse. Default DefaultSpares; a
	// negative value keeps none.
	Spares int
	// Discard: the segments found belong to no database worth recovering (the data file
	// is new); they are only kept as spares.
	Discard bool
	// Background runs the log's background work: making the next new segment (a file
	// filled with zeros and synced) before the segment taking appends is full, so that no
	// commit waits for a fill. Default: a goroutine of its own, except on a file system
	// that asks for one order of operations (vfs.Serial: the test file systems), where
	// the work runs at once in the caller. Tests that need both pass their own. Every job
	// must run, at once or later: a roll that needs the segment a job makes waits for it.
	Background func(job func())
}

// segment is one live segment file: frames [base, base+frames) at their positions.
// start is the first LSN the data file lacked when its header was last written: recovery
// replays from the highest start of the live segments.
type segment struct {
	seq    uint64
	base   uint64
	frames uint64
	start  uint64
	salt   uint32
	name   string
	f      vfs.File
}

func (s *segment) end() uint64 { return s.base + s.frames }

// Log is an open write-ahead log. Append, Release and Recycle are called by one goroutine
// at a time (the engine's committer, under its commit lock); Sync and ReadFrame are safe
// from any goroutine.
type Log struct {
	fs       vfs.FS
	path     string
	pageSize int
	segBytes int64
	maxSpare int

	// spares are recycled or prepared segment files, ascending by the sequence number of
	// their name, which no header has carried yet. topSeq is the highest sequence number
	// any file is named after: a new name is always above it. prepSeq is the name a
	// background preparation is filling (0: none); roll never takes a spare above it, so
	// that live segments keep ascending names in the order of their LSNs. ahead is how many
	// spares the background keeps ready: the most segments one Append has rolled into.
	spareMu   sync.Mutex
	spareCond *sync.Cond // broadcast when a preparation ends
	spares    []string
	topSeq    uint64
	prepSeq   uint64
	prepping  bool // a preparation job is scheduled or runs
	running   bool // a preparation job runs (prepSeq may be 0 between two files)
	ahead     int
	closing   bool
	prepared  uint64 // segments made by the background, for Stats
	bg        func(func())
	buf       []byte

	mu       sync.Mutex // guards everything below
	cond     *sync.Cond // broadcast when a sync ends
	segs     []*segment // live segments, ascending; the last takes appends
	start    uint64     // first LSN not yet in the data file (Release)
	next     uint64     // LSN the next appended frame gets
	synced   uint64     // every frame below this LSN is durable
	dirty    []*segment // segments written since the last sync began
	unsealed bool       // the segment taking appends needs a new salt (recovery)
	recycle  bool       // Release was called: appends wait for Recycle
	discard  bool       // Open only: the segments found are of no database to recover
	syncing  bool
	err      error // a failed write or sync: the log takes no more frames
	syncs    uint64
	id       uint64
}

// serial is implemented by the file systems that ask for their operations in one
// deterministic order (vfs.FaultFS and vfs.MemFS unless told otherwise).
type serial interface{ Serial() bool }

// ID returns the identifier of the database the log belongs to.
func (l *Log) ID() uint64 { return l.id }

// Stats counts the log's work.
type Stats struct {
	Syncs    uint64 // fsyncs done (of segments)
	Frames   uint64 // frames not yet released to the data file
	Bytes    int64  // the size those frames take (with one header)
	Segments int    // live segment files
	Spares   int    // recycled or prepared segment files waiting for use
	Prepared uint64 // new segments made ahead by the background
}

// SegmentName returns the name of segment seq of the log of the database at path:
// path.000000000001-wal. Every log file name ends in "-wal" and sorts in sequence order.
func SegmentName(path string, seq uint64) string {
	return fmt.Sprintf("%s.%012d-wal", path, seq)
}

func parseName(path, name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, path+".")
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, "-wal"); !ok || len(s) != 12 {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil && seq > 0
}

// Open finds the segments of the log of the database at path and recovers it: it returns,
// in order and with Page unset, the committed frames from the last checkpoint on (the
// start recorded in the segments' headers after the data file was synced). When it
// returns none the log is ready for appends; otherwise the caller copies those frames
// into its data file and calls Release and Recycle before appending.
//
// from is the first LSN the data file's meta page says it lacks (0 when unknown: the page
// is torn). The meta page can be ahead of the rest of the data file (a checkpoint wrote it
// but crashed before its sync), so it only serves a new log's first LSN and a check:
// frames it lacks that no segment holds are an error, not a log started past the hole.
func Open(fs vfs.FS, path string, pageSize int, from uint64, opts Options) (*Log, []Frame, error) {
	l := &Log{fs: fs, path: path, pageSize: pageSize, id: opts.ID, segBytes: opts.SegmentBytes, maxSpare: opts.Spares, discard: opts.Discard}
	l.cond = sync.NewCond(&l.mu)
	l.spareCond = sync.NewCond(&l.spareMu)
	l.bg = opts.Background
	if l.bg == nil {
		if s, ok := fs.(serial); ok && s.Serial() {
			l.bg = func(job func()) { job() }
		} else {
			l.bg = func(job func()) { go job() }
		}
	}
	l.ahead = 1
	if l.segBytes <= 0 {
		l.segBytes = DefaultSegmentBytes
	}
	l.segBytes = max(l.segBytes, HeaderSize+l.frameSize())
	if l.maxSpare == 0 {
		l.maxSpare = DefaultSpares
	}
	l.maxSpare = max(l.maxSpare, 0)
	frames, err := l.recover(from)
	l.discard = false
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, frames, nil
}

func (l *Log) recover(from uint64) ([]Frame, error) {
	names, err := l.fs.List(l.path + ".")
	if err != nil {
		return nil, err
	}
	var stale []*segment // live segments to turn into spares
	broken := false
	for _, name := range names {
		seq, ok := parseName(l.path, name)
		if !ok {
			continue
		}
		l.topSeq = max(l.topSeq, seq)
		f, err := l.fs.OpenFile(name, false)
		if err != nil {
			return nil, err
		}
		s := &segment{name: name, f: f}
		if l.discard { // renamed, so that no header names its file any more
			stale = append(stale, s)
			continue
		}
		live, err := l.readHeader(s, seq)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch {
		case !live:
			// A recycled segment (its header is of an earlier sequence number), one never
			// written, or one whose header write was torn before any frame in it was synced:
			// a spare as it is. Spares are always named above every live segment (they are
			// named so when recycled, and taken lowest first), so their order holds.
			f.Close()
			l.spares = append(l.spares, name)
		case broken || len(l.segs) > 0 && s.base != l.segs[len(l.segs)-1].end():
			// A break in the chain: a segment between was never made durable (its header
			// write was lost in a crash), so no commit in it or after it was acknowledged:
			// a commit returns once every segment up to its last frame is synced, in order.
			// (Recycling renames the oldest segments first, and a crash keeps a prefix of
			// renames, so recycling never breaks the chain at its start; a header lost in a
			// crash can, and is taken below, where from lies before the first live segment.)
			broken = true
			stale = append(stale, s)
		default:
			l.segs = append(l.segs, s)
		}
	}
	replay := uint64(0)
	if len(l.segs) > 0 {
		first, last := l.segs[0], l.segs[len(l.segs)-1]
		replay = first.base // the segments before it were recycled after a checkpoint
		for _, s := range l.segs {
			replay = max(replay, s.start)
		}
		switch {
		case from != 0 && from < first.base:
			// The frames the data file needs from come before the first live segment. If the
			// segment just before it is here but not live, its header never became durable:
			// no commit at or after from was acknowledged (a commit returns once every
			// segment up to its last frame is synced, in order), and what a crash kept of
			// the later segments is a torn commit. Only a segment that is gone is a loss.
			if ok, err := l.validAt(first, first.base); err != nil {
				return nil, err
			} else if ok && !l.isSpare(first.seq-1) {
				return nil, fmt.Errorf("%w: frames %d to %d are missing (segments before %s)", ErrFormat, from, first.base-1, first.name)
			}
			fallthrough // the log holds nothing the data file needs: start over
		case from > last.end():
			stale = append(stale, l.segs...)
			l.segs = nil
		}
	}
	var frames []Frame
	if len(l.segs) > 0 {
		if frames, err = l.scan(replay); err != nil {
			return nil, err
		}
		// Segments wholly past the end held a torn tail: they go, durably, before any new
		// frame can follow the recovered ones.
		for len(l.segs) > 1 && l.segs[len(l.segs)-1].base >= l.next {
			stale = append(stale, l.segs[len(l.segs)-1])
			l.segs = l.segs[:len(l.segs)-1]
		}
	}
	// Live segments that are no part of the log any more are renamed to spares, durably,
	// and spares past the bound removed, before anything is appended.
	for _, s := range stale {
		if err := l.toSpare(s); err != nil {
			return nil, err
		}
	}
	// A spare named below a live segment is a segment the background began and did not
	// finish (a failed fill) while the log went on past it: taken first, it would come
	// before the segments above it in the log's order by name. It is renamed above them.
	renamed := false
	if len(l.segs) > 0 {
		top := l.segs[len(l.segs)-1].seq
		var low []string
		keep := l.spares[:0]
		for _, name := range l.spares {
			if parseSeq(l.path, name) < top {
				low = append(low, name)
			} else {
				keep = append(keep, name)
			}
		}
		l.spares = keep
		for _, name := range low {
			l.topSeq++
			if err := l.fs.Rename(name, SegmentName(l.path, l.topSeq)); err != nil {
				return nil, err
			}
			l.spares, renamed = append(l.spares, SegmentName(l.path, l.topSeq)), true
		}
	}
	trimmed := false
	for len(l.spares) > l.maxSpare {
		if err := l.fs.Remove(l.spares[len(l.spares)-1]); err != nil {
			return nil, err
		}
		l.spares, trimmed = l.spares[:len(l.spares)-1], true
	}
	// With spares, the directory is synced even when nothing changed here: a spare may be
	// a file made just before a crash of the process, whose directory entry the kernel
	// has not written yet, and a commit's fdatasync of its frames would not write it.
	if len(stale) > 0 || trimmed || renamed || len(l.spares) > 0 {
		if err := l.fs.SyncDir(l.path); err != nil {
			return nil, err
		}
	}
	if len(l.segs) == 0 {
		if from == 0 {
			from = 1
		}
		l.start, l.next, l.synced = from, from, from
		if _, err := l.roll(from); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if len(frames) == 0 {
		l.unsealed = true
		return nil, l.writeCurrent()
	}
	l.unsealed = true
	return frames, nil
}

// readHeader reads the header of s, the file named after sequence number seq. It is
// live when its checksum holds and it names seq; anything else (zeros, a header torn in
// its write, the header of an earlier life of a recycled file) makes it a spare, never an
// error: a spare may even be of another database or page size, left from one the data
// file replaced. A live header of another format, page size or database is an error.
func (l *Log) readHeader(s *segment, seq uint64) (live bool, err error) {
	h := make([]byte, HeaderSize)
	if _, err := s.f.ReadAt(h, 0); err != nil && err != io.EOF {
		return false, err
	}
	if string(h[:8]) != magic {
		if allZero(h[:8]) {
			return false, nil
		}
		return false, ErrFormat
	}
	if crc32.Checksum(h[:56], castagnoli) != binary.LittleEndian.Uint32(h[56:]) ||
		binary.LittleEndian.Uint64(h[24:]) != seq {
		return false, nil
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != version {
		return false, fmt.Errorf("%w: version %d", ErrFormat, v)
	}
	if ps := int(binary.LittleEndian.Uint32(h[12:])); ps != l.pageSize {
		return false, fmt.Errorf("%w: page size %d, database has %d", ErrFormat, ps, l.pageSize)
	}
	s.salt = binary.LittleEndian.Uint32(h[16:])
	s.frames = uint64(binary.LittleEndian.Uint32(h[20:]))
	s.seq = seq
	s.base = binary.LittleEndian.Uint64(h[32:])
	id := binary.LittleEndian.Uint64(h[40:])
	s.start = binary.LittleEndian.Uint64(h[48:])
	if size, err := s.f.Size(); err != nil {
		return false, err
	} else if size < HeaderSize+int64(s.frames)*l.frameSize() || s.salt == 0 {
		return false, fmt.Errorf("%w: segment of %d frames in %d bytes", ErrFormat, s.frames, size)
	}
	if l.id != 0 && id != l.id {
		return false, fmt.Errorf("%w: the log belongs to database %016x, not %016x", ErrFormat, id, l.id)
	}
	l.id = id
	return true, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// newSalt gives s a new incarnation: no frame written under an earlier salt passes for
// one of its.
func newSalt(s *segment) {
	salt := rand.Uint32()
	for salt == 0 || salt == s.salt { // zeroed space must never match
		salt = rand.Uint32()
	}
	s.salt = salt
}

// writeHeader writes s's header. The header is 64 bytes at the start of a sector: a
// rewrite lands whole or not at all (and a torn one fails its CRC: then the segment looks
// spare, which Recycle's order makes harmless; see there).
func (l *Log) writeHeader(s *segment) error {
	h := make([]byte, HeaderSize)
	copy(h, magic)
	binary.LittleEndian.PutUint32(h[8:], version)
	binary.LittleEndian.PutUint32(h[12:], uint32(l.pageSize))
	binary.LittleEndian.PutUint32(h[16:], s.salt)
	binary.LittleEndian.PutUint32(h[20:], uint32(s.frames))
	binary.LittleEndian.PutUint64(h[24:], s.seq)
	binary.LittleEndian.PutUint64(h[32:], s.base)
	binary.LittleEndian.PutUint64(h[40:], l.id)
	binary.LittleEndian.PutUint64(h[48:], s.start)
	binary.LittleEndian.PutUint32(h[56:], crc32.Checksum(h[:56], castagnoli))
	_, err := s.f.WriteAt(h, 0)
	return err
}

func (l *Log) frameSize() int64 { return int64(FrameHeader + l.pageSize) }

func (l *Log) offset(s *segment, lsn uint64) int64 {
	return HeaderSize + int64(lsn-s.base)*l.frameSize()
}

// segFor returns the live segment holding lsn, or nil. mu is held (or the log not shared).
func (l *Log) segFor(lsn uint64) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].end() > lsn })
	if i < len(l.segs) && l.segs[i].base <= lsn {
		return l.segs[i]
	}
	return nil
}

func (l *Log) validAt(s *segment, lsn uint64) (bool, error) {
	buf := make([]byte, l.frameSize())
	if _, err := s.f.ReadAt(buf, l.offset(s, lsn)); err != nil && err != io.EOF {
		return false, err
	}
	_, ok := DecodeFrame(buf, s.salt, lsn)
	return ok, nil
}

// scan reads frames from from on, across segments, and keeps those up to the last valid
// commit frame: a torn or half-written tail is cut off there.
func (l *Log) scan(from uint64) ([]Frame, error) {
	var frames []Frame
	committed := 0
	buf := make([]byte, l.frameSize())
	for lsn := from; ; lsn++ {
		s := l.segFor(lsn)
		if s == nil {
			break
		}
		if _, err := s.f.ReadAt(buf, l.offset(s, lsn)); err != nil {
			return nil, err
		}
		fr, ok := DecodeFrame(buf, s.salt, lsn)
		if !ok {
			break
		}
		fr.Page = nil
		frames = append(frames, fr)
		if fr.Flags&FlagCommit != 0 {
			committed = len(frames)
		}
	}
	frames = frames[:committed]
	l.start = from
	l.next = from + uint64(len(frames))
	l.synced = l.next
	return frames, nil
}

// writeCurrent rewrites the header of the segment taking appends with the log's start,
// and syncs it. After recovery (unsealed) it also gives it a new salt: frames of a torn
// tail past the recovered end, under the old salt, can then never follow new ones; only
// frames the data file already holds go with the old salt. Called by Open or by the
// committer with no append in progress; the salt changes only before any reader exists.
func (l *Log) writeCurrent() error {
	l.mu.Lock()
	s, start, unsealed := l.segs[len(l.segs)-1], l.start, l.unsealed
	l.mu.Unlock()
	s.start = start
	if unsealed {
		newSalt(s)
	}
	if err := l.writeHeader(s); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	l.unsealed = false
	l.mu.Unlock()
	return nil
}

// toSpare renames s's file to a new name above every sequence number in use, so that its
// header (of an older number) marks it as no part of the log, or removes it when enough
// spares are kept. The caller syncs the directory.
func (l *Log) toSpare(s *segment) error {
	s.f.Close()
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	if len(l.spares) >= l.maxSpare {
		return l.fs.Remove(s.name)
	}
	l.topSeq++
	name := SegmentName(l.path, l.topSeq)
	if err := l.fs.Rename(s.name, name); err != nil {
		return err
	}
	l.spares = append(l.spares, name)
	return nil
}

// roll makes a new live segment starting at base: the oldest spare (recycled, or made
// ahead by the background), else a new file filled with zeros and synced with its
// directory entry before a frame goes in, so that the fdatasync of a commit never has to
// persist a change of the file's size. A spare named above the file a background
// preparation is filling is not taken before that file: roll waits for it.
func (l *Log) roll(base uint64) (*segment, error) {
	s := &segment{base: base}
	for s.f == nil {
		name, spare := l.takeSpare()
		s.name = name
		s.seq, _ = parseName(l.path, s.name)
		if !spare {
			break
		}
		f, err := l.fs.OpenFile(s.name, false)
		if err != nil {
			return nil, err
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return nil, err
		}
		if s.frames = uint64(max(0, size-HeaderSize) / l.frameSize()); s.frames == 0 {
			f.Close()
			if err := l.fs.Remove(s.name); err != nil {
				return nil, err
			}
			continue
		}
		s.f = f
	}
	if s.f == nil {
		s.frames = uint64((l.segBytes - HeaderSize) / l.frameSize())
		f, err := l.newSegment(s.name, s.frames)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	newSalt(s)
	l.mu.Lock()
	s.start = l.start
	l.mu.Unlock()
	if err := l.writeHeader(s); err != nil {
		s.f.Close()
		return nil, err
	}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.dirty = append(l.dirty, s)
	l.mu.Unlock()
	return s, nil
}

// takeSpare removes the lowest spare from the list and returns it (spare), or, when there
// is none, reserves the name of a new file above every other (!spare). It waits for a
// preparation in flight whose file is named below the lowest spare, and for one scheduled
// or in flight when there is no spare: the file it makes is the next segment, and a new
// name taken meanwhile would be above it. The decision and the reservation are one step
// under spareMu, so that no preparation can begin between them.
func (l *Log) takeSpare() (name string, spare bool) {
	l.spareMu.Lock()
	defer l.spareMu.Unlock()
	for len(l.spares) == 0 && l.prepping ||
		len(l.spares) > 0 && l.prepSeq != 0 && parseSeq(l.path, l.spares[0]) > l.prepSeq {
		l.spareCond.Wait()
	}
	if len(l.spares) == 0 {
		l.topSeq++
		return SegmentName(l.path, l.topSeq), false
	}
	name = l.spares[0]
	l.spares = l.spares[1:]
	return name, true
}

// isSpare reports whether the segment file of sequence number seq is among the spares.
func (l *Log) isSpare(seq uint64) bool {
	for _, name := range l.spares {
		if parseSeq(l.path, name) == seq {
			return true
		}
	}
	return false
}

func parseSeq(path, name string) uint64 {
	seq, _ := parseName(path, name)
	return seq
}

// newSegment creates the file name and fills it with zeros for a header and n frames,
// durably with its directory entry.
func (l *Log) newSegment(name string, n uint64) (vfs.File, error) {
	f, err := l.fs.OpenFile(name, true)
	if err != nil {
		return nil, err
	}
	if err := l.fill(f, HeaderSize+int64(n)*l.frameSize()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepareAhead starts the background preparation of new segments when fewer spares are
// ready than the log has lately needed at once and none is being made. Called by the
// committer once the segment taking appends is half full or new.
func (l *Log) prepareAhead() {
	l.spareMu.Lock()
	start := !l.prepping && l.wantSpare()
	if start {
		l.prepping = true
	}
	l.spareMu.Unlock()
	if start {
		l.bg(l.prepare)
	}
}

// wantSpare reports whether the background should make another segment: fewer spares are
// ready than the log has lately needed at once, and the new file would not displace a
// recycled one. The next checkpoint turns the live segments but the last into spares, up
// to the bound, and removes the rest: a file made while the spares and those segments
// already reach the bound would be made only for a recycled one to be removed. Under a
// steady load every checkpoint recycles what the next interval needs, and nothing new is
// made; in a new database every segment but the last of the first interval is made here,
// not in a commit. spareMu is held.
func (l *Log) wantSpare() bool {
	if l.closing || len(l.spares) >= min(l.ahead, l.maxSpare) {
		return false
	}
	l.mu.Lock()
	recyclable := len(l.segs) - 1
	l.mu.Unlock()
	return len(l.spares)+recyclable < l.maxSpare
}

// prepare makes new segments, one at a time, filled with zeros and synced with their
// directory entry, and adds them to the spares, until enough are ready. Each is named
// above every file when it is begun, so it is a spare to recovery whatever a crash
// leaves of it: a zero header (or none) is never live. A failure only stops the
// preparation: the commit that needs a segment then makes its own, and meets the error
// itself if it persists. The failed file is removed; if that fails too, it is no part of
// the log, and the next Open takes it for a spare (renamed above the live segments, or
// removed when it has no room for a frame).
func (l *Log) prepare() {
	l.spareMu.Lock()
	l.running = true
	defer func() {
		l.prepping, l.running, l.prepSeq = false, false, 0
		l.spareCond.Broadcast()
		l.spareMu.Unlock()
	}()
	for l.wantSpare() {
		l.topSeq++
		l.prepSeq = l.topSeq
		name := SegmentName(l.path, l.prepSeq)
		l.spareMu.Unlock()
		f, err := l.newSegment(name, uint64((l.segBytes-HeaderSize)/l.frameSize()))
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			l.fs.Remove(name) // else the next Open takes it for a spare (see recover)
		}
		l.spareMu.Lock()
		if err != nil {
			return
		}
		// Above every spare when begun; a recycled one may have been named above it since.
		i := sort.Search(len(l.spares), func(i int) bool { return parseSeq(l.path, l.spares[i]) > l.prepSeq })
		l.spares = append(l.spares, "")
		copy(l.spares[i+1:], l.spares[i:])
		l.spares[i] = name
		l.prepared++
		l.prepSeq = 0
		l.spareCond.Broadcast()
	}
}

// fill writes size bytes of zeros into a new file and makes them and its name durable.
// Zeros never pass for a frame (the salt is never 0) nor for a header.
func (l *Log) fill(f vfs.File, size int64) error {
	zeros := make([]byte, min(size, 128<<10))
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return l.fs.SyncDir(l.path)
}

// DecodeFrame checks a frame read from the log: its salt, its position and its CRC.
func DecodeFrame(b []byte, salt uint32, lsn uint64) (Frame, bool) {
	if len(b) < FrameHeader {
		return Frame{}, false
	}
	fr := Frame{
		Pgno:  binary.LittleEndian.Uint32(b),
		Flags: binary.LittleEndian.Uint32(b[4:]),
		LSN:   binary.LittleEndian.Uint64(b[8:]),
		Page:  b[FrameHeader:],
	}
	if binary.LittleEndian.Uint32(b[16:]) != salt || fr.LSN != lsn || fr.Flags&^FlagCommit != 0 {
		return Frame{}, false
	}
	if frameCRC(b) != binary.LittleEndian.Uint32(b[20:]) {
		return Frame{}, false
	}
	return fr, true
}

func frameCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:20])
	return crc32.Update(c, castagnoli, b[FrameHeader:])
}

// EncodeFrame writes fr into b (FrameHeader + page size bytes) under salt.
func EncodeFrame(b []byte, fr Frame, salt uint32) {
	binary.LittleEndian.PutUint32(b, fr.Pgno)
	binary.LittleEndian.PutUint32(b[4:], fr.Flags)
	binary.LittleEndian.PutUint64(b[8:], fr.LSN)
	binary.LittleEndian.PutUint32(b[16:], salt)
	copy(b[FrameHeader:], fr.Page)
	binary.LittleEndian.PutUint32(b[20:], frameCRC(b))
}

// Next returns the LSN the next appended frame will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Append writes frames (page images of l's page size, the last flagged commit by the
// caller) at the end of the log and returns the LSN of the last one. LSNs are assigned
// here and stored in each frame; the pages must already carry them (the caller asks Next).
// A transaction larger than what is left of the segment continues in the next one.
// Nothing is durable before Sync.
func (l *Log) Append(frames []Frame) (uint64, error) {
	l.mu.Lock()
	start, err := l.next, l.err
	if err == nil && l.unsealed {
		err = errors.New("wal: recovered frames not released yet")
	} else if err == nil && l.recycle {
		err = errors.New("wal: released frames not recycled yet")
	} else if err == nil && len(l.segs) == 0 {
		err = errors.New("wal: log closed")
	}
	var cur *segment
	if err == nil {
		cur = l.segs[len(l.segs)-1]
	}
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for i, fr := range frames {
		if len(fr.Page) != l.pageSize {
			return 0, fmt.Errorf("wal: frame of %d bytes in a log of %d-byte pages", len(fr.Page), l.pageSize)
		}
		if fr.LSN != start+uint64(i) {
			return 0, fmt.Errorf("wal: frame carries lsn %d, log is at %d", fr.LSN, start+uint64(i))
		}
	}
	fs := int(l.frameSize())
	var written []*segment
	rolls := 0
	for lsn, rest := start, frames; len(rest) > 0; {
		if lsn >= cur.end() {
			if cur, err = l.roll(cur.end()); err != nil {
				l.fail(err)
				return 0, err
			}
			rolls++
		}
		n := int(min(uint64(len(rest)), cur.end()-lsn))
		if cap(l.buf) < n*fs {
			l.buf = make([]byte, n*fs)
		}
		b := l.buf[:n*fs]
		for i, fr := range rest[:n] {
			EncodeFrame(b[i*fs:(i+1)*fs], fr, cur.salt)
		}
		if _, err := cur.f.WriteAt(b, l.offset(cur, lsn)); err != nil {
			l.fail(err)
			return 0, err
		}
		written = append(written, cur)
		lsn, rest = lsn+uint64(n), rest[n:]
	}
	l.mu.Lock()
	l.next = start + uint64(len(frames))
	next := l.next
	for _, s := range written {
		if len(l.dirty) == 0 || l.dirty[len(l.dirty)-1] != s {
			l.dirty = append(l.dirty, s)
		}
	}
	l.mu.Unlock()
	if rolls > 0 || next-cur.base >= cur.frames/2 {
		if rolls > 1 {
			l.spareMu.Lock()
			l.ahead = min(max(l.ahead, rolls), 8)
			l.spareMu.Unlock()
		}
		l.prepareAhead()
	}
	return next - 1, nil
}

func (l *Log) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.cond.Broadcast()
	l.mu.Unlock()
}

// Err returns the error that stopped the log, if any.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Sync returns once the frame with LSN lsn is durable. Concurrent callers share fsyncs:
// one leader syncs every segment written so far while the others wait for its result.
// A failed fsync fails this and every later call: after a failed fsync the kernel may
// have dropped the dirty pages, so nothing written since the last good sync can be trusted.
func (l *Log) Sync(lsn uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		switch {
		case l.err != nil:
			return l.err
		case l.synced > lsn:
			return nil
		case l.syncing:
			l.cond.Wait()
			continue
		}
		l.syncing = true
		target, segs := l.next, l.dirty
		l.dirty = nil
		l.mu.Unlock()
		var err error
		for _, s := range segs { // in order: a later segment's frames follow the earlier's
			if err = s.f.Sync(); err != nil {
				break
			}
		}
		l.mu.Lock()
		l.syncing = false
		l.syncs += uint64(len(segs))
		if err != nil && l.err == nil {
			l.err = err
		} else if err == nil && target > l.synced {
			l.synced = target
		}
		l.cond.Broadcast()
	}
}

// ReadFrame reads the page image of frame lsn into page and checks the frame.
func (l *Log) ReadFrame(lsn uint64, pgno uint32, page []byte) error {
	l.mu.Lock()
	start, next, s := l.start, l.next, l.segFor(lsn)
	l.mu.Unlock()
	if lsn < start || lsn >= next || s == nil {
		return fmt.Errorf("wal: frame %d not in the log [%d, %d)", lsn, start, next)
	}
	b := make([]byte, l.frameSize())
	if _, err := s.f.ReadAt(b, l.offset(s, lsn)); err != nil && err != io.EOF {
		return err
	}
	fr, ok := DecodeFrame(b, s.salt, lsn)
	if !ok || fr.Pgno != pgno {
		return fmt.Errorf("wal: frame %d for page %d is damaged", lsn, pgno)
	}
	copy(page, fr.Page)
	return nil
}

// Release records that the data file (synced) now holds every frame up to bound, the last
// appended: no reader will ask for them again. Recycle then makes it durable and lets the
// segments go; appends wait for it.
func (l *Log) Release(bound uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if bound+1 != l.next {
		return fmt.Errorf("wal: release up to %d, log is at %d", bound, l.next)
	}
	l.start = bound + 1
	l.recycle = true
	return nil
}

// Recycle turns every segment wholly released, except the one taking appends, into a
// spare (or removes it past the bound on spares), oldest first, so that the log stays a
// contiguous run if a crash cuts this short; syncs the directory; and only then records
// the new start in the header of the segment taking appends. In that order a crash leaves
// either the old start with the segments it needs, or the new start, and a header torn
// in the rewrite leaves no older live segment to replay from.
func (l *Log) Recycle() error {
	l.mu.Lock()
	for l.syncing { // a sync in flight may be holding a segment about to close
		l.cond.Wait()
	}
	if l.err != nil || !l.recycle {
		l.mu.Unlock()
		return l.err
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].end() <= l.start {
		n++
	}
	old := append([]*segment(nil), l.segs[:n]...)
	l.segs = append(l.segs[:0], l.segs[n:]...)
	keep := l.dirty[:0] // synced already (the checkpoint synced the log), but be sure
	for _, s := range l.dirty {
		if s.end() > l.start || s == l.segs[len(l.segs)-1] {
			keep = append(keep, s)
		}
	}
	l.dirty = keep
	l.mu.Unlock()
	// No sync, read or append can reach the old segments now: the files and the header
	// are written without the lock, so that readers missing the cache do not wait on them.
	var err error
	for _, s := range old {
		if err = l.toSpare(s); err != nil {
			break
		}
	}
	if err == nil && n > 0 {
		err = l.fs.SyncDir(l.path)
	}
	if err == nil {
		err = l.writeCurrent()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recycle = false
	if err != nil && l.err == nil {
		l.err = err
		l.cond.Broadcast()
	}
	return err
}

// Close waits for a background preparation that runs to end (one that has not begun will
// do nothing) and closes the segment files.
func (l *Log) Close() error {
	l.spareMu.Lock()
	l.closing = true
	for l.running {
		l.spareCond.Wait()
	}
	l.spareMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for _, s := range l.segs {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	l.segs = nil
	return err
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.spareMu.Lock() // not under mu: wantSpare takes mu under spareMu
	prepared, spares := l.prepared, len(l.spares)
	l.spareMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	frames := l.next - l.start
	return Stats{
		Prepared: prepared,
		Syncs:    l.syncs,
		Frames:   frames,
		Bytes:    HeaderSize + int64(frames)*l.frameSize(),
		Segments: len(l.segs),
		Spares:   spares,
	}
}
