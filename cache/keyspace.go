package cache

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// nShards is the number of keyspace shards: a power of two, enough that two keys
// rarely share a lock on a machine with a few cores.
const nShards = 64

// kind is the type of a value, as TYPE names it.
type kind uint8

const (
	kString kind = iota
	kList
	kHash
	kSet
	kZSet
)

var kindNames = [...]string{"string", "list", "hash", "set", "zset"}

func (k kind) String() string { return kindNames[k] }

// entry is one key and its value. A string keeps its bytes in str; the other
// types keep a pointer to their structure in obj.
//
// An entry is allocated together with its key and, when they fit, a short string
// value: newEntry picks one of the entryN types below (an entry followed by N
// bytes, N chosen so the whole is one of the allocator's size classes), writes the
// key at the start of those bytes and the value after it. A 16-byte key with a
// 16-byte value is then one 96-byte allocation, where an entry, a key string and a
// value slice apart cost 64+16+16 bytes in three objects plus a map slot with a
// string header. str may later be replaced by a longer slice elsewhere (APPEND);
// the key's bytes never change.
type entry struct {
	str []byte
	obj any   // *list, *hash, *set, *zset
	exp int64 // expiry in Unix milliseconds; 0 for none
	// access is the LRU clock (seconds) of the last access, for OBJECT IDLETIME
	// and eviction.
	access uint32
	// size is the bytes accounted to this key in its shard's used, in units of
	// 8 bytes (so a key may account for up to 32 GB).
	size  uint32
	klen  uint32 // the key's length; bigKey when the key is an entryBig's string
	kind  kind
	freq  uint8 // LFU counter, Redis's logarithmic one
	class uint8 // which entryN holds the entry: the index into entryClasses
}

// The allocations an entry can live in: entry (class 0) followed by 0, 16, 32, 48,
// 64, 96, 128 or 192 bytes for the key and a short value, and entryBig, whose key is
// a string of its own.
type (
	entry16 struct {
		entry
		b [16]byte
	}
	entry32 struct {
		entry
		b [32]byte
	}
	entry48 struct {
		entry
		b [48]byte
	}
	entry64 struct {
		entry
		b [64]byte
	}
	entry96 struct {
		entry
		b [96]byte
	}
	entry128 struct {
		entry
		b [128]byte
	}
	entry192 struct {
		entry
		b [192]byte
	}
	entryBig struct {
		entry
		key string
	}
)

const (
	bigKey   = ^uint32(0)
	inlineMx = 192 // the most bytes an entry carries inline
	classBig = 8
)

// entryClasses are the inline bytes of each class (entryBig's last).
var entryClasses = [...]int{0, 16, 32, 48, 64, 96, 128, 192}

// newEntry allocates the entry for key, with room for want bytes of value inline
// when key and value fit together; buf is the room after the key (nil when none).
func newEntry(key []byte, want int) (e *entry, buf []byte) {
	klen := len(key)
	if klen > inlineMx {
		x := &entryBig{key: string(key)}
		x.klen, x.class = bigKey, classBig
		return &x.entry, nil
	}
	need := klen + want
	if need > inlineMx {
		need = klen
	}
	var b []byte
	class := 0
	for class < len(entryClasses)-1 && entryClasses[class] < need {
		class++
	}
	switch class {
	case 0:
		e = new(entry)
	case 1:
		x := new(entry16)
		e, b = &x.entry, x.b[:]
	case 2:
		x := new(entry32)
		e, b = &x.entry, x.b[:]
	case 3:
		x := new(entry48)
		e, b = &x.entry, x.b[:]
	case 4:
		x := new(entry64)
		e, b = &x.entry, x.b[:]
	case 5:
		x := new(entry96)
		e, b = &x.entry, x.b[:]
	case 6:
		x := new(entry128)
		e, b = &x.entry, x.b[:]
	default:
		x := new(entry192)
		e, b = &x.entry, x.b[:]
	}
	e.class = uint8(class)
	e.klen = uint32(copy(b, key))
	if b == nil {
		return e, nil
	}
	return e, b[klen:klen:len(b)]
}

// key is the entry's key. Its bytes sit just after the entry in the entryN that
// holds it (or in entryBig's string): the only unsafe code of the keyspace, which
// lets an entry carry its key without a 16-byte string header or an allocation.
func (e *entry) key() string {
	switch {
	case e.klen == 0:
		return ""
	case e.klen == bigKey:
		return (*entryBig)(unsafe.Pointer(e)).key
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(e), unsafe.Sizeof(entry{}))), int(e.klen))
}

// keyBytes is key as a byte slice, which must not be written.
func (e *entry) keyBytes() []byte {
	k := e.key()
	return unsafe.Slice(unsafe.StringData(k), len(k))
}

// allocSize is the bytes of the allocation holding e and its key.
func (e *entry) allocSize() int64 {
	const head = int64(unsafe.Sizeof(entry{}))
	if e.class == classBig {
		return head + 16 + roundUp(int64(len(e.key())))
	}
	return head + int64(entryClasses[e.class])
}

// strInline reports whether str lies in e's own allocation.
func (e *entry) strInline() bool {
	if cap(e.str) == 0 || e.class == 0 || e.class == classBig {
		return false
	}
	base := uintptr(unsafe.Pointer(e))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(e.str)))
	return p >= base && p < base+uintptr(e.allocSize())
}

// memBytes is what e really costs: its allocation, a value kept apart, and its
// share of the table.
func (e *entry) memBytes() int64 {
	n := e.allocSize() + slotShare
	switch v := e.obj.(type) {
	case nil:
		if !e.strInline() {
			n += int64(cap(e.str))
		}
	case sizer:
		n += v.memSize()
	}
	return n
}

// slotShare is a key's share of its dict: 9 bytes a slot in buckets that are
// 35% to 80% full as they fill and split (all in step, the hash being uniform),
// 18 bytes on average; 1M keys measured 26 at a low point.
const slotShare = 18

func roundUp(n int64) int64 { return (n + 7) &^ 7 }

// accounted is the bytes e adds to its shard's used.
func (e *entry) accounted() int64 { return int64(e.size) << 3 }

// account sets e.size from what e costs now and returns the change.
func (e *entry) account() int64 {
	n := roundUp(e.memBytes()) >> 3
	if n > int64(^uint32(0)) {
		n = int64(^uint32(0))
	}
	old := e.accounted()
	e.size = uint32(n)
	return e.accounted() - old
}

// shard is one lock's worth of the keyspace.
type shard struct {
	mu  sync.Mutex             // guards everything below and the entries they hold
	dbs []*dict                // per database: every key
	vol []*dict                // per database: the keys with a time to live
	bw  []map[string][]*waiter // per database: clients blocked on a list key
	wk  []map[string][]*client // per database: clients that WATCH a key
	// used is the bytes accounted to this shard's keys. It is per shard, under
	// the shard's lock, so that writes on different cores do not share a counter.
	used int64
	_    [64]byte // keep neighbouring shards' mutexes off one cache line
}

// keyspace is every database, split into shards.
type keyspace struct {
	seed    maphash.Seed
	shards  [nShards]shard
	expired atomic.Int64 // keys removed because their time ran out
	evicted atomic.Int64 // keys removed to stay under maxmemory
	// expireFrom is the shard the next active-expiry cycle starts at: the one after
	// where the last stopped, so that under heavy expiry no shard waits for the
	// others' keys to run out. Only the expiry goroutine uses it.
	expireFrom int
}

func newKeyspace(dbs int) *keyspace {
	ks := &keyspace{seed: maphash.MakeSeed()}
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.dbs = make([]*dict, dbs)
		sh.vol = make([]*dict, dbs)
		sh.bw = make([]map[string][]*waiter, dbs)
		sh.wk = make([]map[string][]*client, dbs)
		for d := range dbs {
			sh.dbs[d] = &dict{seed: ks.seed}
			sh.vol[d] = &dict{seed: ks.seed}
		}
	}
	return ks
}

func (ks *keyspace) shardOf(key []byte) int {
	return int(maphash.Bytes(ks.seed, key) & (nShards - 1))
}

// remove deletes e, stored under key, from its shard, which the caller has locked.
func (ks *keyspace) remove(sh *shard, db int, key string, e *entry) {
	k := unsafe.Slice(unsafe.StringData(key), len(key))
	sh.dbs[db].del(k)
	if e.exp != 0 {
		sh.vol[db].del(k)
	}
	sh.used -= e.accounted()
}

// put stores a new entry under key in its locked shard, replacing what was there,
// and returns it. The new entry takes tmpl's value, type and expiry: tmpl itself is
// not stored, and the caller goes on with the entry put returns. A string value of
// up to inlineMx bytes is copied (into the entry when it fits); a longer one is
// taken over without a copy.
func (ks *keyspace) put(sh *shard, db int, key []byte, tmpl *entry) *entry {
	want := 0
	if tmpl.obj == nil && len(tmpl.str) <= inlineMx {
		want = len(tmpl.str)
	}
	e, buf := newEntry(key, want)
	e.str, e.obj, e.exp, e.access, e.kind, e.freq = tmpl.str, tmpl.obj, tmpl.exp, tmpl.access, tmpl.kind, tmpl.freq
	if tmpl.obj == nil && len(tmpl.str) <= inlineMx {
		if cap(buf) >= len(tmpl.str) {
			e.str = append(buf, tmpl.str...)
		} else {
			e.str = append([]byte(nil), tmpl.str...)
		}
	}
	ks.store(sh, db, e)
	return e
}

// putString stores a copy of val as key's string value, replacing what was there.
func (ks *keyspace) putString(sh *shard, db int, key, val []byte, exp int64, access uint32) *entry {
	e, buf := newEntry(key, len(val))
	if cap(buf) >= len(val) {
		e.str = append(buf, val...)
	} else {
		e.str = append([]byte(nil), val...)
	}
	e.kind, e.exp, e.access, e.freq = kString, exp, access, lfuInit
	ks.store(sh, db, e)
	return e
}

func (ks *keyspace) store(sh *shard, db int, e *entry) {
	if old := sh.dbs[db].set(e); old != nil {
		if old.exp != 0 {
			sh.vol[db].del(old.keyBytes())
		}
		sh.used -= old.accounted()
	}
	if e.exp != 0 {
		sh.vol[db].set(e)
	}
	e.size = 0
	sh.used += e.account()
}

// lfuInit is Redis's LFU_INIT_VAL: a new key is not the first to go.
const lfuInit = 5

// setExpire changes e's expiry, keeping the shard's index of volatile keys right.
func (sh *shard) setExpire(db int, key string, e *entry, exp int64) {
	switch {
	case exp != 0 && e.exp == 0:
		sh.vol[db].set(e)
	case exp == 0 && e.exp != 0:
		sh.vol[db].del(e.keyBytes())
	}
	e.exp = exp
}

// resize updates the memory accounted to e after its value changed.
func (sh *shard) resize(key []byte, e *entry) {
	sh.used += e.account()
}

// sizer is a type that knows how many bytes it holds.
type sizer interface{ memSize() int64 }

// activeExpire runs one cycle of the active expiry: in each shard and database it
// samples up to 20 keys with a time to live, removes the expired ones, and goes on
// while more than a quarter of a sample had expired, within the time budget. A
// cycle cut short by its budget leaves the next to start at the shard after it.
func (ks *keyspace) activeExpire(now int64, budget time.Duration) {
	deadline := time.Now().Add(budget)
	for n := range nShards {
		i := (ks.expireFrom + n) % nShards
		sh := &ks.shards[i]
		sh.mu.Lock()
		for db := range sh.vol {
			for {
				sampled, gone := 0, 0
				for e := range sh.vol[db].from(rand.Uint64()) {
					if sampled == 20 {
						break
					}
					sampled++
					if e.exp <= now {
						k := e.key()
						ks.remove(sh, db, k, e)
						sh.touchWatched(db, k)
						gone++
					}
				}
				ks.expired.Add(int64(gone))
				if gone*4 <= sampled || time.Now().After(deadline) {
					break
				}
			}
		}
		sh.mu.Unlock()
		if time.Now().After(deadline) {
			ks.expireFrom = (i + 1) % nShards
			return
		}
	}
}

// touchWatched marks every client watching key as dirty, so its EXEC fails.
func (sh *shard) touchWatched(db int, key string) {
	if sh.wk[db] == nil {
		return
	}
	for _, c := range sh.wk[db][key] {
		c.dirtyCAS.Store(true)
	}
}

// usedMemory sums the bytes accounted to every shard's keys.
func (ks *keyspace) usedMemory() int64 {
	var n int64
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		n += sh.used
		sh.mu.Unlock()
	}
	return n
}

// lruClock is the LRU clock in seconds, as Redis keeps it (24 bits would do; 32 are free).
func lruClock(ms int64) uint32 { return uint32(ms / 1000) }
