package store

import (
	"encoding/binary"
	"fmt"
)

// Bucket is a named keyspace inside a transaction: its keys sort byte-wise and are
// independent of other buckets' keys. A Bucket is valid for its transaction's life.
type Bucket struct {
	tx   *Tx
	id   uint32
	name string
}

// catalogBucket is bucket 0, which maps bucket names to their identifiers.
const catalogBucket = 0

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Bucket returns the bucket called name, or ErrBucketMissing.
func (tx *Tx) Bucket(name []byte) (*Bucket, error) {
	if tx.done {
		return nil, ErrTxDone
	}
	if tx.iso != ReadCommitted && (!tx.writable || tx.perBkt[catalogBucket] == 0) {
		if e, ok := tx.db.cachedBucket(name, tx.snap.lsn); ok {
			if tx.writable {
				tx.deps[string(treeKey(catalogBucket, name))] = true
			}
			return tx.newBucket(e.id, e.name), nil
		}
	}
	ck := treeKey(catalogBucket, name)
	v, ok, err := tx.get(ck)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrBucketMissing, name)
	}
	if len(v) != 4 {
		return nil, fmt.Errorf("store: catalog entry for bucket %q is %d bytes, want 4", name, len(v))
	}
	id := binary.BigEndian.Uint32(v)
	if tx.writable {
		tx.deps[string(ck)] = true
	}
	if tx.iso != ReadCommitted && (!tx.writable || tx.perBkt[catalogBucket] == 0) {
		tx.db.cacheBucket(name, id, tx.snap.lsn)
	}
	return tx.newBucket(id, string(name)), nil
}

// newBucket returns a Bucket of tx. The first one of a transaction is the Bucket kept
// inside the Tx, so that the usual read (one View, one bucket) allocates it with the Tx.
func (tx *Tx) newBucket(id uint32, name string) *Bucket {
	if !tx.bktUsed {
		tx.bktUsed = true
		tx.bkt = Bucket{tx: tx, id: id, name: name}
		return &tx.bkt
	}
	return &Bucket{tx: tx, id: id, name: name}
}

// CreateBucket creates the bucket called name; ErrBucketExists if there is one.
func (tx *Tx) CreateBucket(name []byte) (*Bucket, error) {
	if err := tx.checkWrite(catalogBucket, name, 4); err != nil {
		return nil, err
	}
	ck := treeKey(catalogBucket, name)
	_, ok, err := tx.get(ck)
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, fmt.Errorf("%w: %q", ErrBucketExists, name)
	}
	id := tx.db.bucket.Add(1) - 1
	tx.newBkt = max(tx.newBkt, id)
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, id)
	tx.write(catalogBucket, name, v, false)
	tx.deps[string(ck)] = true
	return &Bucket{tx: tx, id: id, name: string(name)}, nil
}

// CreateBucketIfNotExists returns the bucket called name, creating it if needed.
func (tx *Tx) CreateBucketIfNotExists(name []byte) (*Bucket, error) {
	b, err := tx.Bucket(name)
	if err == nil {
		return b, nil
	}
	return tx.CreateBucket(name)
}

// DeleteBucket deletes the bucket called name and every key in it.
func (tx *Tx) DeleteBucket(name []byte) error {
	b, err := tx.Bucket(name)
	if err != nil {
		return err
	}
	if err := tx.checkWrite(catalogBucket, name, 0); err != nil {
		return err
	}
	tx.write(catalogBucket, name, nil, true)
	prefix := string(treeKey(b.id, nil))
	for k := range tx.writes {
		if len(k) >= 4 && k[:4] == prefix {
			delete(tx.writes, k)
			tx.dirtyWS = true
		}
	}
	delete(tx.perBkt, b.id)
	tx.dropped = append(tx.dropped, b.id)
	if tx.dropSet == nil {
		tx.dropSet = make(map[uint32]bool)
	}
	tx.dropSet[b.id] = true
	return nil
}

// Buckets returns the names of all buckets, in order.
func (tx *Tx) Buckets() ([]string, error) {
	var names []string
	c := (&Bucket{tx: tx, id: catalogBucket}).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		names = append(names, string(k))
	}
	return names, c.Err()
}

// Get returns the value of key, or nil if there is none. The value stays valid for the
// transaction's life and must not be changed.
func (b *Bucket) Get(key []byte) ([]byte, error) {
	if b.tx.isDropped(b.id) {
		return nil, fmt.Errorf("%w: %q was deleted", ErrBucketMissing, b.name)
	}
	// The tree key on the stack: get and the tree walk keep no reference to it.
	var buf [64]byte
	tk := buf[:0]
	if 4+len(key) > len(buf) {
		tk = make([]byte, 0, 4+len(key))
	}
	tk = binary.BigEndian.AppendUint32(tk, b.id)
	tk = append(tk, key...)
	v, ok, err := b.tx.get(tk)
	if !ok {
		return nil, err
	}
	return v, nil
}

// Put sets key to value. Both are copied.
func (b *Bucket) Put(key, value []byte) error {
	if err := b.check(key, len(value)); err != nil {
		return err
	}
	b.tx.write(b.id, key, value, false)
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (b *Bucket) Delete(key []byte) error {
	if err := b.check(key, 0); err != nil {
		return err
	}
	b.tx.write(b.id, key, nil, true)
	return nil
}

func (b *Bucket) check(key []byte, vlen int) error {
	if err := b.tx.checkWrite(b.id, key, vlen); err != nil {
		return err
	}
	if b.tx.isDropped(b.id) {
		return fmt.Errorf("%w: %q was deleted", ErrBucketMissing, b.name)
	}
	return nil
}

// Lock takes an exclusive lock on key for the rest of the transaction (pessimistic
// concurrency control) and returns the key's latest committed value. Another transaction
// that locks the key waits, at most Options.LockTimeout (then ErrLockTimeout). Deadlocks
// are prevented by wait-die: a transaction may wait only for a younger one, and a younger
// one asking for an older one's key gets ErrDeadlock at once and should retry.
//
// A write to a locked key does not conflict with commits before the lock was taken: the
// value returned is already the latest, and no one else can change it until this
// transaction ends. Keys locked by every writer never see ErrConflict.
func (b *Bucket) Lock(key []byte) ([]byte, error) {
	if err := b.check(key, 0); err != nil {
		return nil, err
	}
	tx := b.tx
	tk := string(treeKey(b.id, key))
	tx.usedLocks = true
	if err := tx.db.locks.lock(tx, tk, tx.db.opts.LockTimeout); err != nil {
		return nil, err
	}
	if e, ok := tx.writes[tk]; ok {
		if e.del {
			return nil, nil
		}
		return e.val, nil
	}
	s, err := tx.db.acquire()
	if err != nil {
		return nil, err
	}
	defer tx.db.release(s)
	if tx.lockedAt == nil {
		tx.lockedAt = make(map[string]uint64)
	}
	tx.lockedAt[tk] = s.lsn
	v, _, err := treeGet(snapReader{tx.db, s.lsn, &tx.stats}, s.meta.Root, []byte(tk))
	return v, err
}
