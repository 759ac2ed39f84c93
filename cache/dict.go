package cache

import (
	"hash/maphash"
	"iter"
)

// dict is one shard's keys of one database: an extendible hash table of small
// open-addressing buckets, holding entries that carry their own keys.
//
// A slot costs a one-byte tag and a pointer, where a Go map[string]*entry pays a
// string header per slot as well. A bucket grows by doubling up to bucketMax slots,
// then splits in two by one more bit of the hash, rebuilt in place: a table that
// grows allocates only what it keeps, so a million keys leave no freed table
// behind (the Go map, or one big array rebuilt larger, leaves the previous one to
// the collector and the process's resident memory), and no insertion rehashes
// more than one bucket while the shard's lock is held.
//
// The directory is indexed by the hash's top depth bits; a bucket of depth k
// holds the keys whose top k bits are its own, and 2^(depth-k) consecutive
// directory slots point at it. Inside a bucket, lookups probe linearly from the
// slot that bits 16-47 of the hash pick, comparing tags (seven more bits) and
// only on a tag match the key, until an empty slot. Deletion leaves a tombstone,
// so that deleting while iterating is safe; tombstones are cleared when the
// bucket is rebuilt.
type dict struct {
	seed  maphash.Seed
	dir   []*bucket
	depth uint8
	n     int // live entries
}

type bucket struct {
	tags    []uint8 // per slot: tagEmpty, tagDeleted or tagOf(hash)
	slots   []*entry
	n, used int32 // live entries; live entries and tombstones
	depth   uint8
}

const (
	tagEmpty   = 0
	tagDeleted = 1
	minSlots   = 8
	// bucketMax is the slots of a full-size bucket: its arrays are 256 and 2048
	// bytes, two of the allocator's size classes.
	bucketMax = 256
	// maxDepth keeps the directory's bits (the top ones) apart from those that
	// place a key in its bucket; past it buckets grow instead (a shard would
	// need some 10M keys).
	maxDepth = 16
)

// tagOf takes bits of the hash that neither the shard (the low six), the slot
// (16-47) nor the directory (the top ones) uses; the high bit marks a full slot.
func tagOf(h uint64) uint8 { return uint8(h>>8) | 0x80 }

func (d *dict) len() int { return d.n }

func (d *dict) bucketOf(h uint64) *bucket { return d.dir[h>>(64-d.depth)&(1<<d.depth-1)] }

// find returns the bucket and slot holding key, or a slot of -1.
func (d *dict) find(key []byte) (*bucket, int) {
	if d.n == 0 {
		return nil, -1
	}
	h := maphash.Bytes(d.seed, key)
	b := d.bucketOf(h)
	return b, b.find(h, key)
}

// get returns key's entry or nil.
func (d *dict) get(key []byte) *entry {
	if b, i := d.find(key); i >= 0 {
		return b.slots[i]
	}
	return nil
}

// set stores e under its key, returning the entry it replaced, if any.
func (d *dict) set(e *entry) (old *entry) {
	key := e.keyBytes()
	h := maphash.Bytes(d.seed, key)
	if d.dir == nil {
		d.dir, d.depth = []*bucket{newBucket(minSlots, 0)}, 0
	}
	for {
		b := d.bucketOf(h)
		if i := b.find(h, key); i >= 0 {
			old, b.slots[i] = b.slots[i], e
			return old
		}
		if (b.used+1)*5 <= int32(len(b.slots))*4 {
			b.insert(h, e)
			d.n++
			return nil
		}
		d.grow(b)
	}
}

// del removes key and reports whether it was there. It never moves other entries,
// so an iteration in progress goes on unharmed.
func (d *dict) del(key []byte) bool {
	b, i := d.find(key)
	if i < 0 {
		return false
	}
	b.tags[i], b.slots[i] = tagDeleted, nil
	b.n--
	d.n--
	if d.n == 0 {
		// An emptied table (FLUSHDB, the last key expired) gives its memory back
		// at once. An iteration in progress keeps the old buckets, now all
		// tombstones.
		d.dir, d.depth = nil, 0
	}
	return true
}

// grow makes room in b: it clears b's tombstones when they are what fills it,
// doubles a small bucket, and splits a full-size one.
func (d *dict) grow(b *bucket) {
	size := len(b.slots)
	switch {
	case (b.n+1)*5 <= int32(size)*3:
		b.rebuild(d, size)
	case size < bucketMax || b.depth == maxDepth:
		b.rebuild(d, 2*size)
	default:
		d.split(b)
	}
}

// split moves the keys of b whose next hash bit is set to a new bucket.
func (d *dict) split(b *bucket) {
	if b.depth == d.depth {
		dir := make([]*bucket, 2*len(d.dir))
		for i, x := range d.dir {
			dir[2*i], dir[2*i+1] = x, x
		}
		d.dir, d.depth = dir, d.depth+1
	}
	b.depth++
	nb := newBucket(bucketMax, b.depth)
	bit := uint64(1) << (64 - b.depth) // the hash bit that now tells b from nb
	for i, t := range b.tags {
		if t < 0x80 {
			continue
		}
		e := b.slots[i]
		if h := maphash.Bytes(d.seed, e.keyBytes()); h&bit != 0 {
			nb.insert(h, e)
			b.tags[i], b.slots[i] = tagDeleted, nil
			b.n--
		}
	}
	// The directory slots of b are 2^(d.depth-b.depth+1) in a row; the second
	// half is nb's.
	span := 1 << (d.depth - b.depth + 1)
	first := 0
	for first < len(d.dir) && d.dir[first] != b {
		first++
	}
	for i := first + span/2; i < first+span; i++ {
		d.dir[i] = nb
	}
	b.rebuild(d, len(b.slots))
}

func newBucket(size int, depth uint8) *bucket {
	return &bucket{tags: make([]uint8, size), slots: make([]*entry, size), depth: depth}
}

// home is where key's probe starts: bits 16-47 of the hash mapped onto the
// slots without a division.
func (b *bucket) home(h uint64) int { return int(uint64(uint32(h>>16)) * uint64(len(b.slots)) >> 32) }

func (b *bucket) find(h uint64, key []byte) int {
	t := tagOf(h)
	for i := b.home(h); ; {
		switch b.tags[i] {
		case tagEmpty:
			return -1
		case t:
			if b.slots[i].key() == string(key) {
				return i
			}
		}
		if i++; i == len(b.tags) {
			i = 0
		}
	}
}

// insert places e, whose key is not in b, in the first free slot of its probe.
func (b *bucket) insert(h uint64, e *entry) {
	for i := b.home(h); ; {
		switch b.tags[i] {
		case tagEmpty:
			b.used++
			fallthrough
		case tagDeleted:
			b.tags[i], b.slots[i] = tagOf(h), e
			b.n++
			return
		}
		if i++; i == len(b.tags) {
			i = 0
		}
	}
}

// rebuild puts b's live entries into size slots without tombstones, reusing b's
// arrays when the size stays.
func (b *bucket) rebuild(d *dict, size int) {
	var keep [bucketMax]*entry
	live := keep[:0]
	if len(b.slots) > bucketMax {
		live = make([]*entry, 0, b.n)
	}
	for i, t := range b.tags {
		if t >= 0x80 {
			live = append(live, b.slots[i])
		}
	}
	if size == len(b.slots) {
		clear(b.tags)
		clear(b.slots)
	} else {
		b.tags, b.slots = make([]uint8, size), make([]*entry, size)
	}
	b.n, b.used = 0, 0
	for _, e := range live {
		b.insert(maphash.Bytes(d.seed, e.keyBytes()), e)
	}
}

// buckets yields each bucket once, in directory order.
func (d *dict) buckets(dir []*bucket, depth uint8) iter.Seq[*bucket] {
	return func(yield func(*bucket) bool) {
		for i := 0; i < len(dir); i += 1 << (depth - dir[i].depth) {
			if !yield(dir[i]) {
				return
			}
		}
	}
}

// all yields every entry with its key. The caller may delete entries (any, the
// current one included) as it goes, but not insert.
func (d *dict) all() iter.Seq2[string, *entry] {
	return func(yield func(string, *entry) bool) {
		for b := range d.buckets(d.dir, d.depth) {
			tags, slots := b.tags, b.slots
			for i, t := range tags {
				if t >= 0x80 {
					if e := slots[i]; e != nil && !yield(e.key(), e) {
						return
					}
				}
			}
		}
	}
}

// from yields entries from a place that start picks, going round once: a cheap
// random sample when start is random, as Redis samples its tables for eviction
// and expiry. Deleting while sampling is allowed.
func (d *dict) from(start uint64) iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		dir, depth := d.dir, d.depth
		if len(dir) == 0 {
			return
		}
		// The bucket that start's top bits pick, from the slot its low bits
		// pick, then the following buckets, then the first one's start.
		first := int(start >> (64 - depth) & (1<<depth - 1))
		first &^= 1<<(depth-dir[first].depth) - 1
		b0 := dir[first]
		off := int(uint32(start) % uint32(len(b0.tags)))
		each := func(b *bucket, from, to int) bool {
			for i := from; i < to; i++ {
				if b.tags[i] >= 0x80 {
					if e := b.slots[i]; e != nil && !yield(e) {
						return false
					}
				}
			}
			return true
		}
		if !each(b0, off, len(b0.tags)) {
			return
		}
		for i := first + 1<<(depth-b0.depth); i != first; {
			if i == len(dir) {
				i = 0
				continue
			}
			b := dir[i]
			if !each(b, 0, len(b.tags)) {
				return
			}
			i += 1 << (depth - b.depth)
		}
		each(b0, 0, off)
	}
}

// memSize is the table's own memory: a tag and a pointer per slot, and the
// directory.
func (d *dict) memSize() int64 {
	n := int64(len(d.dir)) * 8
	for b := range d.buckets(d.dir, d.depth) {
		n += int64(len(b.slots))*9 + 64
	}
	return n
}
