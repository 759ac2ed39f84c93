package cache

import (
	"math/rand/v2"
	"strings"
)

func (s *Server) lfuPolicy() bool { return s.lfu.Load() }

// makeRoom evicts keys until the keyspace is under maxmemory, as the policy
// allows. It reports false when it cannot (noeviction, or nothing left to evict),
// and the write must then fail with OOM. No shard lock may be held.
func (s *Server) makeRoom() bool {
	if s.maxMemory.Load() == 0 {
		return true // the common case, without touching the config lock
	}
	cfg := s.config()
	for tries := 0; s.ks.usedMemory() > cfg.MaxMemory; tries++ {
		if cfg.MaxMemoryPolicy == "noeviction" || tries > 1000 || !s.evictOne(cfg.MaxMemoryPolicy) {
			return false
		}
	}
	return true
}

// evictOne removes one key chosen as Redis does: from a sample of five keys (of
// all keys or of those with a TTL), the least recently used, least frequently
// used, soonest to expire, or any.
func (s *Server) evictOne(policy string) bool {
	volatile := strings.HasPrefix(policy, "volatile-")
	start := rand.IntN(nShards)
	for i := range nShards {
		sh := &s.ks.shards[(start+i)%nShards]
		sh.mu.Lock()
		var best *entry
		bestDB := 0
		for db := range sh.dbs {
			d := sh.dbs[db]
			if volatile {
				d = sh.vol[db]
			}
			n := 0
			for e := range d.from(rand.Uint64()) {
				if n == 5 {
					break
				}
				n++
				if best == nil || evictBefore(policy, e, best) {
					best, bestDB = e, db
				}
			}
		}
		if best != nil {
			bestKey := best.key()
			s.ks.remove(sh, bestDB, bestKey, best)
			if s.aof.Load() != nil {
				s.aof.Load().appendCmds(bestDB, [][][]byte{{[]byte("DEL"), []byte(bestKey)}})
			}
			sh.touchWatched(bestDB, bestKey)
			sh.mu.Unlock()
			s.ks.evicted.Add(1)
			return true
		}
		sh.mu.Unlock()
	}
	return false
}

// evictBefore reports whether a is a better victim than b under policy.
func evictBefore(policy string, a, b *entry) bool {
	switch {
	case strings.HasSuffix(policy, "lru"):
		return a.access < b.access
	case strings.HasSuffix(policy, "lfu"):
		return a.freq < b.freq || (a.freq == b.freq && a.access < b.access)
	case strings.HasSuffix(policy, "ttl"):
		return a.exp < b.exp
	}
	return false
}

// lfuIncr is Redis's logarithmic access counter: the more a key was used, the less
// likely one more access raises its count (lfu-log-factor 10).
func lfuIncr(f uint8) uint8 {
	if f == 255 {
		return f
	}
	base := float64(f) - 5
	if base < 0 {
		base = 0
	}
	if rand.Float64() < 1/(base*10+1) {
		return f + 1
	}
	return f
}
