// Package store is Gantry's embedded storage engine: a transactional, crash-safe B+tree
// over one file of fixed-size pages and a write-ahead log, in the spirit of bbolt but with
// concurrent writers.
//
//	db, err := store.Open("app.db", nil)
//	err = db.Update(func(tx *store.Tx) error {
//		b, err := tx.CreateBucketIfNotExists([]byte("users"))
//		if err != nil {
//			return err
//		}
//		return b.Put([]byte("ada"), []byte("lovelace"))
//	})
//
// How the parts fit (docs/store.md has the full account):
//
//	Tx (snapshot + private write set)
//	    | Commit: validate, apply to the B+tree, append page images   (commitMu, short)
//	    v
//	write-ahead log  app.db.000000000001-wal ...  numbered segments, recycled;
//	                 frames = whole pages, last one the meta page + commit flag
//	    | group commit: one fsync for all committers waiting
//	    | checkpoint: older versions open snapshots read -> side file (app.db-side),
//	    | newest frame of each page -> data file, fsync, recycle the segments before it
//	    v
//	data file  app.db             page 0 meta | B+tree branches, leaves, overflow | free pages
//
// Readers never lock: a transaction reads the state of the commit that was latest when it
// began (its snapshot, named by the LSN of that commit's last frame). A page's version for
// a snapshot is its newest log frame at or below that LSN, else the version a checkpoint
// saved aside for it, else its copy in the data file. Old versions live in the log until
// the next checkpoint, and in the side file (which no restart keeps) until no snapshot
// needs them; the buffer pool caches page versions by (page, LSN).
//
// Writers run concurrently: a writable transaction buffers its writes privately and takes
// the commit lock only to validate against the commits made since its snapshot (first
// committer wins: ErrConflict), apply its writes to the tree and append the changed pages.
// The fsync happens outside the lock, so concurrent committers share one (group commit).
// Pessimistic callers lock keys with Bucket.Lock instead.
//
// Sub-packages: page (the page format), wal (the log format, recovery scan, group commit),
// vfs (the file layer, with a crashable in-memory FS and fault injection for tests).
package store
