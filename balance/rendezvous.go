package balance

import "math"

// Rendezvous is highest random weight hashing (Thaler and Ravishankar, 1996): every node
// scores every key with a hash of the pair, and the key goes to the highest score. A node
// that leaves takes only its own keys with it (each moves to its runner-up); a node that
// joins takes only the keys on which it now scores highest. Nothing is stored but the
// nodes, and the order of nodes does not matter; the price is that Get costs O(N).
//
// Weights use the logarithmic method (Schindelhauer and Schomaker, 2005; Resch's "weighted
// rendezvous hashing"): with u the pair's hash as a uniform number in (0, 1), the score is
// -w / ln u. Node i then wins a key with probability w_i / Σw exactly, and changing one
// node's weight moves keys only to or from that node.
type Rendezvous struct {
	names   []string
	hashes  []uint64
	weights []float64
	equal   bool // all weights equal: compare the raw hashes, no logarithms needed
}

// NewRendezvous returns a Rendezvous over nodes.
func NewRendezvous(nodes []Node) *Rendezvous {
	r := &Rendezvous{equal: true}
	for _, n := range nodes {
		r.names = append(r.names, n.Name)
		r.hashes = append(r.hashes, Sum64(n.Name))
		r.weights = append(r.weights, float64(n.weight()))
		if n.weight() != nodes[0].weight() {
			r.equal = false
		}
	}
	return r
}

// Get implements Hash.
func (r *Rendezvous) Get(key string) string {
	if len(r.names) == 0 {
		return ""
	}
	k := Sum64(key)
	best := 0
	if r.equal {
		// -1/ln u grows with u, so with equal weights the highest hash wins.
		var top uint64
		for i, h := range r.hashes {
			if s := mix64(k ^ h); s > top {
				best, top = i, s
			}
		}
		return r.names[best]
	}
	top := 0.0 // every score is positive
	for i, h := range r.hashes {
		// The top 53 bits as a float in (0, 1): never 0, whose logarithm is -Inf.
		u := (float64(mix64(k^h)>>11) + 0.5) / (1 << 53)
		w := r.weights[i]
		// Since ln u ≤ u - 1, the score w/-ln(u) is at most w/(1-u). When even that
		// bound cannot beat the best so far, the logarithm, which dominated Get's profile,
		// is skipped; once a good score is found that is nearly every node.
		if w <= top*(1-u) {
			continue
		}
		if s := -w / math.Log(u); s > top {
			best, top = i, s
		}
	}
	return r.names[best]
}
