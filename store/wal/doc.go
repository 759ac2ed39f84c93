// Package wal is the storage engine's write-ahead log: numbered segment files of frames,
// each frame a full page image with a small CRC'd header, grouped into transactions by a
// commit flag.
//
//	files:   path.000000000001-wal, path.000000000002-wal, ... (live segments, then spares)
//	segment: | header (64 B) | frame lsn=base | frame base+1 | ... | frame base+frames-1 |
//
//	header: magic "GNTWAL02"(8) version(4) pageSize(4) salt(4) frames(4) seq(8) base(8)
//	        database id(8) start(8) crc32c(4) over the 56 bytes before it
//	frame:  pgno(4) flags(4) lsn(8) salt(4) crc32c(4) | page image (pageSize bytes)
//
// The LSN of a frame is its position: slot i of a segment has lsn base+i, and each live
// segment's base is the end of the one before, so the file and offset of any LSN is known
// without an index. A frame is valid when its salt equals its segment header's, its lsn is
// its position and its CRC (over the frame header and the page image) matches; recovery
// (Open) reads from the start recorded in the headers across the segments and keeps the
// frames up to the last valid one flagged as a commit, which is how a torn or half-written
// tail is cut off. A transaction may span any number of segments.
//
// A segment is filled with zeros to its full size, and synced with its directory entry,
// before its first frame: a commit's fdatasync then never has to persist a change of size.
// After a checkpoint (Release, Recycle) the segments wholly before it are renamed to new,
// higher sequence numbers and kept as spares, up to a bound; a spare's header names its old
// number, so it is no part of the log until it is reused with a new header and salt.
// When no spare is ready, the log makes the next new segment in the background once the
// current one is half full (Options.Background), named above every file so that whatever
// a crash leaves of it is a spare, and the commit that rolls into it writes only a header.
//
// Sync implements group commit: committers that arrive while an fsync is running wait for
// it and share the next one, so N concurrent commits cost about two fsyncs, not N.
//
// Legacy recognises the log of format 1, one file restarted at every checkpoint.
package wal
