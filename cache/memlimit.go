package cache

import "runtime/debug"

// Between collections the Go heap grows to about twice the live heap (GOGC=100),
// so with only maxmemory a process holding maxmemory of keys could reach about
// twice that in RSS under churn. With Config.GoMemoryLimit the runtime is given a
// soft memory limit derived from maxmemory, and collects more often as it nears it.
//
// memoryLimit is that limit: the keys (maxmemory), a quarter more for what the
// accounting leaves out and for garbage between collections (after a collection
// the heap in use runs up to about 10% above used_memory for string keys, more
// for small collections), and a fixed part for the runtime, goroutine stacks and
// connection buffers. The limit must stay well above the live heap: a limit
// below it would make the collector run without end (the runtime caps that at
// half the CPU, but the server would crawl).
func memoryLimit(maxMemory int64) int64 {
	return maxMemory + maxMemory/4 + memoryLimitBase
}

// memoryLimitBase is the fixed part of memoryLimit: the Go runtime's own
// structures, goroutine stacks and the read and write buffers of some hundreds
// of connections.
const memoryLimitBase = 32 << 20

// applyMemoryLimit sets the runtime's memory limit for a keyspace limit of
// maxMemory bytes; 0 restores the limit the process had before New (no limit,
// unless GOMEMLIMIT set one). A GOMEMLIMIT lower than memoryLimit wins. The
// caller holds cfgMu, so concurrent CONFIG SETs apply in the order they set cfg.
func (s *Server) applyMemoryLimit(maxMemory int64) {
	if !s.cfg.GoMemoryLimit {
		return
	}
	limit := s.baseMemoryLimit
	if maxMemory > 0 {
		limit = min(limit, memoryLimit(maxMemory))
	}
	debug.SetMemoryLimit(limit)
}
