package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func sampleLeaf() *Node {
	return &Node{Type: TypeLeaf, Pgno: 7, LSN: 42, Next: 8, Prev: 6,
		Keys: [][]byte{[]byte("a"), []byte("bb"), []byte("c")},
		Vals: []Value{{Inline: []byte("1"), Len: 1}, {Ovfl: 9, Len: 10000}, {Inline: []byte{}, Len: 0}}}
}

func TestRoundTrip(t *testing.T) {
	nodes := []*Node{
		sampleLeaf(),
		{Type: TypeBranch, Pgno: 3, LSN: 1, Keys: [][]byte{[]byte("m"), []byte("t")}, Children: []uint32{4, 5, 6}},
		{Type: TypeOverflow, Pgno: 9, Next: 10, Data: bytes.Repeat([]byte("z"), 100)},
		{Type: TypeFree, Pgno: 11, Next: 12},
	}
	for _, n := range nodes {
		p := make([]byte, 4096)
		if err := n.Encode(p); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(p, n.Pgno)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != n.Type || got.LSN != n.LSN || got.Next != n.Next || got.Prev != n.Prev || len(got.Keys) != len(n.Keys) || !bytes.Equal(got.Data, n.Data) {
			t.Fatalf("type %d: decoded %+v, want %+v", n.Type, got, n)
		}
		for i := range n.Keys {
			if !bytes.Equal(got.Keys[i], n.Keys[i]) {
				t.Fatalf("key %d = %q", i, got.Keys[i])
			}
		}
		for i := range n.Vals {
			if !bytes.Equal(got.Vals[i].Inline, n.Vals[i].Inline) || got.Vals[i].Ovfl != n.Vals[i].Ovfl || got.Vals[i].Len != n.Vals[i].Len {
				t.Fatalf("value %d = %+v", i, got.Vals[i])
			}
		}
		for i := range n.Children {
			if got.Children[i] != n.Children[i] {
				t.Fatalf("child %d = %d", i, got.Children[i])
			}
		}
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	p := make([]byte, 4096)
	sampleLeaf().Encode(p)
	p[4000] ^= 1
	_, err := Decode(p, 7)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Pgno != 7 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped bit: %v, want a CorruptError for page 7", err)
	}
	p[4000] ^= 1
	if _, err := Decode(p, 8); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("misdirected page: %v", err)
	}
	if _, err := Decode(make([]byte, 4096), 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zero page: %v", err)
	}
}

func TestMeta(t *testing.T) {
	p := make([]byte, 4096)
	m := Meta{PageSize: 4096, Root: 1, PageCount: 2, TxID: 5, LSN: 9, NextBucket: 3}
	m.Encode(p)
	got, err := DecodeMeta(p)
	if err != nil || got != m {
		t.Fatalf("DecodeMeta = %+v, %v; want %+v", got, err, m)
	}
	if _, err := DecodeMeta(bytes.Repeat([]byte("SQLite format 3\x00"), 256)); !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("foreign file: %v", err)
	}
	q := append([]byte(nil), p...)
	q[HeaderSize+8] = 99
	if _, err := DecodeMeta(q); !errors.Is(err, ErrVersion) {
		t.Fatalf("other version: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	p := make([]byte, 1024)
	sampleLeaf().Encode(p)
	f.Add(p, uint32(7))
	q := make([]byte, 1024)
	(&Node{Type: TypeBranch, Pgno: 3, Keys: [][]byte{[]byte("m")}, Children: []uint32{4, 5}}).Encode(q)
	f.Add(q, uint32(3))
	f.Add(make([]byte, 40), uint32(0))
	f.Fuzz(func(t *testing.T, p []byte, pgno uint32) {
		// Reseal so that the fuzzer reaches the structure checks past the checksum.
		if len(p) >= HeaderSize {
			Seal(p, LSN(p))
		}
		n, err := Decode(p, pgno)
		if err != nil {
			return
		}
		checkRaw(t, n)
		if n.Type == TypeLeaf || n.Type == TypeBranch || n.Type == TypeOverflow {
			out := make([]byte, max(len(p), n.Size()))
			if err := n.Encode(out); err != nil {
				t.Fatalf("re-encode of a decoded page: %v", err)
			}
		}
		DecodeMeta(p)
	})
}

// checkRaw holds the readers' accessors of a checked page to what Decode made of it.
func checkRaw(t *testing.T, n *Node) {
	t.Helper()
	switch n.Type {
	case TypeLeaf:
		if c := len(n.Keys); c > 0 && len(n.Keys[0]) >= 4 && len(n.Keys[c-1]) >= 4 {
			if !n.Bkts || n.FirstBkt != binary.BigEndian.Uint32(n.Keys[0]) || n.LastBkt != binary.BigEndian.Uint32(n.Keys[c-1]) {
				t.Fatalf("buckets %v %08x %08x, keys %q ... %q", n.Bkts, n.FirstBkt, n.LastBkt, n.Keys[0], n.Keys[c-1])
			}
		} else if n.Bkts {
			t.Fatalf("buckets set for keys %q", n.Keys)
		}
		for i, k := range n.Keys {
			if got := RawLeafKey(n.Raw, i); !bytes.Equal(got, k) {
				t.Fatalf("RawLeafKey(%d) = %q, Decode %q", i, got, k)
			}
			if got, _ := RawLeafEntry(n.Raw, i); !bytes.Equal(got, k) {
				t.Fatalf("RawLeafEntry(%d) key = %q, Decode %q", i, got, k)
			}
			ek, ev, inline := n.Entry(i)
			if !bytes.Equal(ek, k) || inline != (n.Vals[i].Ovfl == 0) || (inline && !bytes.Equal(ev, n.Vals[i].Inline)) {
				t.Fatalf("Entry(%d) = %q, %q, %v; Decode %q, %+v", i, ek, ev, inline, k, n.Vals[i])
			}
			got, want := RawLeafValue(n.Raw, i), n.Vals[i]
			if !bytes.Equal(got.Inline, want.Inline) || got.Ovfl != want.Ovfl || got.Len != want.Len {
				t.Fatalf("RawLeafValue(%d) = %+v, Decode %+v", i, got, want)
			}
		}
	case TypeBranch:
		for i, k := range n.Keys {
			if got := RawBranchKey(n.Raw, i); !bytes.Equal(got, k) {
				t.Fatalf("RawBranchKey(%d) = %q, Decode %q", i, got, k)
			}
		}
		for i, c := range n.Children {
			if got := RawBranchChild(n.Raw, i); got != c {
				t.Fatalf("RawBranchChild(%d) = %d, Decode %d", i, got, c)
			}
			if got := n.Child(i); got != c {
				t.Fatalf("Child(%d) = %d, Decode %d", i, got, c)
			}
		}
	}
	if n.Type == TypeLeaf || n.Type == TypeBranch {
		if n.Count() != len(n.Keys) {
			t.Fatalf("Count() = %d, %d keys", n.Count(), len(n.Keys))
		}
		checkSearch(t, n)
	}
}

// checkSearch holds Search to a plain comparison of keys, for every key of a sorted node
// and keys just around each: shorter, longer, a byte more and less, zero bytes at the end.
// (A damaged page's keys need not be sorted; Search must then only not crash.)
func checkSearch(t *testing.T, n *Node) {
	t.Helper()
	probes := [][]byte{nil, {0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for i, k := range n.Keys {
		if i > 0 && bytes.Compare(n.Keys[i-1], k) >= 0 {
			for _, k := range append(probes, n.Keys...) {
				n.Search(k)
			}
			return
		}
		probes = append(probes, k, append(bytes.Clone(k), 0), append(bytes.Clone(k), 0, 0, 1))
		for j := range k {
			probes = append(probes, k[:j])
			for _, d := range []int{-1, 1} {
				q := bytes.Clone(k)
				q[j] = byte(int(q[j]) + d)
				probes = append(probes, q, q[:j+1])
			}
		}
	}
	for _, k := range probes {
		want := 0
		for want < len(n.Keys) && bytes.Compare(n.Keys[want], k) < 0 {
			want++
		}
		eq := want < len(n.Keys) && bytes.Equal(n.Keys[want], k)
		if got, gotEq := n.Search(k); got != want || gotEq != eq {
			t.Fatalf("Search(%q) = %d, %v; want %d, %v (prefix %d, keys %q)", k, got, gotEq, want, eq, n.Plen, n.Keys)
		}
	}
}

// TestSearchHeads searches nodes whose keys share long prefixes, differ only past their
// heads, or only by length and trailing zero bytes: the cases where heads tie.
func TestSearchHeads(t *testing.T) {
	long := func(mid string, tail ...string) [][]byte {
		var ks [][]byte
		for _, s := range tail {
			ks = append(ks, []byte("pre/"+mid+s))
		}
		return ks
	}
	sets := map[string][][]byte{
		"one key":           {[]byte("k")},
		"no shared prefix":  {[]byte("a"), []byte("b\x00"), []byte("m"), []byte("zz")},
		"ties past heads":   long("0123456789abcdef", "", "a", "b", "b\x00", "c", "c\x00\x00", "d"),
		"trailing zeros":    long("", "", "\x00", "\x00\x00", "\x00\x00\x00\x01", "\x01", "\x01\x00"),
		"whole heads":       long("", "aaaaaaa", "aaaaaaaa", "aaaaaaaa\x00", "aaaaaaab", "b"),
		"bucket and number": bucketKeys(1, 1000, 1031),
		"all equal heads":   long("xxxxxxxxxxxxxxxxxxxxxxxx", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
	}
	for name, keys := range sets {
		t.Run(name, func(t *testing.T) {
			leaf := &Node{Type: TypeLeaf, Pgno: 1}
			for _, k := range keys {
				leaf.Keys = append(leaf.Keys, k)
				leaf.Vals = append(leaf.Vals, Value{Inline: []byte("v"), Len: 1})
			}
			br := &Node{Type: TypeBranch, Pgno: 2, Keys: keys, Children: make([]uint32, len(keys)+1)}
			for i := range br.Children {
				br.Children[i] = uint32(100 + i)
			}
			for _, n := range []*Node{leaf, br} {
				p := make([]byte, 4096)
				if err := n.Encode(p); err != nil {
					t.Fatal(err)
				}
				d, err := Decode(p, n.Pgno)
				if err != nil {
					t.Fatal(err)
				}
				checkRaw(t, d)
			}
		})
	}
}

// bucketKeys returns tree keys as the store makes them: a 4-byte bucket, then 16-byte keys
// holding the numbers from lo to hi-1 in their last 8 bytes.
func bucketKeys(bucket uint32, lo, hi uint64) [][]byte {
	var ks [][]byte
	for i := lo; i < hi; i++ {
		k := make([]byte, 20)
		binary.BigEndian.PutUint32(k, bucket)
		binary.BigEndian.PutUint64(k[12:], i)
		ks = append(ks, k)
	}
	return ks
}

func TestRawAccessors(t *testing.T) {
	p := make([]byte, 1024)
	leaf := sampleLeaf()
	if err := leaf.Encode(p); err != nil {
		t.Fatal(err)
	}
	n, err := Decode(p, leaf.Pgno)
	if err != nil {
		t.Fatal(err)
	}
	checkRaw(t, n)
	q := make([]byte, 1024)
	br := &Node{Type: TypeBranch, Pgno: 3, Keys: [][]byte{[]byte("f"), []byte("m")}, Children: []uint32{4, 5, 9}}
	if err := br.Encode(q); err != nil {
		t.Fatal(err)
	}
	if n, err = Decode(q, 3); err != nil {
		t.Fatal(err)
	}
	checkRaw(t, n)
	if got := RawBranchChild(q, 2); got != 9 {
		t.Fatalf("RawBranchChild(2) = %d, want 9", got)
	}
}
