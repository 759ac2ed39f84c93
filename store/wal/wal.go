package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"gantry/store/vfs"
)

const (
	magic       = "GNTWAL01"
	version     = 1
	HeaderSize  = 40
	FrameHeader = 24
)

// FlagCommit marks the last frame of a transaction.
const FlagCommit = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat reports a log file that is not a gantry WAL or has another page size.
var ErrFormat = errors.New("wal: not a gantry write-ahead log")

// Frame is one page image in the log.
type Frame struct {
	Pgno  uint32
	Flags uint32
	LSN   uint64
	Page  []byte
}

// Log is an open write-ahead log. Append is called by one goroutine at a time (the
// engine's committer); Sync and ReadPage are safe from any goroutine.
type Log struct {
	f        vfs.File
	pageSize int

	mu      sync.Mutex // guards everything below
	cond    *sync.Cond // broadcast when a sync ends
	salt    uint32
	base    uint64 // LSN of the first frame of this generation
	next    uint64 // LSN the next appended frame gets
	synced  uint64 // every frame below this LSN is durable
	syncing bool
	err     error // a failed write or sync: the log takes no more frames
	syncs   uint64
	buf     []byte
	size    int64 // bytes the file has: frames are written into zeroed space ahead
	id      uint64
}

// ID returns the identifier of the database the log belongs to.
func (l *Log) ID() uint64 { return l.id }

// maxGrow bounds how far ahead of the last frame the file is extended with zeros. An fsync
// that also has to persist a new file size costs a journal commit on most file systems;
// writing into space that already exists keeps fdatasync to the data itself.
const maxGrow = 4 << 20

// Stats counts the log's work.
type Stats struct {
	Syncs  uint64 // fsyncs done
	Frames uint64 // frames in the file now
	Bytes  int64  // size of the file's valid part
}

// Open reads the log in f, creating an empty one with base LSN base when f is empty or its
// header is damaged (a header is only ever rewritten after the data file is durable, so a
// torn one hides nothing). It returns the committed frames' headers in order (Page unset).
// id names the database the log belongs to: a log of another database is refused
// (ErrFormat) rather than replayed; id 0 accepts any log (the caller checks ID after).
func Open(f vfs.File, pageSize int, base, id uint64) (*Log, []Frame, error) {
	l := &Log{f: f, pageSize: pageSize, id: id}
	l.cond = sync.NewCond(&l.mu)
	size, err := f.Size()
	if err != nil {
		return nil, nil, err
	}
	l.size = size
	hdr := make([]byte, HeaderSize)
	if _, err := f.ReadAt(hdr[:min(size, HeaderSize)], 0); err != nil && err != io.EOF {
		return nil, nil, err
	}
	ok, err := l.readHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		if err := l.writeHeader(1, base); err != nil {
			return nil, nil, err
		}
		return l, nil, nil
	}
	frames, err := l.scan(size)
	if err != nil {
		return nil, nil, err
	}
	return l, frames, nil
}

func (l *Log) readHeader(h []byte) (bool, error) {
	if string(h[:8]) != magic {
		if allZero(h) {
			return false, nil
		}
		return false, ErrFormat
	}
	if crc32.Checksum(h[:36], castagnoli) != binary.LittleEndian.Uint32(h[36:]) {
		return false, nil
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != version {
		return false, fmt.Errorf("%w: version %d", ErrFormat, v)
	}
	if ps := int(binary.LittleEndian.Uint32(h[12:])); ps != l.pageSize {
		return false, fmt.Errorf("%w: page size %d, database has %d", ErrFormat, ps, l.pageSize)
	}
	if id := binary.LittleEndian.Uint64(h[28:]); l.id != 0 && id != l.id {
		return false, fmt.Errorf("%w: the log belongs to database %016x, not %016x", ErrFormat, id, l.id)
	} else {
		l.id = id
	}
	l.salt = binary.LittleEndian.Uint32(h[16:])
	l.base = binary.LittleEndian.Uint64(h[20:])
	l.next, l.synced = l.base, l.base
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

func (l *Log) writeHeader(salt uint32, base uint64) error {
	h := make([]byte, HeaderSize)
	copy(h, magic)
	binary.LittleEndian.PutUint32(h[8:], version)
	binary.LittleEndian.PutUint32(h[12:], uint32(l.pageSize))
	binary.LittleEndian.PutUint32(h[16:], salt)
	binary.LittleEndian.PutUint64(h[20:], base)
	binary.LittleEndian.PutUint64(h[28:], l.id)
	binary.LittleEndian.PutUint32(h[36:], crc32.Checksum(h[:36], castagnoli))
	if _, err := l.f.WriteAt(h, 0); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	l.salt, l.base, l.next, l.synced = salt, base, base, base
	l.size = max(l.size, HeaderSize)
	l.mu.Unlock()
	return nil
}

func (l *Log) frameSize() int64 { return int64(FrameHeader + l.pageSize) }

func (l *Log) offset(lsn uint64) int64 {
	return HeaderSize + int64(lsn-l.base)*l.frameSize()
}

// scan reads frames from the start and keeps those up to the last valid commit frame.
func (l *Log) scan(size int64) ([]Frame, error) {
	var frames []Frame
	committed := 0
	buf := make([]byte, l.frameSize())
	for lsn := l.base; l.offset(lsn)+l.frameSize() <= size; lsn++ {
		if _, err := l.f.ReadAt(buf, l.offset(lsn)); err != nil {
			return nil, err
		}
		fr, ok := DecodeFrame(buf, l.salt, lsn)
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
	l.next = l.base + uint64(len(frames))
	l.synced = l.next
	return frames, nil
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

// Next returns the LSN the next appended frame will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Append writes frames (page images of l's page size, the last flagged commit by the
// caller) at the end of the log and returns the LSN of the last one. LSNs are assigned
// here and stored in each frame; the pages must already carry them (the caller asks Next).
// Nothing is durable before Sync.
func (l *Log) Append(frames []Frame) (uint64, error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return 0, l.err
	}
	start := l.next
	l.mu.Unlock()
	fs := int(l.frameSize())
	need := fs * len(frames)
	if cap(l.buf) < need {
		l.buf = make([]byte, need)
	}
	b := l.buf[:need]
	for i, fr := range frames {
		if len(fr.Page) != l.pageSize {
			return 0, fmt.Errorf("wal: frame of %d bytes in a log of %d-byte pages", len(fr.Page), l.pageSize)
		}
		lsn := start + uint64(i)
		if fr.LSN != lsn {
			return 0, fmt.Errorf("wal: frame carries lsn %d, log is at %d", fr.LSN, lsn)
		}
		EncodeFrame(b[i*fs:(i+1)*fs], fr, l.salt)
	}
	if end := l.offset(start) + int64(need); end > l.size {
		if err := l.grow(end); err != nil {
			l.fail(err)
			return 0, err
		}
	}
	if _, err := l.f.WriteAt(b, l.offset(start)); err != nil {
		l.fail(err)
		return 0, err
	}
	l.mu.Lock()
	l.next = start + uint64(len(frames))
	l.mu.Unlock()
	return l.next - 1, nil
}

// grow extends the file with zeros to at least end, a chunk at a time. Zeros never pass
// for a frame (the salt is never 0), so recovery stops at them.
func (l *Log) grow(end int64) error {
	target := end + min(maxGrow, max(64*l.frameSize(), l.size)) // double, up to maxGrow
	zeros := make([]byte, 1<<20)
	for off := l.size; off < target; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), target-off)
		if _, err := l.f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	l.size = target
	return nil
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
// one leader syncs everything appended so far while the others wait for its result.
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
		target := l.next
		l.mu.Unlock()
		err := l.f.Sync()
		l.mu.Lock()
		l.syncing = false
		l.syncs++
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
	base, salt, next := l.base, l.salt, l.next
	l.mu.Unlock()
	if lsn < base || lsn >= next {
		return fmt.Errorf("wal: frame %d not in the log [%d, %d)", lsn, base, next)
	}
	b := make([]byte, l.frameSize())
	if _, err := l.f.ReadAt(b, HeaderSize+int64(lsn-base)*l.frameSize()); err != nil && err != io.EOF {
		return err
	}
	fr, ok := DecodeFrame(b, salt, lsn)
	if !ok || fr.Pgno != pgno {
		return fmt.Errorf("wal: frame %d for page %d is damaged", lsn, pgno)
	}
	copy(page, fr.Page)
	return nil
}

// Reset starts a new generation whose first frame gets LSN base. The caller guarantees
// every frame is already in the (synced) data file, no reader needs the old frames, and
// no Append or ReadFrame runs meanwhile.
func (l *Log) Reset(base uint64) error {
	l.mu.Lock()
	salt, err := l.salt+1, l.err
	l.mu.Unlock()
	if salt == 0 { // zeroed space must never match
		salt = 1
	}
	if err != nil {
		return err
	}
	if err := l.writeHeader(salt, base); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

// Shrink gives back the file space past the header when the log holds no frame (after a
// checkpoint restarted it): space grown ahead for a large load is not kept forever.
func (l *Log) Shrink() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.next != l.base {
		return l.err
	}
	if err := l.f.Truncate(HeaderSize); err != nil {
		return err
	}
	l.size = HeaderSize
	return nil
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Syncs: l.syncs, Frames: l.next - l.base, Bytes: l.offset(l.next)}
}
