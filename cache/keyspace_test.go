package cache

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// An entry is paid for once per key: keep it within the 64-byte size class, so
// that with a 16-byte key and a 16-byte value it is one 96-byte allocation.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 64 {
		t.Fatalf("entry is %d bytes, want 64", n)
	}
}

// Every entry class gives back its key, and holds the value inline when the two fit.
func TestEntryKeyAndValue(t *testing.T) {
	ks := newKeyspace(1)
	sh := &ks.shards[0]
	for _, tc := range []struct {
		klen, vlen int
		class      uint8
		inline     bool
	}{
		{0, 0, 0, false},
		{0, 5, 1, true},
		{3, 0, 1, true}, // room for a value to grow into
		{16, 16, 2, true},
		{16, 17, 3, true},
		{100, 92, 7, true},
		{100, 93, 6, false}, // the key inline, the value apart
		{192, 1, 7, false},
		{193, 4, classBig, false},
		{1000, 1000, classBig, false},
	} {
		key := []byte(strings.Repeat("k", tc.klen))
		val := bytes.Repeat([]byte("v"), tc.vlen)
		e := ks.putString(sh, 0, key, val, 0, 0)
		if e.key() != string(key) || !bytes.Equal(e.str, val) {
			t.Errorf("%d/%d: key %q value %q", tc.klen, tc.vlen, e.key(), e.str)
		}
		if e.class != tc.class || e.strInline() != tc.inline {
			t.Errorf("%d/%d: class %d inline %v, want %d %v", tc.klen, tc.vlen, e.class, e.strInline(), tc.class, tc.inline)
		}
		// Growing the value past the room moves it out; the key stays.
		e.str = append(e.str, bytes.Repeat([]byte("w"), 300)...)
		sh.resize(key, e)
		if e.key() != string(key) || e.strInline() {
			t.Errorf("%d/%d: after growth key %q inline %v", tc.klen, tc.vlen, e.key(), e.strInline())
		}
		if got := sh.dbs[0].get(key); got != e {
			t.Errorf("%d/%d: lookup gives %p, want %p", tc.klen, tc.vlen, got, e)
		}
		ks.remove(sh, 0, e.key(), e)
	}
	if sh.used != 0 || sh.dbs[0].len() != 0 {
		t.Fatalf("after removing everything: used %d, keys %d", sh.used, sh.dbs[0].len())
	}
}

// dict against a Go map: random inserts, replacements and deletions, lookups of
// present and absent keys, iteration with deletion, growth and shrinking.
func TestDict(t *testing.T) {
	seed := maphash.MakeSeed()
	d := &dict{seed: seed}
	ref := map[string]*entry{}
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(k string) *entry { e, _ := newEntry([]byte(k), 0); return e }
	check := func(step int) {
		t.Helper()
		if d.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, d.len(), len(ref))
		}
		seen := 0
		for k, e := range d.all() {
			if ref[k] != e {
				t.Fatalf("step %d: iteration gives %q not in the reference", step, k)
			}
			seen++
		}
		if seen != len(ref) {
			t.Fatalf("step %d: iteration saw %d of %d", step, seen, len(ref))
		}
		n := 0
		for b := range d.buckets(d.dir, d.depth) {
			if b.used*5 > int32(len(b.slots))*4 || b.n > b.used {
				t.Fatalf("step %d: bucket of %d slots has %d used, %d live", step, len(b.slots), b.used, b.n)
			}
			n += int(b.n)
		}
		if n != d.len() {
			t.Fatalf("step %d: buckets hold %d, len %d", step, n, d.len())
		}
	}
	for step := range 60000 {
		// Phases: grow to about 5000 keys, churn, then shrink to nothing.
		k := fmt.Sprintf("key:%d", rng.IntN(8000))
		var op int
		switch {
		case step > 16000:
			op = 9
		case step > 20000:
			op = rng.IntN(10)
		default:
			op = rng.IntN(7)
		}
		switch {
		case op < 6:
			e := mk(k)
			old := d.set(e)
			if old != ref[k] {
				t.Fatalf("step %d: set %q replaced %p, want %p", step, k, old, ref[k])
			}
			ref[k] = e
		default:
			_, had := ref[k]
			if d.del([]byte(k)) != had {
				t.Fatalf("step %d: del %q reported %v", step, k, !had)
			}
			delete(ref, k)
		}
		if got := d.get([]byte(k)); got != ref[k] {
			t.Fatalf("step %d: get %q = %p, want %p", step, k, got, ref[k])
		}
		if step%997 == 0 {
			check(step)
		}
	}
	for k := range ref {
		d.del([]byte(k))
		delete(ref, k)
	}
	check(-1)
	if d.dir != nil {
		t.Fatalf("an empty dict keeps %d buckets", len(d.dir))
	}

	// Deleting every key while iterating visits each once.
	for i := range 1000 {
		k := fmt.Sprint(i)
		ref[k] = mk(k)
		d.set(ref[k])
	}
	n := 0
	for k := range d.all() {
		if !d.del([]byte(k)) {
			t.Fatalf("iteration gave %q twice or a deleted key", k)
		}
		n++
	}
	if n != 1000 || d.len() != 0 {
		t.Fatalf("deleting while iterating: %d visited, %d left", n, d.len())
	}

	// from visits every entry once from any start, over buckets of several depths.
	for i := range 3000 {
		d.set(mk(fmt.Sprint(i)))
	}
	for _, start := range []uint64{0, 7, 1 << 40, 1<<63 | 12345, ^uint64(0)} {
		seen := map[string]bool{}
		for e := range d.from(start) {
			if seen[e.key()] {
				t.Fatalf("from(%d) gave %q twice", start, e.key())
			}
			seen[e.key()] = true
		}
		if len(seen) != 3000 {
			t.Fatalf("from(%d) gave %d of 3000", start, len(seen))
		}
	}
	if d.depth < 3 {
		t.Fatalf("3000 keys in a directory of depth %d: buckets did not split", d.depth)
	}
}

// The memory accounted to a shard is the sum of its keys' and goes back to zero.
func TestAccounting(t *testing.T) {
	ks := newKeyspace(2)
	sh := &ks.shards[0]
	var keys [][]byte
	for i := range 500 {
		k := []byte(fmt.Sprintf("k%d", i))
		keys = append(keys, k)
		ks.putString(sh, i%2, k, bytes.Repeat([]byte("x"), i), int64(i%3), 0)
	}
	// Replace some, change the expiry of others, grow a few.
	for i := 0; i < 500; i += 7 {
		ks.putString(sh, i%2, keys[i], []byte("short"), 0, 0)
	}
	for i := 1; i < 500; i += 5 {
		e := sh.dbs[i%2].get(keys[i])
		sh.setExpire(i%2, e.key(), e, 0)
		e.str = append(e.str, make([]byte, 1000)...)
		sh.resize(keys[i], e)
	}
	var sum int64
	for db := range 2 {
		for _, e := range sh.dbs[db].all() {
			sum += e.accounted()
			if e.accounted() < e.memBytes() || e.accounted() > e.memBytes()+7 {
				t.Fatalf("%q accounted %d for %d bytes", e.key(), e.accounted(), e.memBytes())
			}
		}
	}
	if sum != sh.used {
		t.Fatalf("used %d, keys sum to %d", sh.used, sum)
	}
	for db := range 2 {
		for k, e := range sh.dbs[db].all() {
			ks.remove(sh, db, k, e)
		}
		if sh.vol[db].len() != 0 {
			t.Fatalf("db %d: %d volatile keys left", db, sh.vol[db].len())
		}
	}
	if sh.used != 0 {
		t.Fatalf("used %d after removing every key", sh.used)
	}
}

// The chunked list against a plain slice: pushes and pops at both ends, in phases
// that grow it at the front, use it as a stack and as a queue and drain it, with
// LSET's set now and then; at, each (both ways) and the popped views are checked
// as it goes, and its memory stays bounded by what it holds.
func TestListDeque(t *testing.T) {
	l := &list{}
	var ref [][]byte
	var popped [][2][]byte // views returned by pops, and what they must still read
	held := 0              // the bytes of ref's elements
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 30000 {
		v := []byte(fmt.Sprint(step))
		if step%97 == 0 {
			v = bytes.Repeat(v, 2000) // longer than a chunk's buffer
		}
		op := rng.IntN(5)
		switch {
		case step < 6000:
			op = []int{0, 0, 0, 1, 2}[rng.IntN(5)]
		case step < 12000: // a stack on a base of elements
			op = []int{1, 2}[rng.IntN(2)]
		case step > 24000:
			op = 2 + rng.IntN(2)
		}
		switch {
		case op == 0:
			l.pushFront(v)
			ref = append([][]byte{v}, ref...)
			held += len(v)
		case op == 1:
			l.pushBack(v)
			ref = append(ref, v)
			held += len(v)
		case len(ref) == 0:
		case op == 2:
			got := l.popBack()
			if !bytes.Equal(got, ref[len(ref)-1]) {
				t.Fatalf("step %d: popBack %q, want %q", step, got, ref[len(ref)-1])
			}
			popped = append(popped, [2][]byte{got, ref[len(ref)-1]})
			held -= len(got)
			ref = ref[:len(ref)-1]
		case op == 3:
			got := l.popFront()
			if !bytes.Equal(got, ref[0]) {
				t.Fatalf("step %d: popFront %q, want %q", step, got, ref[0])
			}
			popped = append(popped, [2][]byte{got, ref[0]})
			held -= len(got)
			ref = ref[1:]
		default:
			i := rng.IntN(len(ref))
			l.set(i, v)
			held += len(v) - len(ref[i])
			ref[i] = v
		}
		if l.len() != len(ref) {
			t.Fatalf("step %d: list of %d, want %d", step, l.len(), len(ref))
		}
		if len(ref) > 0 {
			i := rng.IntN(len(ref))
			if !bytes.Equal(l.at(i), ref[i]) {
				t.Fatalf("step %d: at(%d) = %q, want %q", step, i, l.at(i), ref[i])
			}
		}
		if m := l.memSize(); m > 2*int64(held)+160*int64(len(ref))+64<<10 {
			t.Fatalf("step %d: %d bytes of memory for %d elements of %d bytes", step, m, len(ref), held)
		}
		if step%500 == 0 || step > 29900 {
			checkListOrder(t, l, ref)
		}
	}
	for _, p := range popped {
		if !bytes.Equal(p[0], p[1]) {
			t.Fatalf("a popped element reads %q later, was %q", p[0], p[1])
		}
	}
}

// checkListOrder compares every element of l with ref, forwards and backwards
// from every tenth index.
func checkListOrder(t *testing.T, l *list, ref [][]byte) {
	t.Helper()
	if got := l.slice(); len(got) != len(ref) {
		t.Fatalf("slice: %d elements, want %d", len(got), len(ref))
	}
	for from := 0; from < len(ref); from += 1 + len(ref)/10 {
		want := from
		for i, v := range l.each(from, false) {
			if i != want || !bytes.Equal(v, ref[i]) {
				t.Fatalf("each(%d): element %d = %q, want %d = %q", from, i, v, want, ref[want])
			}
			want++
		}
		if want != len(ref) {
			t.Fatalf("each(%d) stopped at %d of %d", from, want, len(ref))
		}
		want = from
		for i, v := range l.each(from, true) {
			if i != want || !bytes.Equal(v, ref[i]) {
				t.Fatalf("each(%d, rev): element %d = %q, want %d = %q", from, i, v, want, ref[want])
			}
			want--
		}
		if want != -1 {
			t.Fatalf("each(%d, rev) stopped at %d", from, want)
		}
	}
}

// RANDOMKEY samples the tables from a random place: over 1000 keys, 300 calls see
// far more than one key per shard (what a walk from each table's start would give).
func TestRandomKeySpread(t *testing.T) {
	_, addr := startServer(t, Config{})
	r := dialRaw(t, addr)
	args := []string{"MSET"}
	for i := range 1000 {
		args = append(args, fmt.Sprint("k", i), "v")
	}
	if got := r.do(args...); got != "+OK\r\n" {
		t.Fatalf("MSET: %q", got)
	}
	seen := map[string]bool{}
	for range 300 {
		seen[r.do("RANDOMKEY")] = true
	}
	if len(seen) < 150 {
		t.Fatalf("300 RANDOMKEY calls gave %d distinct keys of 1000", len(seen))
	}
}

// A cycle that runs out of budget leaves the next one to start at the following
// shard: with a budget of zero each cycle does one shard, and nShards cycles reach
// every shard rather than shard 0 again and again.
func TestActiveExpiryTakesTurnsAcrossShards(t *testing.T) {
	ks := newKeyspace(1)
	for i := range ks.shards {
		for j := range 4 {
			ks.putString(&ks.shards[i], 0, []byte(fmt.Sprintf("s%d-%d", i, j)), []byte("v"), 1, 0)
		}
	}
	for range nShards {
		ks.activeExpire(2, 0)
	}
	for i := range ks.shards {
		if n := ks.shards[i].vol[0].len(); n != 0 {
			t.Fatalf("shard %d still holds %d expired keys after %d cycles", i, n, nShards)
		}
	}
}
