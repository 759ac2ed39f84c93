// Package wal is the storage engine's write-ahead log: one append-only file of frames, each
// a full page image with a small CRC'd header, grouped into transactions by a commit flag.
//
//	file:  | header (32 B) | frame lsn=base | frame base+1 | frame base+2 | ... |
//
//	header: magic "GNTWAL01"(8) version(4) pageSize(4) salt(4) pad(4) base LSN(8)
//	        with a CRC32C over its first 28 bytes stored at bytes 28..32 in place of pad
//	frame:  pgno(4) flags(4) lsn(8) salt(4) crc32c(4) | page image (pageSize bytes)
//
// The LSN of a frame is its position: frame i of the file has lsn base+i, so the file
// offset of any LSN is known without an index. A frame is valid when its salt equals the
// header's, its lsn is its position and its CRC (over the frame header and the page image)
// matches; recovery (Open) keeps the frames up to the last valid one flagged as a commit
// and ignores everything after, which is how a torn or half-written tail is cut off.
//
// Sync implements group commit: committers that arrive while an fsync is running wait for
// it and share the next one, so N concurrent commits cost about two fsyncs, not N.
//
// Reset starts the log over after a checkpoint has copied every frame into the data file:
// it writes a header with a new salt and base and syncs it before any new frame is written,
// so frames of the previous generation can never be mistaken for new ones.
package wal
