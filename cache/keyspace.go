package cache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
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

// entry is one key's value. A string keeps its bytes in str; the other types keep a
// pointer to their structure in obj.
type entry struct {
	str []byte
	obj any   // *list, *hash, *set, *zset
	exp int64 // expiry in Unix milliseconds; 0 for none
	// size is the bytes accounted to this key in its shard's used.
	size int64
	// access is the LRU clock (seconds) of the last access, for OBJECT IDLETIME
	// and eviction.
	access uint32
	kind   kind
	freq   uint8 // LFU counter, Redis's logarithmic one
	// The fields are ordered so that an entry is 64 bytes, one allocator size class
	// below what the natural order gives.
}

// entryOverhead approximates what a key costs beyond its key and value bytes: the
// map slot with the map's growth slack, the 64-byte entry, allocator rounding and
// the collector's share. Measured: 1M keys of 16-byte values take 180 MB of Go
// heap, 180 bytes a key, of which 32 are key and value (docs/benchmarks.md).
const entryOverhead = 148

// shard is one lock's worth of the keyspace.
type shard struct {
	mu  sync.Mutex             // guards everything below and the entries they hold
	dbs []map[string]*entry    // per database: every key
	vol []map[string]*entry    // per database: the keys with a time to live
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
}

func newKeyspace(dbs int) *keyspace {
	ks := &keyspace{seed: maphash.MakeSeed()}
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.dbs = make([]map[string]*entry, dbs)
		sh.vol = make([]map[string]*entry, dbs)
		sh.bw = make([]map[string][]*waiter, dbs)
		sh.wk = make([]map[string][]*client, dbs)
		for d := range dbs {
			sh.dbs[d] = make(map[string]*entry)
			sh.vol[d] = make(map[string]*entry)
		}
	}
	return ks
}

func (ks *keyspace) shardOf(key []byte) int {
	return int(maphash.Bytes(ks.seed, key) & (nShards - 1))
}

// remove deletes key from its shard, which the caller has locked.
func (ks *keyspace) remove(sh *shard, db int, key string, e *entry) {
	delete(sh.dbs[db], key)
	if e.exp != 0 {
		delete(sh.vol[db], key)
	}
	sh.used -= e.size
}

// put stores e under key in its locked shard, replacing what was there.
func (ks *keyspace) put(sh *shard, db int, key string, e *entry) {
	if old := sh.dbs[db][key]; old != nil {
		ks.remove(sh, db, key, old)
	}
	sh.dbs[db][key] = e
	if e.exp != 0 {
		sh.vol[db][key] = e
	}
	e.size = int64(len(key)) + e.valueSize() + entryOverhead
	sh.used += e.size
}

// setExpire changes e's expiry, keeping the shard's index of volatile keys right.
func (sh *shard) setExpire(db int, key string, e *entry, exp int64) {
	switch {
	case exp != 0 && e.exp == 0:
		sh.vol[db][key] = e
	case exp == 0 && e.exp != 0:
		delete(sh.vol[db], key)
	}
	e.exp = exp
}

// resize updates the memory accounted to e after its value changed.
func (sh *shard) resize(key []byte, e *entry) {
	n := int64(len(key)) + e.valueSize() + entryOverhead
	sh.used += n - e.size
	e.size = n
}

func (e *entry) valueSize() int64 {
	switch v := e.obj.(type) {
	case nil:
		return int64(cap(e.str))
	case sizer:
		return v.memSize()
	}
	return 0
}

// sizer is a type that knows how many bytes it holds.
type sizer interface{ memSize() int64 }

// activeExpire runs one cycle of the active expiry: in each shard and database it
// samples up to 20 keys with a time to live, removes the expired ones, and goes on
// while more than a quarter of a sample had expired, within the time budget.
func (ks *keyspace) activeExpire(now int64, budget time.Duration) {
	deadline := time.Now().Add(budget)
	for i := range ks.shards {
		sh := &ks.shards[i]
		sh.mu.Lock()
		for db := range sh.vol {
			for {
				sampled, gone := 0, 0
				for k, e := range sh.vol[db] {
					if sampled == 20 {
						break
					}
					sampled++
					if e.exp <= now {
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
