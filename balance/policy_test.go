package balance

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

// hostList is a Hosts for tests: weights, loads and which hosts are down.
type hostList struct {
	weight []int
	load   []int
	down   []bool
}

func (h *hostList) Len() int          { return len(h.weight) }
func (h *hostList) Weight(i int) int  { return h.weight[i] }
func (h *hostList) Usable(i int) bool { return h.down == nil || !h.down[i] }
func (h *hostList) Load(i int) int {
	if h.load == nil {
		return 0
	}
	return h.load[i]
}

func newHosts(weights ...int) *hostList {
	return &hostList{weight: weights, load: make([]int, len(weights)), down: make([]bool, len(weights))}
}

func TestSmoothWeightedSequence(t *testing.T) {
	// nginx's documented sequence for weights a=5, b=1, c=1.
	h := newHosts(5, 1, 1)
	var p SmoothWeighted
	var got strings.Builder
	for i := 0; i < 14; i++ {
		got.WriteByte("abc"[p.Pick(h, 0)])
	}
	if want := "aabacaaaabacaa"; got.String() != want {
		t.Errorf("sequence = %s, want %s", got.String(), want)
	}
}

func TestSmoothWeightedSkipsDown(t *testing.T) {
	h := newHosts(5, 1, 1)
	h.down[0] = true
	var p SmoothWeighted
	var got strings.Builder
	for i := 0; i < 6; i++ {
		got.WriteByte("abc"[p.Pick(h, 0)])
	}
	if want := "bcbcbc"; got.String() != want {
		t.Errorf("sequence = %s, want %s", got.String(), want)
	}
	h.down[1], h.down[2] = true, true
	if i := p.Pick(h, 0); i != -1 {
		t.Errorf("all down: Pick = %d, want -1", i)
	}
}

func TestRoundRobin(t *testing.T) {
	h := newHosts(1, 1, 1, 1)
	h.down[2] = true
	var p RoundRobin
	counts := make([]int, 4)
	for i := 0; i < 300; i++ {
		counts[p.Pick(h, 0)]++
	}
	if counts[2] != 0 || counts[0] < 75 || counts[1] < 75 || counts[3] < 75 {
		t.Errorf("counts = %v, want host 2 skipped and the others near 100", counts)
	}
}

func TestLeastConnWeighted(t *testing.T) {
	h := newHosts(1, 2, 1)
	h.load = []int{3, 4, 1}
	var p LeastConn
	if i := p.Pick(h, 0); i != 2 {
		t.Errorf("Pick = %d, want 2 (1 per weight)", i)
	}
	h.load[2] = 5
	if i := p.Pick(h, 0); i != 1 {
		t.Errorf("Pick = %d, want 1 (4/2 per weight)", i)
	}
	// Equal loads share the picks.
	h = newHosts(1, 1, 1)
	seen := map[int]bool{}
	for i := 0; i < 9; i++ {
		seen[p.Pick(h, 0)] = true
	}
	if len(seen) != 3 {
		t.Errorf("ties went to %v, want all three hosts", seen)
	}
}

// simulate runs n picks where a pick adds one request in flight to the host and every
// completes requests finish at once, and returns the share of picks each host got.
func simulate(p Policy, h *hostList, n int) []float64 {
	counts := make([]int, h.Len())
	for i := 0; i < n; i++ {
		j := p.Pick(h, 0)
		counts[j]++
		h.load[j]++
		if i%4 == 3 {
			for k := range h.load {
				h.load[k] = 0
			}
		}
	}
	share := make([]float64, len(counts))
	for i, c := range counts {
		share[i] = float64(c) / float64(n)
	}
	return share
}

func TestDistributionsFollowWeights(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Policy
	}{
		{"smooth weighted", &SmoothWeighted{}},
		{"least conn", &LeastConn{}},
		{"two choices", TwoChoices{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHosts(3, 1)
			share := simulate(tt.p, h, 40000)
			if math.Abs(share[0]-0.75) > 0.1 {
				t.Errorf("shares = %v, want near 0.75/0.25", share)
			}
		})
	}
}

func TestTwoChoicesPrefersLessLoaded(t *testing.T) {
	h := newHosts(1, 1)
	h.load = []int{10, 0}
	var p TwoChoices
	for i := 0; i < 100; i++ {
		if j := p.Pick(h, 0); j != 1 {
			t.Fatalf("Pick = %d, want the idle host 1", j)
		}
	}
	h.down[1] = true
	if j := p.Pick(h, 0); j != 0 {
		t.Errorf("Pick = %d, want 0, the only usable host", j)
	}
	h.down[0] = true
	if j := p.Pick(h, 0); j != -1 {
		t.Errorf("all down: Pick = %d", j)
	}
}

func TestPoliciesConcurrent(t *testing.T) {
	for _, p := range []Policy{&RoundRobin{}, &SmoothWeighted{}, &LeastConn{}, TwoChoices{}} {
		h := &hostList{weight: []int{1, 2, 3}}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					if j := p.Pick(h, 0); j < 0 || j > 2 {
						panic(fmt.Sprintf("%T picked %d", p, j))
					}
				}
			}()
		}
		wg.Wait()
	}
}

func ExampleSmoothWeighted() {
	var p SmoothWeighted
	h := &hostList{weight: []int{5, 1, 1}}
	for i := 0; i < 7; i++ {
		fmt.Print(string("abc"[p.Pick(h, 0)]))
	}
	fmt.Println()
	// Output: aabacaa
}
