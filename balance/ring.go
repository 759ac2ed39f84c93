package balance

import (
	"cmp"
	"slices"
	"strconv"
)

// DefaultReplicas is the number of virtual nodes per unit of weight that NewRing uses when
// given zero: with 160 points a node's share of the ring has a standard deviation of about
// 1/√160 ≈ 8% of the mean, the trade ketama made between spread and memory.
const DefaultReplicas = 160

// maxRingPoints bounds the size of a ring whatever the weights: 1M points is 16 MiB.
const maxRingPoints = 1 << 20

// Ring is a consistent hash ring (Karger et al., 1997): each node is hashed to many points
// on a circle of 2^64 positions, its virtual nodes, and a key belongs to the first point at
// or after its own hash. A joining node takes over the arcs that end at its points, so only
// keys that now belong to it move; a leaving node hands its arcs to the points after them.
// Virtual nodes even out the arcs (one point per node would give shares that vary by a
// factor of several) and carry weights: a node of weight w has w times as many points.
type Ring struct {
	// The points' hashes, sorted, apart from their owners: Get's binary search then
	// touches 8 bytes a probe and half the cache lines (this showed in its profile).
	hashes []uint64
	owners []int32 // owners[i] owns hashes[i]; an index into names
	names  []string
}

type ringPoint struct {
	hash  uint64
	owner int32 // index into names
}

// NewRing builds a ring with replicas virtual nodes per unit of weight (DefaultReplicas if
// replicas <= 0). If the total would pass 2^20 points, every node's count is scaled down in
// proportion, so weights keep their ratios. The order of nodes does not matter.
func NewRing(nodes []Node, replicas int) *Ring {
	return newRing(nodes, replicas, maxRingPoints)
}

// newRing is NewRing with the cap on points as a parameter, for tests.
func newRing(nodes []Node, replicas int, maxPoints float64) *Ring {
	if replicas <= 0 {
		replicas = DefaultReplicas
	}
	// Counted in floating point, so that no weight can overflow the sums.
	total := 0.0
	for _, n := range nodes {
		total += float64(n.weight()) * float64(replicas)
	}
	scale := 1.0
	if total > maxPoints {
		scale = maxPoints / total
	}
	r := &Ring{names: make([]string, len(nodes))}
	var points []ringPoint
	for i, n := range nodes {
		r.names[i] = n.Name
		count := max(int(float64(n.weight())*float64(replicas)*scale), 1)
		for v := 0; v < count; v++ {
			h := Sum64(strconv.Itoa(v) + "-" + n.Name)
			points = append(points, ringPoint{hash: h, owner: int32(i)})
		}
	}
	// Ties between points (rare with 64 bits) are broken by name, so that the ring is
	// the same whatever the order of nodes.
	slices.SortFunc(points, func(a, b ringPoint) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(r.names[a.owner], r.names[b.owner])
	})
	r.hashes = make([]uint64, len(points))
	r.owners = make([]int32, len(points))
	for i, p := range points {
		r.hashes[i], r.owners[i] = p.hash, p.owner
	}
	return r
}

// Get implements Hash: a binary search for the first point at or after the key's hash.
func (r *Ring) Get(key string) string {
	if len(r.hashes) == 0 {
		return ""
	}
	h := Sum64(key)
	lo, hi := 0, len(r.hashes)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.hashes[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.hashes) {
		lo = 0 // past the last point: wrap around the circle
	}
	return r.names[r.owners[lo]]
}
