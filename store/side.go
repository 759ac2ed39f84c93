package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"gantry/store/page"
	"gantry/store/vfs"
)

// The side store keeps the page versions that snapshots older than a checkpoint still
// read, so that the checkpoint can write every page's newest version into the data file
// and let the log go (its old segments recycled) however long a reader stays open. Before a checkpoint overwrites a
// page in the data file, or lets go of the log frames that hold its older versions, it
// copies into the side file (path + "-side") the version each open snapshot reads, at most
// one per page per snapshot, and records it in the page table. The versions are dropped
// when no snapshot reads them any more.
//
// Nothing in the side file outlives the process: no transaction survives a restart, so
// the file is never synced and is emptied at Open and Close. It is not part of crash
// recovery: the data file and the log alone are.
//
// A slot is a 16-byte header, pgno(4) crc32c(4) hi(8), then the page image; the CRC covers
// the page number, hi and the image, so a slot read back for the wrong page or version (a
// bug) or damaged is an error, never another page's bytes.
type sideStore struct {
	f        vfs.File
	pageSize int
	// free lists slots to reuse and end is the file's high-water mark; both change only
	// under DB.commitMu (checkpoints).
	free []int64
	end  int64
}

const sideHeader = 16

// sideVer is one saved version of a page: snapshots in [lo, hi) read it. hi is the LSN of
// the version that replaced it, so the snapshots that read it are those below hi and at or
// above its own LSN, lo (which may be lower than the truth for a page first written by a
// bulk load: then it only keeps the version longer).
type sideVer struct {
	lo, hi uint64
	off    int64
}

// sideKeyBit marks a pool key as a side version's: pageKey{pgno, sideKeyBit | hi}, so that
// the pool caches saved versions beside the log's and the data file's without collision
// (LSNs never reach 2^63).
const sideKeyBit = 1 << 63

func (s *sideStore) slotSize() int64 { return int64(sideHeader + s.pageSize) }

// write stores image, the version of page pgno that snapshots below hi read, in a free
// slot and returns the slot's offset.
func (s *sideStore) write(pgno uint32, hi uint64, image []byte) (int64, error) {
	b := make([]byte, s.slotSize())
	binary.LittleEndian.PutUint32(b, pgno)
	binary.LittleEndian.PutUint64(b[8:], hi)
	copy(b[sideHeader:], image)
	binary.LittleEndian.PutUint32(b[4:], sideCRC(b))
	var off int64
	if n := len(s.free); n > 0 {
		off = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		off = s.end
		s.end += s.slotSize()
	}
	if _, err := s.f.WriteAt(b, off); err != nil {
		s.release(off)
		return 0, err
	}
	return off, nil
}

// release gives slot off back for reuse; when no slot is in use the file is emptied.
func (s *sideStore) release(off int64) {
	s.free = append(s.free, off)
	if len(s.free)*int(s.slotSize()) >= int(s.end) {
		s.free, s.end = s.free[:0], 0
		s.f.Truncate(0) // best effort: the space is only reused, never read, if this fails
	}
}

// read reads the slot at off into page (len pageSize) and checks it holds page pgno's
// version below hi.
func (s *sideStore) read(off int64, pgno uint32, hi uint64, p []byte) error {
	b := make([]byte, s.slotSize())
	if _, err := s.f.ReadAt(b, off); err != nil && err != io.EOF {
		return err
	}
	if binary.LittleEndian.Uint32(b) != pgno || binary.LittleEndian.Uint64(b[8:]) != hi ||
		binary.LittleEndian.Uint32(b[4:]) != sideCRC(b) {
		return fmt.Errorf("%w: page %d: its saved version below lsn %d is damaged in the side file", page.ErrCorrupt, pgno, hi)
	}
	copy(p, b[sideHeader:])
	return nil
}

func sideCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:4])
	c = crc32.Update(c, castagnoli, b[8:])
	return c
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// bytes returns the side file's size; live, how many versions it holds.
func (s *sideStore) bytes() int64 { return s.end }

func (s *sideStore) live() int { return int(s.end/s.slotSize()) - len(s.free) }
