package balance

import (
	"fmt"
	"testing"

	"gantry/internal/cputime"
)

// BenchmarkGet times one lookup of each algorithm over 10 and 100 nodes, keys of the
// usual shape ("user:12345"), with allocations reported: Get must not allocate.
func BenchmarkGet(b *testing.B) {
	ks := keys(1 << 12)
	for _, n := range []int{10, 100} {
		names := nodeNames(n)
		hs := []struct {
			name string
			h    Hash
		}{
			{"modulo", NewModulo(names)},
			{"ring", NewRing(nodesOf(names), 0)},
			{"jump", NewJump(names)},
			{"rendezvous", NewRendezvous(nodesOf(names))},
			{"rendezvous-weighted", NewRendezvous(weightedNodes(n))},
			{"maglev", mustMaglev(names, 0)},
		}
		for _, h := range hs {
			b.Run(fmt.Sprintf("%s/nodes=%d", h.name, n), func(b *testing.B) {
				b.ReportAllocs()
				defer cputime.Report(b)()
				for i := 0; b.Loop(); i++ {
					_ = h.h.Get(ks[i&(len(ks)-1)])
				}
			})
		}
	}
}

func BenchmarkSum64(b *testing.B) {
	for _, s := range []string{"user:1", "user:1234567", "a cache key of thirty-two bytes!"} {
		b.Run(fmt.Sprintf("len=%d", len(s)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				_ = Sum64(s)
			}
		})
	}
}

// BenchmarkBuild times building each structure over 100 nodes: the cost paid on every
// change of membership.
func BenchmarkBuild(b *testing.B) {
	names := nodeNames(100)
	b.Run("ring", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewRing(nodesOf(names), 0)
		}
	})
	b.Run("maglev", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustMaglev(names, 0)
		}
	})
}
