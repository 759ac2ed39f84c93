// Package log is the storage of one partition: an append-only sequence of Kafka
// record batches (format v2) kept in segment files, with a sparse offset index and a
// time index per segment.
//
// A partition directory holds, for each segment, three files named after the offset
// of the segment's first record:
//
//	00000000000000000000.log        record batches, exactly as producers sent them,
//	                                with the base offset rewritten by the log
//	00000000000000000000.index      (relative offset uint32, file position uint32)
//	                                every IndexInterval bytes
//	00000000000000000000.timeindex  (max timestamp so far int64, relative offset uint32)
//	                                at the same points, plus one at the segment's end
//	00000000000000004096.log        the next segment, and so on
//
// A record batch on disk (big-endian; the CRC is CRC-32C of everything after it):
//
//	baseOffset int64 | batchLength int32 | leaderEpoch int32 | magic int8 (=2) |
//	crc uint32 | attributes int16 | lastOffsetDelta int32 | firstTimestamp int64 |
//	maxTimestamp int64 | producerId int64 | producerEpoch int16 |
//	baseSequence int32 | recordCount int32 | records...
//
// The active segment may end with zeros after its last batch: room that small appends
// overwrite, written ahead of them so that a sync (fdatasync) of such an append changes
// no file metadata. Sealed segments end with their last batch.
//
// Only the last segment is written. When it grows past SegmentBytes or gets older than
// SegmentAge, its indexes are written and a new one begins; the old one (and the
// directory) is fsynced after the log's lock is released, by the append that rolled or
// by the next Sync, whichever comes first, so reads and appends do not wait for it. At
// most one rolled segment is unsynced at a time; every Sync covers it. The indexes of
// the active segment live in memory and reach disk when the segment rolls or the log is
// closed; on Open the active segment and the one before it are scanned batch by batch
// (length, magic and CRC), a torn or corrupt tail is truncated with a log line (a tail
// of nothing but zeros in the active segment is room, and kept), and their indexes are
// rebuilt. The indexes of older segments are checked and rebuilt from
// their segment when damaged.
//
// Durability is the caller's choice: Append writes to the file (the page cache), Sync
// makes everything appended so far durable. Concurrent Syncs share one fsync (group
// commit). The log itself never waits for the disk unless FlushMessages asks for it.
package log
