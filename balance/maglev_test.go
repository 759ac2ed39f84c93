package balance

import (
	"strings"
	"testing"
)

func TestMaglevTableFilledEvenly(t *testing.T) {
	for _, tc := range []struct{ nodes, size int }{
		{1, 7}, {3, 7}, {10, 0}, {13, 1009}, {100, 65537}, {6, 7},
	} {
		m := mustMaglev(nodeNames(tc.nodes), tc.size)
		want := tc.size
		if want == 0 {
			want = DefaultMaglevSize
		}
		if m.Size() != want || len(m.table) != want {
			t.Fatalf("%d nodes, size %d: Size %d, table %d slots", tc.nodes, tc.size, m.Size(), len(m.table))
		}
		count := make([]int, tc.nodes)
		for slot, owner := range m.table {
			if owner < 0 || int(owner) >= tc.nodes {
				t.Fatalf("%d nodes, size %d: slot %d holds %d", tc.nodes, want, slot, owner)
			}
			count[owner]++
		}
		// Turns give each node ⌊M/N⌋ or ⌈M/N⌉ slots.
		lo, hi := want/tc.nodes, (want+tc.nodes-1)/tc.nodes
		for i, c := range count {
			if c < lo || c > hi {
				t.Errorf("%d nodes, size %d: node %d owns %d slots, want %d..%d", tc.nodes, want, i, c, lo, hi)
			}
		}
	}
}

// TestMaglevPermutations checks the ground the table stands on: with a prime size, every
// node's sequence offset, offset+skip, ... visits every slot exactly once.
func TestMaglevPermutations(t *testing.T) {
	const m = 251
	for _, name := range nodeNames(20) {
		h := Sum64(name)
		offset, skip := h%m, mix64(h^prime2)%(m-1)+1
		seen := make([]bool, m)
		for j := uint64(0); j < m; j++ {
			seen[(offset+j*skip)%m] = true
		}
		for slot, ok := range seen {
			if !ok {
				t.Fatalf("%s: slot %d never visited (offset %d, skip %d)", name, slot, offset, skip)
			}
		}
	}
}

func TestMaglevSizeValidated(t *testing.T) {
	for _, tc := range []struct {
		nodes, size int
		err         string
	}{
		{3, 9, "not prime"},
		{3, 1, "must exceed"},
		{3, 3, "must exceed"},
		{10, 7, "must exceed"},
		{0, 1, "not prime"},
		{0, -5, "out of range"},
		{0, MaxMaglevSize + 1, "out of range"},
		{2, 65536, "not prime"},
	} {
		_, err := NewMaglev(nodeNames(tc.nodes), tc.size)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewMaglev(%d nodes, %d) = %v, want an error with %q", tc.nodes, tc.size, err, tc.err)
		}
	}
	if m, err := NewMaglev(nil, 0); err != nil || m.Get("k") != "" {
		t.Errorf("NewMaglev(nil, 0) = %v, %v; want an empty table", m, err)
	}
}
