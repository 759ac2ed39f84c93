// Package vfs is the small file layer under the storage engine: every byte the engine
// reads, writes or syncs goes through an FS, so that tests can swap the operating system
// for a crashable in-memory FS (which loses, or tears, writes that were never synced, and
// keeps only a prefix of renames not yet synced) or wrap any FS with injected faults
// (short and torn writes, fsync errors, ENOSPC, failed renames and directory syncs).
//
// The engine needs little from a file: positioned reads and writes, a size, truncation,
// a durable sync, and an exclusive lock so that one process holds a database at a time;
// and from the file system, for the log's segments: listing by prefix, rename, remove and
// a sync of the directory.
//
// The test file systems (MemFS, FaultFS) report Serial unless their Concurrent is set: the
// engine then does in the caller's goroutine the work it would do in one of its own (the
// log's making of segments ahead), so that a test counting or killing operations meets
// them in one order, run after run.
package vfs
