package cache

import (
	"math/rand/v2"
	"sort"
	"strconv"
)

// list is a deque of elements: pushes and pops at both ends are O(1) amortised.
type list struct {
	items [][]byte // elements are items[head:]
	head  int
	bytes int64
}

func (l *list) len() int { return len(l.items) - l.head }

func (l *list) at(i int) []byte { return l.items[l.head+i] }

func (l *list) pushBack(v []byte) {
	l.items = append(l.items, v)
	l.bytes += int64(len(v))
}

// pushFront makes room at the front, when there is none, for as many elements
// as the list holds: within the slice when its spare capacity at the back allows
// (a queue fed at the front and drained at the back), else in a slice twice as
// long. Either way a push costs O(1) amortised, and a list grown by LPUSH alone
// allocates about two slots per element pushed.
func (l *list) pushFront(v []byte) {
	if l.head == 0 {
		n := len(l.items)
		room := n + 8
		if cap(l.items)-n >= 2*room {
			l.items = l.items[:room+n]
			copy(l.items[room:], l.items[:n])
			clear(l.items[:room])
		} else {
			grown := make([][]byte, room+n, room+n+n/4+8)
			copy(grown[room:], l.items)
			l.items = grown
		}
		l.head = room
	}
	l.head--
	l.items[l.head] = v
	l.bytes += int64(len(v))
}

func (l *list) popFront() []byte {
	v := l.items[l.head]
	l.items[l.head] = nil
	l.head++
	l.bytes -= int64(len(v))
	// Give back the dead front once it is three times what lives: not sooner,
	// or the room pushFront just made would be taken away again.
	if l.head > 64 && l.head > 3*l.len() {
		l.items = append(l.items[:0:0], l.items[l.head:]...)
		l.head = 0
	}
	return v
}

func (l *list) popBack() []byte {
	v := l.items[len(l.items)-1]
	l.items[len(l.items)-1] = nil
	l.items = l.items[:len(l.items)-1]
	l.bytes -= int64(len(v))
	if n := l.len(); cap(l.items) > 64 && 4*n < cap(l.items) {
		l.items = append(make([][]byte, 0, 2*n), l.items[l.head:]...)
		l.head = 0
	}
	return v
}

// slice returns the elements as one slice; changing it changes the list.
func (l *list) slice() [][]byte { return l.items[l.head:] }

// replace sets the elements to items.
func (l *list) replace(items [][]byte) {
	l.items, l.head, l.bytes = items, 0, 0
	for _, v := range items {
		l.bytes += int64(len(v))
	}
}

func (l *list) memSize() int64 { return l.bytes + int64(cap(l.items))*24 }

func (l *list) clone() any {
	cp := &list{}
	for _, v := range l.slice() {
		cp.pushBack(append([]byte(nil), v...))
	}
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
	if len(f) > 64 || len(v) > 64 {
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
	if len(h.idx) > 128 {
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
