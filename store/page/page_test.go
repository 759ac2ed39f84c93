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
		}
	}
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
