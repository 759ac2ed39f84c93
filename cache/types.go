package cache

import (
	"iter"
	"math/rand/v2"
	"sort"
	"strconv"
)

// list is a deque of elements kept in chunks, as Redis's quicklist keeps
// listpacks: a chunk holds up to chunkElems elements whose bytes are packed in
// one buffer without pointers. A long list then costs the collector one pointer
// per chunk instead of one per element (a list of a million elements was a
// slice of a million pointers that every collection rescanned and every growth
// copied with write barriers), and a push copies its element into the chunk's
// buffer instead of allocating it.
//
// A chunk's buffer is only ever appended to: the bytes of an element, once
// written, never change, so a popped element (a view of the buffer) stays valid
// after the list moves on.
type list struct {
	chunks []*chunk // chunks[head:] hold the elements, in order
	head   int
	n      int   // elements
	bytes  int64 // the elements' bytes
	mem    int64 // the chunks' memory (see chunk.cost)
}

// chunk holds some of a list's elements. Elements are appended to slots, and
// the list's order is the slots' order, or the reverse for a chunk made by a
// push at the front (rev), so that a chunk grows at one end whichever end of
// the list it serves. Slots before lo were popped.
type chunk struct {
	data  []byte
	slots []slot
	lo    int
	rev   bool
}

type slot struct{ off, n uint32 }

const (
	chunkElems = 128
	// chunkBytes is the buffer a chunk fills before the next one starts; a
	// longer element gets a chunk of its own.
	chunkBytes = 8 << 10
)

func (l *list) len() int { return l.n }

func (ch *chunk) len() int { return len(ch.slots) - ch.lo }

// at returns the chunk's i-th element in list order.
func (ch *chunk) at(i int) []byte {
	if ch.rev {
		i = ch.len() - 1 - i
	}
	s := ch.slots[ch.lo+i]
	return ch.data[s.off : s.off+s.n : s.off+s.n]
}

// cost is the memory a chunk holds.
func (ch *chunk) cost() int64 { return int64(cap(ch.data)+8*cap(ch.slots)) + 64 }

// room reports whether v can be appended to ch. A chunk whose buffer or slots
// are mostly dead (pops at the end it grows at leave their bytes behind: a list
// used as a stack) is packed anew to make the room.
func (l *list) room(ch *chunk, v []byte) bool {
	if len(ch.slots) < chunkElems && len(ch.data)+len(v) <= chunkBytes {
		return true
	}
	if ch.len() > chunkElems/2 || ch.live()+len(v) > chunkBytes/2 {
		return false
	}
	l.repack(ch, len(v))
	return true
}

// repack moves ch's live elements to the start of a new buffer with room for
// extra more bytes. The old buffer is left as it is, for the views of it that
// popped elements may still be.
func (l *list) repack(ch *chunk, extra int) {
	before := ch.cost()
	data := make([]byte, 0, ch.live()+extra)
	live := ch.slots[ch.lo:]
	for k, s := range live {
		live[k] = slot{uint32(len(data)), s.n}
		data = append(data, ch.data[s.off:s.off+s.n]...)
	}
	ch.slots = ch.slots[:copy(ch.slots, live)]
	ch.data, ch.lo = data, 0
	l.mem += ch.cost() - before
}

func (l *list) add(ch *chunk, v []byte) {
	before := ch.cost()
	off := len(ch.data)
	ch.data = append(ch.data, v...)
	ch.slots = append(ch.slots, slot{uint32(off), uint32(len(v))})
	l.mem += ch.cost() - before
	l.n++
	l.bytes += int64(len(v))
}

// newChunk starts a chunk for v. Once the list has filled a chunk, a new one is
// made at its full size at once rather than grown by doubling.
func (l *list) newChunk(v []byte, rev bool) *chunk {
	ch := &chunk{rev: rev}
	if l.n >= chunkElems {
		avg := int(l.bytes/int64(l.n)) + 1
		ch.slots = make([]slot, 0, chunkElems)
		ch.data = make([]byte, 0, max(len(v), min(chunkBytes, avg*chunkElems)))
	}
	l.mem += ch.cost()
	return ch
}

func (l *list) first() *chunk { return l.chunks[l.head] }
func (l *list) last() *chunk  { return l.chunks[len(l.chunks)-1] }

func (l *list) pushBack(v []byte) {
	if l.n == 0 || l.last().rev || !l.room(l.last(), v) {
		l.chunks = append(l.chunks, l.newChunk(v, false))
	}
	l.add(l.last(), v)
}

// pushFront adds a chunk at the front, when it must, as the old deque added
// elements: it makes room at the front for as many chunks as the list holds,
// within the slice when its spare capacity at the back allows, else in a slice
// twice as long.
func (l *list) pushFront(v []byte) {
	if l.n == 0 || !l.first().rev || !l.room(l.first(), v) {
		if l.head == 0 {
			n := len(l.chunks)
			room := n + 4
			if cap(l.chunks)-n >= 2*room {
				l.chunks = l.chunks[:room+n]
				copy(l.chunks[room:], l.chunks[:n])
				clear(l.chunks[:room])
			} else {
				grown := make([]*chunk, room+n, room+n+n/4+4)
				copy(grown[room:], l.chunks)
				l.chunks = grown
			}
			l.head = room
		}
		l.head--
		l.chunks[l.head] = l.newChunk(v, true)
	}
	l.add(l.first(), v)
}

func (l *list) popFront() []byte {
	ch := l.first()
	var v []byte
	if ch.rev {
		v = ch.at(0)
		ch.slots = ch.slots[:len(ch.slots)-1]
	} else {
		v = ch.at(0)
		ch.lo++
	}
	l.n--
	l.bytes -= int64(len(v))
	if ch.len() == 0 {
		l.mem -= ch.cost()
		l.chunks[l.head] = nil
		l.head++
		l.compact()
	}
	return v
}

func (l *list) popBack() []byte {
	ch := l.last()
	v := ch.at(ch.len() - 1)
	if ch.rev {
		ch.lo++
	} else {
		ch.slots = ch.slots[:len(ch.slots)-1]
	}
	l.n--
	l.bytes -= int64(len(v))
	if ch.len() == 0 {
		l.mem -= ch.cost()
		l.chunks[len(l.chunks)-1] = nil
		l.chunks = l.chunks[:len(l.chunks)-1]
		l.compact()
	}
	return v
}

// compact gives back the chunk slice's dead front once it is three times what
// lives (not sooner, or the room pushFront just made would be taken away
// again), and its spare back once it is three quarters empty.
func (l *list) compact() {
	live := len(l.chunks) - l.head
	switch {
	case live == 0:
		l.chunks, l.head = nil, 0
	case l.head > 16 && l.head > 3*live:
		l.chunks = append(l.chunks[:0:0], l.chunks[l.head:]...)
		l.head = 0
	case cap(l.chunks) > 64 && 4*live < cap(l.chunks):
		l.chunks = append(make([]*chunk, 0, 2*live), l.chunks[l.head:]...)
		l.head = 0
	}
}

// at returns the i-th element, walking the chunks from the nearer end.
func (l *list) at(i int) []byte {
	ch, j := l.find(i)
	return ch.at(j)
}

// find returns the chunk holding the i-th element, and its index there.
func (l *list) find(i int) (*chunk, int) {
	if i < l.n/2 {
		for _, ch := range l.chunks[l.head:] {
			if i < ch.len() {
				return ch, i
			}
			i -= ch.len()
		}
	}
	i = l.n - 1 - i // counted from the end
	for k := len(l.chunks) - 1; ; k-- {
		ch := l.chunks[k]
		if i < ch.len() {
			return ch, ch.len() - 1 - i
		}
		i -= ch.len()
	}
}

// each yields the elements with their indexes from the i-th on, towards the end
// of the list, or towards its start when rev is set. The list must not change
// meanwhile.
func (l *list) each(i int, rev bool) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		if i < 0 || i >= l.n {
			return
		}
		step := 1
		if rev {
			step = -1
		}
		k, j := l.head, i // the chunk, and the index in it
		for j >= l.chunks[k].len() {
			j -= l.chunks[k].len()
			k++
		}
		for k >= l.head && k < len(l.chunks) {
			ch := l.chunks[k]
			for ; j >= 0 && j < ch.len(); j += step {
				if !yield(i, ch.at(j)) {
					return
				}
				i += step
			}
			if k += step; rev && k >= l.head {
				j = l.chunks[k].len() - 1
			} else {
				j = 0
			}
		}
	}
}

// slice returns the elements as one slice of views of the list's buffers.
func (l *list) slice() [][]byte {
	out := make([][]byte, 0, l.n)
	for _, v := range l.each(0, false) {
		out = append(out, v)
	}
	return out
}

// set replaces the i-th element with a copy of v.
func (l *list) set(i int, v []byte) {
	ch, j := l.find(i)
	if ch.rev {
		j = ch.len() - 1 - j
	}
	if len(ch.data)+len(v) > max(chunkBytes, cap(ch.data)) {
		l.repack(ch, len(v)) // or sets in place would grow the buffer without end
	}
	s := &ch.slots[ch.lo+j]
	l.bytes += int64(len(v)) - int64(s.n)
	before := ch.cost()
	s.off, s.n = uint32(len(ch.data)), uint32(len(v))
	ch.data = append(ch.data, v...)
	l.mem += ch.cost() - before
}

// live is the bytes of the chunk's elements.
func (ch *chunk) live() int {
	n := 0
	for _, s := range ch.slots[ch.lo:] {
		n += int(s.n)
	}
	return n
}

// replace sets the elements to copies of items (which may be views of l).
func (l *list) replace(items [][]byte) {
	var fresh list
	for _, v := range items {
		fresh.pushBack(v)
	}
	*l = fresh
}

func (l *list) memSize() int64 { return l.mem + int64(cap(l.chunks))*8 }

func (l *list) clone() any {
	cp := &list{}
	cp.replace(l.slice())
	return cp
}

// hash keeps its fields in insertion order, as Redis's listpack encoding does for
// small hashes, so HGETALL answers in the same order as Redis.
type hash struct {
	fields []hfield
	idx    map[string]int
	dead   int
	bytes  int64
	big    bool // would be a hashtable in Redis (it never converts back)
}

type hfield struct {
	name string
	val  []byte
	live bool
}

func newHash() *hash { return &hash{idx: make(map[string]int)} }

func (h *hash) len() int { return len(h.idx) }

func (h *hash) get(f []byte) ([]byte, bool) {
	i, ok := h.idx[string(f)]
	if !ok {
		return nil, false
	}
	return h.fields[i].val, true
}

// set stores f=v and reports whether f is new.
func (h *hash) set(f, v []byte) bool {
	if len(f) > hashMaxListpackValue || len(v) > hashMaxListpackValue {
		h.big = true
	}
	if i, ok := h.idx[string(f)]; ok {
		old := h.fields[i].val
		h.bytes += int64(len(v) - len(old))
		if cap(old) >= len(v) && cap(old) <= 2*len(v)+16 {
			h.fields[i].val = append(old[:0], v...) // overwrite in place: no allocation
		} else {
			h.fields[i].val = append([]byte(nil), v...)
		}
		return false
	}
	val := append([]byte(nil), v...)
	h.idx[string(f)] = len(h.fields)
	h.fields = append(h.fields, hfield{name: string(f), val: val, live: true})
	h.bytes += int64(len(f) + len(v))
	if len(h.idx) > hashMaxListpackEntries {
		h.big = true
	}
	return true
}

func (h *hash) del(f []byte) bool {
	i, ok := h.idx[string(f)]
	if !ok {
		return false
	}
	delete(h.idx, string(f))
	h.bytes -= int64(len(h.fields[i].name) + len(h.fields[i].val))
	h.fields[i] = hfield{}
	h.dead++
	if h.dead > 16 && h.dead > len(h.fields)/2 {
		live := h.fields[:0]
		for _, fv := range h.fields {
			if fv.live {
				h.idx[fv.name] = len(live)
				live = append(live, fv)
			}
		}
		clear(h.fields[len(live):])
		h.fields, h.dead = live, 0
	}
	return true
}

// each calls f for every field in order.
func (h *hash) each(f func(name string, val []byte)) {
	for _, fv := range h.fields {
		if fv.live {
			f(fv.name, fv.val)
		}
	}
}

func (h *hash) encoding() string {
	if h.big {
		return "hashtable"
	}
	return "listpack"
}

func (h *hash) memSize() int64 { return h.bytes + int64(len(h.fields))*64 }

func (h *hash) clone() any {
	cp := newHash()
	h.each(func(n string, v []byte) { cp.set([]byte(n), v) })
	cp.big = h.big
	return cp
}

// set is a set of members. While every member is an integer and there are at most
// 512, Redis keeps an intset, which lists its members in numeric order; isInt
// follows that so SMEMBERS answers in Redis's order.
type set struct {
	m     map[string]struct{}
	isInt bool
	bytes int64
}

func newSet() *set { return &set{m: make(map[string]struct{}), isInt: true} }

func (s *set) add(v []byte) bool {
	if _, ok := s.m[string(v)]; ok {
		return false
	}
	s.m[string(v)] = struct{}{}
	s.bytes += int64(len(v))
	if s.isInt {
		if _, ok := parseInt(v); !ok || len(s.m) > 512 {
			s.isInt = false
		}
	}
	return true
}

func (s *set) has(v []byte) bool { _, ok := s.m[string(v)]; return ok }

func (s *set) rem(v []byte) bool {
	if _, ok := s.m[string(v)]; !ok {
		return false
	}
	delete(s.m, string(v))
	s.bytes -= int64(len(v))
	return true
}

// members returns the members, in numeric order for an intset.
func (s *set) members() []string {
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	if s.isInt {
		sort.Slice(out, func(i, j int) bool {
			a, _ := strconv.ParseInt(out[i], 10, 64)
			b, _ := strconv.ParseInt(out[j], 10, 64)
			return a < b
		})
	}
	return out
}

func (s *set) random() string {
	n := rand.IntN(len(s.m))
	for k := range s.m {
		if n == 0 {
			return k
		}
		n--
	}
	return ""
}

func (s *set) encoding() string {
	if s.isInt {
		return "intset"
	}
	return "hashtable"
}

func (s *set) memSize() int64 { return s.bytes + int64(len(s.m))*48 }

func (s *set) clone() any {
	cp := newSet()
	for k := range s.m {
		cp.add([]byte(k))
	}
	return cp
}
