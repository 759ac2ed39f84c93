//go:build !loopstats

package cache

import "io"

// loopStats is empty in an ordinary build: its methods compile to nothing.
// Build with -tags loopstats for the per-pass figures (loopstats_on_linux.go).
type loopStats struct{}

func newLoopStats() *loopStats           { return nil }
func (*loopStats) beforeWait()           {}
func (*loopStats) afterWait(int)         {}
func (*loopStats) yieldStart() int64     { return 0 }
func (*loopStats) yieldEnd(int64)        {}
func (*loopStats) endPass()              {}
func (*loopStats) write(io.Writer) error { return nil }
