package balance

// Jump is jump consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash
// Algorithm", 2014). It needs no table at all: a short loop, driven by a pseudo-random
// sequence seeded with the key, computes the last bucket the key "jumped" to as the number
// of buckets grew from 1 to N. Growing from N to N+1 moves exactly the keys that the new
// bucket takes, 1/(N+1) of them, and the spread is as even as the hash.
//
// The catch is that buckets are numbered: nodes[i] is bucket i. Only the last node can
// leave without moving other nodes' keys; removing a node from the middle renumbers those
// after it and moves their keys too. Jump suits sets that grow and shrink at the end (shards
// of a store, replaced in place when one fails), not a pool of hosts that come and go at
// random. It takes no weights.
type Jump struct {
	nodes []string
}

// NewJump returns a Jump over nodes, in their order: bucket i is nodes[i].
func NewJump(nodes []string) *Jump {
	return &Jump{nodes: append([]string(nil), nodes...)}
}

// Get implements Hash.
func (j *Jump) Get(key string) string {
	if len(j.nodes) == 0 {
		return ""
	}
	return j.nodes[jumpHash(Sum64(key), len(j.nodes))]
}

// jumpHash returns the bucket in [0, n) of key. Each step draws the next bucket at which
// the key would jump again; the expected number of steps is ln n.
func jumpHash(key uint64, n int) int {
	b, next := -1, 0
	for next < n {
		b = next
		key = key*2862933555777941757 + 1 // a 64-bit linear congruential step
		// next = (b+1) / u with u uniform in (0, 1], from the top 31 bits of key.
		next = int(float64(b+1) * (float64(1<<31) / float64(key>>33+1)))
	}
	return b
}
