package balance

import "math/bits"

// Hash maps keys to nodes so that few keys move when the set of nodes changes: when one
// node of N joins or leaves, about 1/N of the keys move, where modulo hashing moves
// nearly all of them. Get returns "" when there are no nodes. Every implementation here is
// immutable once built (build a new one when the nodes change), so Get takes no lock and is
// safe for concurrent use.
type Hash interface {
	Get(key string) string
}

var (
	_ Hash = (*Modulo)(nil)
	_ Hash = (*Ring)(nil)
	_ Hash = (*Jump)(nil)
	_ Hash = (*Rendezvous)(nil)
	_ Hash = (*Maglev)(nil)
)

// A Node is a named member of a consistent hash, with a weight for the algorithms that take
// one. A Weight of zero or less counts as 1.
type Node struct {
	Name   string
	Weight int
}

func (n Node) weight() int { return max(n.Weight, 1) }

// Constants of the xxhash family: odd, with bits well spread.
const (
	prime1 = 0x9E3779B185EBCA87
	prime2 = 0xC2B2AE3D27D4EB4F
	prime3 = 0x165667B19E3779F9
)

// Sum64 is the 64-bit hash every algorithm here places keys and nodes with. It is
// deterministic (the same in every process and on every machine, unlike hash/maphash), so
// that separate proxies and cache clients agree on where a key lives. It reads eight bytes
// at a time, in the manner of xxhash, and ends with MurmurHash3's finalizer so that every
// input bit affects every output bit.
func Sum64(s string) uint64 {
	h := prime3 + uint64(len(s))*prime1
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64(h^round(w), 27)*prime1 + prime3
	}
	if len(s) > 0 {
		var w uint64
		for i := 0; i < len(s); i++ {
			w |= uint64(s[i]) << (8 * i)
		}
		h = bits.RotateLeft64(h^round(w), 27)*prime1 + prime3
	}
	return mix64(h)
}

func round(w uint64) uint64 { return bits.RotateLeft64(w*prime2, 31) * prime1 }

// mix64 is MurmurHash3's 64-bit finalizer: a bijection in which each input bit flips each
// output bit with probability close to one half.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
