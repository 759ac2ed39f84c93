// Package balance decides where work goes: which upstream host takes a request, and which
// node owns a key. The proxy, the cache cluster's client and the lab use it; it imports no
// other part of Gantry.
//
// # Load-balancing policies
//
// A Policy picks a host for each request from a Hosts set that its owner (a proxy's pool)
// keeps up to date: round robin, smooth weighted round robin, least connections, and the
// power of two random choices.
//
// # Consistent hashing
//
// A Hash maps a key to the name of a node, so that the same key always reaches the same
// node (a cache shard, a backend holding a session) and few keys move when nodes join or
// leave. Modulo hashing, the baseline, moves N/(N+1) of the keys when one node joins; the
// four consistent hashes move about 1/(N+1):
//
//	algorithm   lookup      state           weights  what moves when one node of N leaves
//	Ring        O(1) exp.   V points/node   yes      only its keys (to the next points)
//	Jump        O(log N)    none            no       only its keys if it is the last; else many
//	Rendezvous  O(N)        none            yes      only its keys (each to its runner-up)
//	Maglev      O(1)        M-slot table    no       its keys, plus under 1% of others'
//
// Ring is the classic, with virtual nodes for spread and weights, but the least even of the
// four; Jump needs no memory and moves the fewest keys but numbers its buckets, so it suits
// shards that grow and shrink at the end; Rendezvous needs no state and has exact weights
// but costs a hash per node (a logarithm per node with weights); Maglev gives the most even
// spread and the fastest lookups for the price of a table and slightly more disruption. The lab's consistent-hashing experiment measures all of these.
//
// Every Hash is immutable once built: when the nodes change, build a new one and swap it in
// (an atomic.Pointer serves), so Get takes no lock. All of them place keys and nodes with
// Sum64, a deterministic 64-bit hash, so that separate processes agree on where a key lives.
// Node names should be distinct; Get returns "" only when there are no nodes (or a node is
// named "").
package balance
