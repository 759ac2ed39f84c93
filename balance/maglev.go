package balance

import (
	"fmt"
	"slices"
)

// DefaultMaglevSize is the lookup table size NewMaglev uses when given zero: the prime the
// Maglev paper uses, good for up to a few hundred nodes (the table should hold at least
// about 100 slots per node for an even spread).
const DefaultMaglevSize = 65537

// MaxMaglevSize bounds the table (4 bytes a slot): 2^24 slots is 64 MiB.
const MaxMaglevSize = 1 << 24

// Maglev is the consistent hash of Google's Maglev load balancer (Eisenbud et al., NSDI
// 2016). Each node has its own permutation of the M slots of a lookup table, drawn from two
// hashes of its name (an offset and a skip; M is prime, so every skip visits every slot).
// The nodes take turns claiming the next free slot of their permutation until the table is
// full, so with N nodes each one owns ⌊M/N⌋ or ⌈M/N⌉ slots: the spread is as even as it can
// be. Get is one hash and one array read.
//
// The price is in disruption: when a node joins or leaves, the turns shift, and besides the
// keys that must move a small share of others moves between the remaining nodes: with
// M = 65537 and ten nodes, under 1% of all keys besides the 1/N that must (the tests allow
// up to 20% more than the minimum in all). It takes no weights here, and the order of nodes
// does not matter.
type Maglev struct {
	table []int32 // slot → index into names; empty when there are no nodes
	names []string
	size  int
}

// NewMaglev builds a Maglev table of size slots (DefaultMaglevSize if size is 0). size
// must be a prime greater than the number of nodes and at most MaxMaglevSize.
func NewMaglev(nodes []string, size int) (*Maglev, error) {
	if size == 0 {
		size = DefaultMaglevSize
	}
	switch {
	case size < 0 || size > MaxMaglevSize:
		return nil, fmt.Errorf("balance: maglev table size %d out of range (1 to %d)", size, MaxMaglevSize)
	case size <= len(nodes):
		return nil, fmt.Errorf("balance: maglev table size %d must exceed the number of nodes (%d)", size, len(nodes))
	case !isPrime(size):
		return nil, fmt.Errorf("balance: maglev table size %d is not prime", size)
	}
	// Sorted names make the table independent of the order the caller listed them in.
	m := &Maglev{names: slices.Sorted(slices.Values(nodes)), size: size}
	if len(nodes) > 0 {
		m.table = populate(m.names, uint64(size))
	}
	return m, nil
}

// populate fills a table of size m: the nodes take turns, each claiming the first free slot
// left in its own permutation offset, offset+skip, offset+2·skip, ... (mod m).
func populate(names []string, m uint64) []int32 {
	pos := make([]uint64, len(names))  // the slot each node tries next
	skip := make([]uint64, len(names)) // in [1, m-1], so coprime with the prime m
	for i, name := range names {
		h := Sum64(name)
		pos[i] = h % m
		skip[i] = mix64(h^prime2)%(m-1) + 1
	}
	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	for filled := uint64(0); ; {
		for i := range names {
			for table[pos[i]] >= 0 {
				pos[i] = (pos[i] + skip[i]) % m
			}
			table[pos[i]] = int32(i)
			if filled++; filled == m {
				return table
			}
		}
	}
}

// Get implements Hash.
func (m *Maglev) Get(key string) string {
	if len(m.table) == 0 {
		return ""
	}
	return m.names[m.table[Sum64(key)%uint64(len(m.table))]]
}

// Size returns the number of slots in the lookup table.
func (m *Maglev) Size() int { return m.size }

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
