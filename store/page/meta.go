package page

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotDatabase reports a file that is not a gantry database.
var ErrNotDatabase = errors.New("not a gantry database")

// ErrVersion reports a gantry database of a format version this code does not read.
var ErrVersion = errors.New("unsupported database format version")

// Meta is the content of page 0: the root of everything else. Every commit writes it,
// so its LSN is the LSN of the commit that produced the state it describes.
type Meta struct {
	PageSize   uint32
	Root       uint32 // root page of the B+tree
	PageCount  uint32 // pages in use or free, page 0 included
	FreeHead   uint32 // first page of the free list; 0 when empty
	FreeCount  uint32
	NextBucket uint32 // identifier the next new bucket gets
	TxID       uint64 // commits so far
	LSN        uint64
	ID         uint64 // random at creation; the log carries it too, so logs are not mixed up
}

const metaBody = HeaderSize

// Encode writes m into page p and seals it with m.LSN.
func (m *Meta) Encode(p []byte) {
	clear(p)
	p[0] = TypeMeta
	b := p[metaBody:]
	copy(b, Magic)
	binary.LittleEndian.PutUint32(b[8:], Version)
	binary.LittleEndian.PutUint32(b[12:], m.PageSize)
	binary.LittleEndian.PutUint32(b[16:], m.Root)
	binary.LittleEndian.PutUint32(b[20:], m.PageCount)
	binary.LittleEndian.PutUint32(b[24:], m.FreeHead)
	binary.LittleEndian.PutUint32(b[28:], m.FreeCount)
	binary.LittleEndian.PutUint32(b[32:], m.NextBucket)
	binary.LittleEndian.PutUint64(b[36:], m.TxID)
	binary.LittleEndian.PutUint64(b[44:], m.ID)
	Seal(p, m.LSN)
}

// DecodeMeta checks and decodes page 0. A file that does not start with the magic is
// ErrNotDatabase; one of another format version is ErrVersion; a damaged one is ErrCorrupt.
func DecodeMeta(p []byte) (Meta, error) {
	if len(p) < metaBody+56 || string(p[metaBody:metaBody+8]) != Magic {
		return Meta{}, ErrNotDatabase
	}
	b := p[metaBody:]
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return Meta{}, fmt.Errorf("%w %d (this build reads version %d)", ErrVersion, v, Version)
	}
	m := Meta{
		PageSize:   binary.LittleEndian.Uint32(b[12:]),
		Root:       binary.LittleEndian.Uint32(b[16:]),
		PageCount:  binary.LittleEndian.Uint32(b[20:]),
		FreeHead:   binary.LittleEndian.Uint32(b[24:]),
		FreeCount:  binary.LittleEndian.Uint32(b[28:]),
		NextBucket: binary.LittleEndian.Uint32(b[32:]),
		TxID:       binary.LittleEndian.Uint64(b[36:]),
		ID:         binary.LittleEndian.Uint64(b[44:]),
		LSN:        LSN(p),
	}
	if !ValidSize(int(m.PageSize)) || int(m.PageSize) != len(p) {
		return Meta{}, corrupt(0, "page size %d", m.PageSize)
	}
	if err := Verify(p, 0); err != nil {
		return Meta{}, err
	}
	if p[0] != TypeMeta {
		return Meta{}, corrupt(0, "type %d, want meta", p[0])
	}
	if m.Root == 0 || m.Root >= m.PageCount || m.FreeHead >= m.PageCount {
		return Meta{}, corrupt(0, "root %d, free head %d outside %d pages", m.Root, m.FreeHead, m.PageCount)
	}
	return m, nil
}

// PageSizeOf reads the page size from the start of a meta page, or 0 if p is not one.
func PageSizeOf(p []byte) int {
	if len(p) < metaBody+16 || string(p[metaBody:metaBody+8]) != Magic {
		return 0
	}
	return int(binary.LittleEndian.Uint32(p[metaBody+12:]))
}

// ValidSize reports whether n is a page size this format allows.
func ValidSize(n int) bool { return n >= MinSize && n <= MaxSize && n&(n-1) == 0 }
