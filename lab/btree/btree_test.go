package btree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPropertyMatchesSortedMap runs random puts (new keys and overwrites, values of every
// size up to the limit), gets and scans against a map whose keys are sorted for each scan,
// with small pages so that the tree grows several levels.
func TestPropertyMatchesSortedMap(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			tr, err := New(1024)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			var sorted []string // want's keys in order
			randKey := func() []byte {
				return fmt.Appendf(nil, "%0*d", 1+rng.IntN(12), rng.IntN(3000))
			}
			for op := range 2000 {
				switch r := rng.IntN(10); {
				case r < 6:
					k := randKey()
					v := bytes.Repeat([]byte{byte('a' + op%26)}, rng.IntN(tr.MaxEntry()-len(k)+1))
					if err := tr.Put(k, v); err != nil {
						t.Fatal(err)
					}
					if _, ok := want[string(k)]; !ok {
						i, _ := slices.BinarySearch(sorted, string(k))
						sorted = slices.Insert(sorted, i, string(k))
					}
					want[string(k)] = string(v)
				case r < 8:
					k := randKey()
					v, pages, ok := tr.Get(k)
					w, wok := want[string(k)]
					if ok != wok || string(v) != w {
						t.Fatalf("op %d: Get(%q) = %q, %v; want %q, %v", op, k, v, ok, w, wok)
					}
					if h := height(tr); (pages < 1 && h > 0) || pages > h {
						t.Fatalf("op %d: Get touched %d pages in a tree of height %d", op, pages, h)
					}
				default:
					from, limit := randKey(), rng.IntN(200)
					if rng.IntN(5) == 0 {
						from = nil
					}
					var got []string
					st := tr.Scan(from, limit, func(k, v []byte) bool {
						got = append(got, string(k)+"="+string(v))
						return true
					})
					i, _ := slices.BinarySearch(sorted, string(from))
					var exp []string
					for _, k := range sorted[i:min(i+limit, len(sorted))] {
						exp = append(exp, k+"="+want[k])
					}
					if !slices.Equal(got, exp) {
						t.Fatalf("op %d: Scan(%q, %d) returned %d entries, want %d:\n%v\n%v", op, from, limit, len(got), len(exp), got, exp)
					}
					if st.Entries != len(got) || (len(got) > 0 && (st.Pages < 1 || st.Visits < st.Pages)) {
						t.Fatalf("op %d: scan stats %+v for %d entries", op, st, len(got))
					}
				}
			}
			if err := tr.Check(); err != nil {
				t.Fatal(err)
			}
			if tr.Len() != len(want) {
				t.Fatalf("Len %d, want %d", tr.Len(), len(want))
			}
			if h := height(tr); h < 3 { // else the walk never climbs through an internal level
				t.Fatalf("height %d", h)
			}
		})
	}
}

// TestPageAccounting checks the counts against the tree's shape: a full scan enters every
// page once as distinct pages, and a lookup touches the depth of the node holding its key.
func TestPageAccounting(t *testing.T) {
	tr, _ := New(4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, i := range rng.Perm(20000) {
		if err := tr.Put(fmt.Appendf(nil, "key-%011d", i), make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	s := tr.Shape()
	if s.Height < 3 || s.InternalEntries+s.LeafEntries != tr.Len() || s.InternalPages+s.LeafPages != s.Pages {
		t.Fatalf("shape %+v for %d entries", s, tr.Len())
	}
	if s.UsedBytes > s.Pages*4096 || s.UsedBytes < s.Pages*4096/4 {
		t.Fatalf("%d bytes used in %d pages", s.UsedBytes, s.Pages)
	}
	// Every page but the root is some internal node's child.
	if f := s.Fanout(); f != float64(s.Pages-1)/float64(s.InternalPages) || f < 2 {
		t.Fatalf("fanout %.2f", f)
	}
	all := tr.Scan(nil, tr.Len(), func(k, v []byte) bool { return true })
	if all.Entries != tr.Len() || all.Pages != s.Pages {
		t.Fatalf("full scan: %+v, want %d entries and %d pages", all, tr.Len(), s.Pages)
	}
	// One page held: a node is entered once from its parent and once more after each child,
	// except after the children on the rightmost path, where the scan ends.
	if want := s.Pages + (s.Pages - 1) - (s.Height - 1); all.Visits != want {
		t.Fatalf("full scan: %d visits, want %d", all.Visits, want)
	}
	// Lookups: a key in a leaf costs the height; some keys live higher and cost less.
	byDepth := map[int]int{}
	for i := range 20000 {
		_, pages, ok := tr.Get(fmt.Appendf(nil, "key-%011d", i))
		if !ok {
			t.Fatalf("key %d missing", i)
		}
		byDepth[pages]++
	}
	if byDepth[s.Height] != s.LeafEntries || byDepth[s.Height]+byDepth[s.Height-1]+byDepth[1] > 20000 {
		t.Fatalf("lookups by pages touched %v; %d leaf entries", byDepth, s.LeafEntries)
	}
	if _, pages, ok := tr.Get([]byte("absent")); ok || pages != s.Height {
		t.Fatalf("missing key: %d pages, found %v", pages, ok)
	}
	// A short scan starting in a leaf stays near the bottom of the tree.
	st := tr.Scan([]byte("key-00000010000"), 100, func(k, v []byte) bool { return true })
	if st.Entries != 100 || st.Pages > s.Height+100 || st.Pages < s.Height {
		t.Fatalf("scan of 100: %+v", st)
	}
}

func TestScanStopsEarly(t *testing.T) {
	tr, _ := New(1024)
	for i := range 500 {
		tr.Put(fmt.Appendf(nil, "%04d", i), []byte("v"))
	}
	n := 0
	st := tr.Scan([]byte("0100"), 1000, func(k, v []byte) bool {
		n++
		return string(k) < "0109"
	})
	if n != 10 || st.Entries != 10 {
		t.Fatalf("callback ran %d times, %d entries, want 10", n, st.Entries)
	}
	if st := tr.Scan([]byte("9"), 10, func(k, v []byte) bool { return true }); st.Entries != 0 {
		t.Fatalf("scan past the end: %+v", st)
	}
	if st := tr.Scan(nil, 0, func(k, v []byte) bool { return true }); st != (ScanStats{}) {
		t.Fatalf("scan of 0: %+v", st)
	}
}

func TestPutErrors(t *testing.T) {
	if _, err := New(3000); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("New(3000): %v", err)
	}
	if _, err := New(512); err == nil {
		t.Error("New(512) accepted")
	}
	tr, _ := New(4096)
	if err := tr.Put(nil, []byte("v")); !errors.Is(err, ErrKeyEmpty) {
		t.Errorf("empty key: %v", err)
	}
	if err := tr.Put([]byte("k"), make([]byte, tr.MaxEntry())); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if err := tr.Put([]byte("k"), make([]byte, tr.MaxEntry()-1)); err != nil {
		t.Errorf("largest entry: %v", err)
	}
	// (4096-32)/4 = 1016 bytes of cell, child pointer and fixed fields included.
	if got := tr.MaxEntry(); got != 1016-9-4 {
		t.Errorf("MaxEntry = %d", got)
	}
	// 4064 bytes of cells: 16+100+9 = 125 bytes per leaf entry, 129 in an internal node.
	if in, leaf := tr.Capacity(16, 100); in != 4064/129 || leaf != 4064/125 {
		t.Errorf("Capacity(16, 100) = %d, %d", in, leaf)
	}
	if _, _, ok := (&Tree{pageSize: 4096}).Get([]byte("k")); ok {
		t.Error("Get on an empty tree found a key")
	}
}

// TestOverwriteGrowsAndSplits overwrites small values with large ones, which must split
// nodes that were not full when the keys went in.
func TestOverwriteGrowsAndSplits(t *testing.T) {
	tr, _ := New(1024)
	for i := range 300 {
		tr.Put(fmt.Appendf(nil, "%04d", i), []byte("v"))
	}
	before := tr.Shape().Pages
	big := bytes.Repeat([]byte("x"), tr.MaxEntry()-4)
	for i := range 300 {
		if err := tr.Put(fmt.Appendf(nil, "%04d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	if after := tr.Shape().Pages; after <= before || tr.Len() != 300 {
		t.Fatalf("%d pages before, %d after; %d entries", before, after, tr.Len())
	}
	v, _, ok := tr.Get([]byte("0123"))
	if !ok || !bytes.Equal(v, big) {
		t.Fatal("overwritten value lost")
	}
}

// height counts the levels down the leftmost path.
func height(t *Tree) int {
	h := 0
	for n := t.root; n != nil; h++ {
		if n.leaf() {
			return h + 1
		}
		n = n.children[0]
	}
	return h
}
