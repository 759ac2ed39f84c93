package cache

import (
	"hash/maphash"
	"iter"
)

// dict is one shard's keys of one database: an open-addressing hash table of
// entries, which carry their own keys. A slot costs a one-byte tag and a pointer,
// where a Go map[string]*entry pays a string header per slot as well and grows by
// doubling; dict grows by half, so that it stays between 53% and 80% full.
//
// Lookups probe linearly from the slot the hash picks, comparing tags (seven bits
// of the hash) and only on a tag match the key, until an empty slot. Deletion
// leaves a tombstone, so that deleting while iterating is safe; tombstones are
// cleared when the table is rebuilt.
type dict struct {
	seed  maphash.Seed
	tags  []uint8 // per slot: tagEmpty, tagDeleted or tagOf(hash)
	slots []*entry
	n     int // live entries
	used  int // slots not empty: live entries and tombstones
}

const (
	tagEmpty   = 0
	tagDeleted = 1
	minSlots   = 8
)

// tagOf takes bits of the hash that neither the shard (the low six) nor the home
// slot (the high 32) uses; the high bit marks a full slot.
func tagOf(h uint64) uint8 { return uint8(h>>8) | 0x80 }

// home maps the high half of the hash onto the slots without a division.
func (d *dict) home(h uint64) int { return int((h >> 32) * uint64(len(d.slots)) >> 32) }

func (d *dict) len() int { return d.n }

// find returns the slot holding key, or -1.
func (d *dict) find(key []byte) int {
	if d.n == 0 {
		return -1
	}
	h := maphash.Bytes(d.seed, key)
	t := tagOf(h)
	for i := d.home(h); ; {
		switch d.tags[i] {
		case tagEmpty:
			return -1
		case t:
			if d.slots[i].key() == string(key) {
				return i
			}
		}
		if i++; i == len(d.tags) {
			i = 0
		}
	}
}

// get returns key's entry or nil.
func (d *dict) get(key []byte) *entry {
	if i := d.find(key); i >= 0 {
		return d.slots[i]
	}
	return nil
}

// set stores e under its key, returning the entry it replaced, if any.
func (d *dict) set(e *entry) (old *entry) {
	if (d.used+1)*5 > len(d.slots)*4 {
		d.rebuild(d.n + 1)
	}
	key := e.keyBytes()
	h := maphash.Bytes(d.seed, key)
	t := tagOf(h)
	free := -1
	for i := d.home(h); ; {
		switch d.tags[i] {
		case tagEmpty:
			if free < 0 {
				free = i
				d.used++
			}
			d.tags[free], d.slots[free] = t, e
			d.n++
			return nil
		case tagDeleted:
			if free < 0 {
				free = i
			}
		case t:
			if old = d.slots[i]; old.key() == string(key) {
				d.slots[i] = e
				return old
			}
		}
		if i++; i == len(d.tags) {
			i = 0
		}
	}
}

// del removes key and reports whether it was there. It never moves other entries,
// so an iteration in progress goes on unharmed.
func (d *dict) del(key []byte) bool {
	i := d.find(key)
	if i < 0 {
		return false
	}
	d.tags[i], d.slots[i] = tagDeleted, nil
	d.n--
	if d.n == 0 {
		// An emptied table (FLUSHDB, the last key expired) gives its memory back
		// at once. An iteration in progress keeps the old arrays, now all tombstones.
		d.tags, d.slots, d.used = nil, nil, 0
	}
	return true
}

// rebuild moves the live entries into a table sized for n of them, dropping the
// tombstones: the same size when tombstones filled it, half as large again when
// entries did, smaller when most were deleted.
func (d *dict) rebuild(n int) {
	size := max(minSlots, len(d.slots))
	switch {
	case n*5 > size*3:
		size = size * 3 / 2
	case n*5 < size && size > minSlots:
		size = max(minSlots, n*2)
	}
	tags, slots := d.tags, d.slots
	d.tags, d.slots, d.used = make([]uint8, size), make([]*entry, size), 0
	for j, t := range tags {
		if t < 0x80 {
			continue
		}
		h := maphash.Bytes(d.seed, slots[j].keyBytes())
		i := d.home(h)
		for d.tags[i] != tagEmpty {
			if i++; i == size {
				i = 0
			}
		}
		d.tags[i], d.slots[i] = tagOf(h), slots[j]
		d.used++
	}
}

// all yields every entry with its key. The caller may delete entries (any, the
// current one included) as it goes; an insertion may or may not be seen.
func (d *dict) all() iter.Seq2[string, *entry] {
	return func(yield func(string, *entry) bool) {
		tags, slots := d.tags, d.slots
		for i, t := range tags {
			if t >= 0x80 {
				if e := slots[i]; e != nil && !yield(e.key(), e) {
					return
				}
			}
		}
	}
}

// from yields entries starting at slot start (modulo the table's size) and going
// round once: a cheap random sample when start is random, as Redis samples its
// tables for eviction and expiry. Deleting while sampling is allowed.
func (d *dict) from(start uint64) iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		tags, slots := d.tags, d.slots
		if len(tags) == 0 {
			return
		}
		s := int(start % uint64(len(tags)))
		for k := range tags {
			i := s + k
			if i >= len(tags) {
				i -= len(tags)
			}
			if tags[i] >= 0x80 {
				if e := slots[i]; e != nil && !yield(e) {
					return
				}
			}
		}
	}
}

// memSize is the table's own memory: a tag and a pointer per slot.
func (d *dict) memSize() int64 { return int64(len(d.slots)) * 9 }
