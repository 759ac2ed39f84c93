package balance

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestRingPoints(t *testing.T) {
	// The cap is 4096 points here, 2^20 in NewRing.
	for _, tc := range []struct {
		name     string
		nodes    []Node
		replicas int
		want     int
	}{
		{"default replicas", nodesOf(nodeNames(3)), 0, 3 * DefaultReplicas},
		{"weights multiply", []Node{{"a", 1}, {"b", 3}, {"c", -2}}, 10, 50},
		// Past the cap, every node is scaled down in proportion.
		{"capped", []Node{{"a", 1 << 20}, {"b", 1 << 20}}, 100, 4096},
		{"capped keeps ratios", []Node{{"a", 1000}, {"b", 3000}}, 100, 4096},
		{"huge weights do not overflow", []Node{{"a", math.MaxInt}, {"b", math.MaxInt}}, 1000, 4096},
	} {
		r := newRing(tc.nodes, tc.replicas, 4096) // a small cap, to test it cheaply
		if len(r.hashes) != tc.want || len(r.owners) != tc.want {
			t.Errorf("%s: %d points, want %d", tc.name, len(r.hashes), tc.want)
		}
		for i := 1; i < len(r.hashes); i++ {
			if r.hashes[i-1] > r.hashes[i] {
				t.Fatalf("%s: points out of order at %d", tc.name, i)
			}
		}
		// Each node holds points in proportion to its weight (to within the rounding
		// down of each count).
		count := make([]int, len(tc.nodes))
		for _, o := range r.owners {
			count[o]++
		}
		for i, n := range tc.nodes {
			share := float64(n.weight()) / totalWeight(tc.nodes)
			if want := share * float64(len(r.hashes)); math.Abs(float64(count[i])-want) > 1 {
				t.Errorf("%s: node %s has %d points, want %.1f", tc.name, n.Name, count[i], want)
			}
		}
	}
}

func totalWeight(nodes []Node) float64 {
	var t float64
	for _, n := range nodes {
		t += float64(n.weight())
	}
	return t
}

// TestRingWrapsAround checks the seam of the circle: a key hashed past the last point
// belongs to the first one.
func TestRingWrapsAround(t *testing.T) {
	r := NewRing([]Node{{"a", 1}, {"b", 1}}, 1)
	last := r.hashes[len(r.hashes)-1]
	first := r.names[r.owners[0]]
	for i := 0; i < 100_000; i++ {
		k := fmt.Sprint("wrap-", i)
		if h := Sum64(k); h > last {
			if got := r.Get(k); got != first {
				t.Fatalf("key %q past the last point went to %q, want %q", k, got, first)
			}
			return
		}
	}
	t.Fatal("no key hashed past the last point")
}

// TestJumpGrowth checks jump's defining property over many sizes: growing from n to n+1
// buckets moves keys only into the new bucket, about 1/(n+1) of them.
func TestJumpGrowth(t *testing.T) {
	ks := keys(20_000)
	prev := make([]int, len(ks))
	for n := 2; n <= 64; n++ {
		moved := 0
		for i, k := range ks {
			b := jumpHash(Sum64(k), n)
			if b != prev[i] {
				if b != n-1 {
					t.Fatalf("n=%d: key %q moved from %d to %d, not to the new bucket", n, k, prev[i], b)
				}
				moved++
			}
			prev[i] = b
		}
		if share, want := float64(moved)/float64(len(ks)), 1/float64(n); share < 0.8*want || share > 1.2*want {
			t.Errorf("n=%d: %.4f of keys moved, want about %.4f", n, share, want)
		}
	}
}

// TestRingIndexMatchesFullSearch compares Get with a binary search over all the points,
// the definition, for rings of many sizes (including ones smaller than their index).
func TestRingIndexMatchesFullSearch(t *testing.T) {
	ks := keys(3000)
	for _, tc := range []struct{ nodes, replicas int }{{1, 1}, {2, 1}, {3, 5}, {10, 160}, {7, 33}} {
		r := NewRing(nodesOf(nodeNames(tc.nodes)), tc.replicas)
		for _, k := range ks {
			i, _ := slices.BinarySearch(r.hashes, Sum64(k))
			if i == len(r.hashes) {
				i = 0
			}
			if got, want := r.Get(k), r.names[r.owners[i]]; got != want {
				t.Fatalf("%d nodes × %d: Get(%q) = %q, want %q", tc.nodes, tc.replicas, k, got, want)
			}
		}
	}
}
