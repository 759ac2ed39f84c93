package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"

	"gantry/store/vfs"
)

// The log before segments (format version 1) was one file, path + "-wal", restarted at
// every checkpoint: a 40-byte header, magic "GNTWAL01", version(4) pageSize(4) salt(4)
// base LSN(8) database id(8) crc32c(4), then frames of the same layout as today's, the
// first at offset 40 with LSN base. Close checkpointed it and truncated it to its header,
// so after a clean close it holds no frame.

const legacyMagic, legacyHeader = "GNTWAL01", 40

// Legacy looks for a version-1 log at name. It reports whether the file exists and whether
// it holds a committed frame: that version restarted the log (new salt) only after a
// checkpoint had synced the data file, so a valid frame means the data file may lack it,
// even one at or below the data file's meta page LSN (a checkpoint that crashed before its
// sync could leave the meta page ahead of the other pages). Only a crash leaves frames.
func Legacy(fs vfs.FS, name string, pageSize int) (exists, needed bool, err error) {
	if ok, err := fs.Exists(name); err != nil || !ok {
		return false, false, err
	}
	f, err := fs.OpenFile(name, false)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	} else if err != nil {
		return false, false, err
	}
	defer f.Close()
	h := make([]byte, legacyHeader)
	if _, err := f.ReadAt(h, 0); err != nil && err != io.EOF {
		return true, false, err
	}
	if string(h[:8]) != legacyMagic {
		if allZero(h) {
			return true, false, nil
		}
		return true, false, ErrFormat
	}
	if crc32.Checksum(h[:36], castagnoli) != binary.LittleEndian.Uint32(h[36:]) ||
		int(binary.LittleEndian.Uint32(h[12:])) != pageSize {
		return true, false, nil // a torn header hid nothing: it was rewritten only after a checkpoint
	}
	salt, base := binary.LittleEndian.Uint32(h[16:]), binary.LittleEndian.Uint64(h[20:])
	buf := make([]byte, FrameHeader+pageSize)
	last := uint64(0) // LSN of the last commit frame
	for lsn, off := base, int64(legacyHeader); ; lsn, off = lsn+1, off+int64(len(buf)) {
		if n, err := f.ReadAt(buf, off); n < len(buf) {
			if err != nil && err != io.EOF {
				return true, false, err
			}
			break
		}
		fr, ok := DecodeFrame(buf, salt, lsn)
		if !ok {
			break
		}
		if fr.Flags&FlagCommit != 0 {
			last = lsn
		}
	}
	return true, last != 0, nil
}
