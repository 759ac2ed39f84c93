// Package vfs is the small file layer under the storage engine: every byte the engine
// reads, writes or syncs goes through an FS, so that tests can swap the operating system
// for a crashable in-memory FS (which loses, or tears, writes that were never synced) or
// wrap any FS with injected faults (short and torn writes, fsync errors, ENOSPC).
//
// The engine needs little from a file: positioned reads and writes, a size, truncation,
// a durable sync, and an exclusive lock so that one process holds a database at a time.
package vfs
