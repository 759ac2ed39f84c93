package balance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// An algorithm under test: how to build it over equal-weight nodes, and the bounds its
// defining properties are checked against.
type algorithm struct {
	name  string
	build func(names []string) Hash
	// moveJoin is the largest share of keys allowed to move when an 11th node joins 10,
	// as a multiple of the minimum 1/11; onlyToNew says every moved key must go to the
	// new node (and, on leaving, only the leaving node's keys move).
	moveJoin  float64
	onlyToNew bool
	// spread is the largest max/mean load allowed over 10 nodes and testKeys keys.
	spread float64
}

const testKeys = 100_000

// With 10k keys per node, counting noise alone has a standard deviation of 1%: the even
// algorithms are allowed 6% (several σ for the largest of ten), the ring with 160 virtual
// nodes per node 30% (each share varies by about 1/√160 ≈ 8%).
var algorithms = []algorithm{
	{"ring", func(n []string) Hash { return NewRing(nodesOf(n), 0) }, 1.5, true, 1.30},
	{"jump", func(n []string) Hash { return NewJump(n) }, 1.1, true, 1.06},
	{"rendezvous", func(n []string) Hash { return NewRendezvous(nodesOf(n)) }, 1.1, true, 1.06},
	{"maglev", func(n []string) Hash { return mustMaglev(n, 0) }, 1.2, false, 1.06},
}

func nodesOf(names []string) []Node {
	nodes := make([]Node, len(names))
	for i, n := range names {
		nodes[i] = Node{Name: n}
	}
	return nodes
}

func mustMaglev(names []string, size int) *Maglev {
	m, err := NewMaglev(names, size)
	if err != nil {
		panic(err)
	}
	return m
}

func nodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("10.0.%d.%d:6379", i/200, i%200+1)
	}
	return names
}

func keys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprintf("user:%d", i)
	}
	return k
}

// assign returns the node of every key.
func assign(h Hash, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = h.Get(k)
	}
	return out
}

// moved returns the share of keys whose node differs, and whether every moved key went
// to (or, read the other way, came from) node.
func moved(before, after []string, node string) (share float64, onlyNode bool) {
	n, onlyNode := 0, true
	for i := range before {
		if before[i] != after[i] {
			n++
			if after[i] != node && before[i] != node {
				onlyNode = false
			}
		}
	}
	return float64(n) / float64(len(before)), onlyNode
}

func TestJoinAndLeaveMoveFewKeys(t *testing.T) {
	ks := keys(testKeys)
	ten, eleven := nodeNames(10), nodeNames(11)
	for _, a := range algorithms {
		before := assign(a.build(ten), ks)
		after := assign(a.build(eleven), ks)
		share, only := moved(before, after, eleven[10])
		t.Logf("%s: join moves %.4f (minimum %.4f)", a.name, share, 1.0/11)
		if share < 0.8/11 || share > a.moveJoin/11 {
			t.Errorf("%s: joining moved %.4f of keys, want between 0.8/11 and %.2f/11", a.name, share, a.moveJoin)
		}
		if a.onlyToNew && !only {
			t.Errorf("%s: joining moved keys between old nodes", a.name)
		}
		// Leaving is the same change read backwards; the leaving node is the last, which
		// is the one node Jump can lose without moving others' keys.
		share, only = moved(after, before, eleven[10])
		if share > a.moveJoin/11 || (a.onlyToNew && !only) {
			t.Errorf("%s: leaving moved %.4f of keys (only the leaver's: %v)", a.name, share, only)
		}
	}
	// The baseline: modulo moves nearly all keys, N/(N+1) in expectation.
	share, _ := moved(assign(NewModulo(ten), ks), assign(NewModulo(eleven), ks), eleven[10])
	t.Logf("modulo: join moves %.4f", share)
	if share < 0.85 {
		t.Errorf("modulo: joining moved only %.4f of keys, want about 10/11", share)
	}
}

// TestLeaveFromMiddle removes a node other than the last: the order-free algorithms move
// only its keys, and Jump, whose buckets are numbered, moves many more.
func TestLeaveFromMiddle(t *testing.T) {
	ks := keys(testKeys)
	all := nodeNames(10)
	gone := all[3]
	rest := slices.Delete(slices.Clone(all), 3, 4)
	for _, a := range algorithms {
		share, only := moved(assign(a.build(all), ks), assign(a.build(rest), ks), gone)
		t.Logf("%s: removing node 3 of 10 moves %.4f", a.name, share)
		switch {
		case a.name == "jump":
			if share < 2.0/10 {
				t.Errorf("jump: removing a middle node moved only %.4f; the renumbering should move more", share)
			}
		case share > a.moveJoin/10:
			t.Errorf("%s: removing a node moved %.4f of keys, want at most %.2f/10", a.name, share, a.moveJoin)
		case a.onlyToNew && !only:
			t.Errorf("%s: removing a node moved other nodes' keys", a.name)
		}
	}
}

// spread returns max/mean of the keys per node, over nodes.
func spread(assigned []string, nodes []string) float64 {
	count := map[string]int{}
	for _, n := range assigned {
		count[n]++
	}
	top := 0
	for _, n := range nodes {
		top = max(top, count[n])
	}
	return float64(top) / (float64(len(assigned)) / float64(len(nodes)))
}

func TestLoadSpread(t *testing.T) {
	ks := keys(testKeys)
	names := nodeNames(10)
	for _, a := range algorithms {
		s := spread(assign(a.build(names), ks), names)
		t.Logf("%s: max/mean %.3f", a.name, s)
		if s > a.spread {
			t.Errorf("%s: max/mean load %.3f, want at most %.2f", a.name, s, a.spread)
		}
	}
	if s := spread(assign(NewModulo(names), ks), names); s > 1.06 {
		t.Errorf("modulo: max/mean load %.3f", s)
	}
}

// TestWeights checks that ring and rendezvous give each node a share proportional to its
// weight: within 3% (relative) for rendezvous, whose shares are exact in expectation, and
// 15% for the ring, whose shares vary with the placement of its points.
func TestWeights(t *testing.T) {
	nodes := []Node{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 0}} // e counts as 1
	ks := keys(testKeys)
	for _, tc := range []struct {
		name string
		h    Hash
		tol  float64
	}{
		{"ring", NewRing(nodes, 0), 0.15},
		{"rendezvous", NewRendezvous(nodes), 0.03},
	} {
		count := map[string]int{}
		for _, n := range assign(tc.h, ks) {
			count[n]++
		}
		for _, n := range nodes {
			want := float64(testKeys) * float64(n.weight()) / 11
			if got := float64(count[n.Name]); math.Abs(got-want) > tc.tol*want {
				t.Errorf("%s: node %s (weight %d) has %v keys, want %v ± %.0f%%", tc.name, n.Name, n.Weight, got, want, 100*tc.tol)
			}
		}
	}
}

// TestRendezvousWeightChangeMovesOnlyThatNode: raising one node's weight moves keys only
// to it, the property the logarithmic method gives.
func TestRendezvousWeightChangeMovesOnlyThatNode(t *testing.T) {
	ks := keys(testKeys)
	nodes := []Node{{"a", 2}, {"b", 2}, {"c", 2}, {"d", 2}}
	before := assign(NewRendezvous(nodes), ks)
	nodes[2].Weight = 4
	share, only := moved(before, assign(NewRendezvous(nodes), ks), "c")
	// c's share goes from 2/8 to 4/10: 0.15 of the keys move.
	if !only || math.Abs(share-0.15) > 0.01 {
		t.Fatalf("doubling c's weight moved %.4f of keys (only to c: %v), want 0.15 to c", share, only)
	}
}

func TestOrderDoesNotMatter(t *testing.T) {
	ks := keys(2000)
	names := nodeNames(20)
	shuffled := slices.Clone(names)
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, a := range algorithms {
		if a.name == "jump" {
			continue // numbered buckets: order is the point
		}
		if !slices.Equal(assign(a.build(names), ks), assign(a.build(shuffled), ks)) {
			t.Errorf("%s: the mapping depends on the order of nodes", a.name)
		}
	}
}

func TestNoNodes(t *testing.T) {
	for _, a := range algorithms {
		if got := a.build(nil).Get("k"); got != "" {
			t.Errorf("%s with no nodes: Get = %q, want \"\"", a.name, got)
		}
	}
	if got := NewModulo(nil).Get("k"); got != "" {
		t.Errorf("modulo with no nodes: Get = %q", got)
	}
	if got := NewRendezvous([]Node{{"x", 3}}).Get("k"); got != "x" {
		t.Errorf("rendezvous with one node: Get = %q", got)
	}
}

// TestGolden pins the hash and a few placements: every process, machine and release must
// agree on where a key lives, or a fleet of proxies would split a cache's keys.
func TestGolden(t *testing.T) {
	for s, want := range map[string]uint64{
		"":                           0xf490368aba8bfeac,
		"a":                          0xcf0a6793735879a8,
		"user:42":                    0x04788b584a11c69a,
		"a key of more than 8 bytes": 0xc4ab545a1ac9cc3c,
	} {
		if got := Sum64(s); got != want {
			t.Errorf("Sum64(%q) = %#x, want %#x", s, got, want)
		}
	}
	names := nodeNames(5) // 10.0.0.1:6379 ... 10.0.0.5:6379
	want := map[string][]string{
		"modulo":     {"10.0.0.1:6379", "10.0.0.3:6379", "10.0.0.1:6379", "10.0.0.2:6379"},
		"ring":       {"10.0.0.2:6379", "10.0.0.5:6379", "10.0.0.3:6379", "10.0.0.5:6379"},
		"jump":       {"10.0.0.3:6379", "10.0.0.2:6379", "10.0.0.5:6379", "10.0.0.2:6379"},
		"rendezvous": {"10.0.0.2:6379", "10.0.0.4:6379", "10.0.0.4:6379", "10.0.0.2:6379"},
		"maglev":     {"10.0.0.5:6379", "10.0.0.2:6379", "10.0.0.1:6379", "10.0.0.4:6379"},
	}
	hs := map[string]Hash{"modulo": NewModulo(names)}
	for _, a := range algorithms {
		hs[a.name] = a.build(names)
	}
	for name, h := range hs {
		if got := assign(h, []string{"alpha", "beta", "gamma", "delta"}); !slices.Equal(got, want[name]) {
			t.Errorf("%s: %q", name, got)
		}
	}
}

func TestSum64Spread(t *testing.T) {
	// Every output bit is set about half the time over sequential keys, and nearby keys
	// give no collisions.
	const n = 50_000
	var ones [64]int
	seen := make(map[uint64]bool, n)
	for i := 0; i < n; i++ {
		h := Sum64(fmt.Sprint(i))
		seen[h] = true
		for b := 0; b < 64; b++ {
			ones[b] += int(h >> b & 1)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d collisions in %d keys", n-len(seen), n)
	}
	for b, c := range ones {
		if math.Abs(float64(c)/n-0.5) > 0.01 {
			t.Errorf("bit %d set in %.3f of hashes", b, float64(c)/n)
		}
	}
}

// TestConcurrentGet runs lookups from several goroutines at once (under -race): built
// once, every Hash is read-only.
func TestConcurrentGet(t *testing.T) {
	ks := keys(2000)
	names := nodeNames(10)
	for _, a := range algorithms {
		h := a.build(names)
		want := assign(h, ks)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := assign(h, ks); !slices.Equal(got, want) {
					t.Errorf("%s: concurrent lookups disagree", a.name)
				}
			}()
		}
		wg.Wait()
	}
}

// TestRendezvousPruningIsExact compares weighted Get, which skips logarithms that cannot
// win, with the plain definition: the highest -w/ln(u) over all nodes.
func TestRendezvousPruningIsExact(t *testing.T) {
	nodes := weightedNodes(50)
	r := NewRendezvous(nodes)
	for _, k := range keys(5000) {
		best, top := "", math.Inf(-1)
		for _, n := range nodes {
			u := (float64(mix64(Sum64(k)^r.hashes[slices.Index(r.names, n.Name)])>>11) + 0.5) / (1 << 53)
			if s := -float64(n.weight()) / math.Log(u); s > top {
				best, top = n.Name, s
			}
		}
		if got := r.Get(k); got != best {
			t.Fatalf("Get(%q) = %q, want %q", k, got, best)
		}
	}
}

// weightedNodes returns n nodes with weights 1, 2, 3, 1, 2, 3, ...
func weightedNodes(n int) []Node {
	nodes := nodesOf(nodeNames(n))
	for i := range nodes {
		nodes[i].Weight = 1 + i%3
	}
	return nodes
}
