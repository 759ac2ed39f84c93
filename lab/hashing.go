package lab

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"gantry/balance"
	"gantry/internal/cputime"
	"gantry/lab/chart"
)

func consistentHashing() Experiment {
	return Experiment{
		Name:    "consistent-hashing",
		Summary: "keys moved when a node joins or leaves, load spread and lookup cost of modulo, ring, jump, rendezvous and Maglev",
		Topics:  []string{"consistent-hashing", "load-balancer"},
		Run: func(ctx context.Context, p Params) (*Report, error) {
			return runHashing(ctx, p, hashConfigFor(p.Quick))
		},
	}
}

// hashConfig sizes the consistent-hashing experiment.
type hashConfig struct {
	keys    int           // keys placed
	nodes   int           // nodes before one joins
	lookups time.Duration // how long each algorithm's lookup loop runs
}

func hashConfigFor(quick bool) hashConfig {
	if quick {
		return hashConfig{keys: 100_000, nodes: 10, lookups: 150 * time.Millisecond}
	}
	return hashConfig{keys: 1_000_000, nodes: 10, lookups: time.Second}
}

// hashAlgo builds one algorithm over a list of node names.
type hashAlgo struct {
	name  string
	build func(nodes []string) (balance.Hash, error)
}

func hashAlgos() []hashAlgo {
	weighted := func(names []string) []balance.Node {
		nodes := make([]balance.Node, len(names))
		for i, n := range names {
			nodes[i] = balance.Node{Name: n, Weight: 1}
		}
		return nodes
	}
	return []hashAlgo{
		{"modulo", func(n []string) (balance.Hash, error) { return balance.NewModulo(n), nil }},
		{"ring, 10 vnodes", func(n []string) (balance.Hash, error) { return balance.NewRing(weighted(n), 10), nil }},
		{"ring, 160 vnodes", func(n []string) (balance.Hash, error) { return balance.NewRing(weighted(n), 160), nil }},
		{"jump", func(n []string) (balance.Hash, error) { return balance.NewJump(n), nil }},
		{"rendezvous", func(n []string) (balance.Hash, error) { return balance.NewRendezvous(weighted(n)), nil }},
		{"maglev", func(n []string) (balance.Hash, error) { return balance.NewMaglev(n, 0) }},
	}
}

// hashResult is what was measured of one algorithm. Shares are fractions of all keys.
type hashResult struct {
	name       string
	movedAdd   float64 // keys whose node changed when node N+1 joined
	strayAdd   float64 // of those, keys that moved between old nodes rather than to the new one
	movedDel   float64 // keys whose node changed when it left again
	movedMid   float64 // keys whose node changed when a node in the middle of the list left
	maxMean    float64 // most keys on one node ÷ mean keys per node, N nodes
	minMean    float64 // fewest ÷ mean
	nsPerGet   float64 // wall time, fastest round
	cpuPerGet  float64 // the thread's CPU time; 0 where unknown
	lookupsRun int
}

func runHashing(ctx context.Context, p Params, cfg hashConfig) (*Report, error) {
	keys := hashKeys(cfg.keys)
	before, after := nodeNames(cfg.nodes), nodeNames(cfg.nodes+1)
	// A node in the middle leaves: the others keep their names (and, for jump and modulo,
	// shift down one place in the list, which is all those two know of a node).
	middle := without(before, cfg.nodes/3)

	var results []hashResult
	for _, a := range hashAlgos() {
		r, err := measureHash(ctx, a, keys, before, after, middle, cfg.lookups)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.name, err)
		}
		p.Logger.Info("consistent-hashing", "algorithm", a.name, "moved_add", r.movedAdd, "max_mean", r.maxMean, "cpu_ns_per_get", r.cpuPerGet, "wall_ns_per_get", r.nsPerGet)
		results = append(results, r)
	}
	return hashReport(cfg, results)
}

func hashKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

func nodeNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "node-" + strconv.Itoa(i)
	}
	return s
}

// without returns a copy of s without its i'th element.
func without(s []string, i int) []string {
	return slices.Delete(slices.Clone(s), i, i+1)
}

// measureHash places every key with algorithm a over the node lists and times lookups.
func measureHash(ctx context.Context, a hashAlgo, keys, before, after, middle []string, lookups time.Duration) (hashResult, error) {
	r := hashResult{name: a.name}
	var hs [4]balance.Hash // before, after the join, after the leave, after a middle one left
	for i, nodes := range [][]string{before, after, before, middle} {
		h, err := a.build(nodes)
		if err != nil {
			return r, err
		}
		hs[i] = h
	}
	newNode := after[len(after)-1]
	load := make(map[string]int, len(before))
	var movedAdd, strayAdd, movedDel, movedMid int
	for i, k := range keys {
		if i%65536 == 0 && ctx.Err() != nil {
			return r, ctx.Err()
		}
		n0, n1, n2, n3 := hs[0].Get(k), hs[1].Get(k), hs[2].Get(k), hs[3].Get(k)
		load[n0]++
		if n1 != n0 {
			movedAdd++
			if n1 != newNode {
				strayAdd++
			}
		}
		if n2 != n1 {
			movedDel++
		}
		if n3 != n0 {
			movedMid++
		}
	}
	total := float64(len(keys))
	r.movedAdd, r.strayAdd = float64(movedAdd)/total, float64(strayAdd)/total
	r.movedDel, r.movedMid = float64(movedDel)/total, float64(movedMid)/total
	mean := total / float64(len(before))
	lo, hi := len(keys), 0
	for _, n := range before {
		lo, hi = min(lo, load[n]), max(hi, load[n]) // a node with no keys counts as 0
	}
	r.maxMean, r.minMean = float64(hi)/mean, float64(lo)/mean

	c := timeLookups(ctx, hs[0], keys, lookups)
	r.nsPerGet, r.cpuPerGet, r.lookupsRun = c.wallNS, c.cpuNS, c.lookups
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if r.lookupsRun == 0 {
		return r, fmt.Errorf("lookups returned no nodes")
	}
	return r, nil
}

// lookupRounds is how many rounds the lookup time is split into. On a machine shared with
// other work some rounds lose the CPU part of the time; the fastest round is the cost of a
// lookup, the others are the cost plus waiting.
const lookupRounds = 10

// lookupCost is what timeLookups measured.
type lookupCost struct {
	wallNS  float64 // wall time per lookup in the fastest round
	cpuNS   float64 // the thread's CPU time per lookup over all rounds; 0 if unknown
	lookups int
}

// timeLookups runs h.Get over the keys, in order, for about d in all, on one locked thread.
// The lengths of the answers are summed so that the compiler cannot drop the calls; it
// returns 0 lookups if every answer was empty.
func timeLookups(ctx context.Context, h balance.Hash, keys []string, d time.Duration) lookupCost {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best, sum, lookups := math.Inf(1), 0, 0
	cpu0, cpuOK := cputime.Thread()
	for range lookupRounds {
		n, start := 0, time.Now()
		for time.Since(start) < d/lookupRounds && ctx.Err() == nil {
			for _, k := range keys[lookups%len(keys) : min(lookups%len(keys)+4096, len(keys))] {
				sum += len(h.Get(k))
				n++
				lookups++
			}
		}
		best = math.Min(best, float64(time.Since(start).Nanoseconds())/float64(n))
	}
	cpu1, cpuOK1 := cputime.Thread()
	if sum == 0 {
		return lookupCost{}
	}
	c := lookupCost{wallNS: best, lookups: lookups}
	if cpuOK && cpuOK1 {
		c.cpuNS = float64((cpu1 - cpu0).Nanoseconds()) / float64(lookups)
	}
	return c
}

// cost is the time per lookup: CPU time where the system tells it, else wall time.
func (r hashResult) cost() float64 {
	if r.cpuPerGet > 0 {
		return r.cpuPerGet
	}
	return r.nsPerGet
}

// nsCell formats a time per lookup for the table, "-" if unknown.
func nsCell(ns float64) string {
	if ns <= 0 {
		return "-"
	}
	return strconv.FormatFloat(ns, 'f', 1, 64)
}

func hashReport(cfg hashConfig, results []hashResult) (*Report, error) {
	n := cfg.nodes
	ideal := 1 / float64(n+1)
	r := &Report{
		Title: "Consistent hashing: keys moved, load spread and lookup cost",
		Question: fmt.Sprintf("When a cluster of %d nodes grows to %d and shrinks back, how many keys change node under modulo "+
			"hashing and under the four consistent hashes of package balance (ring, jump, rendezvous, Maglev)? How evenly does "+
			"each spread the keys, and what does a lookup cost?", n, n+1),
		Params: []Param{
			{"keys", strconv.Itoa(cfg.keys) + ` ("key-0", "key-1", ...)`},
			{"nodes", fmt.Sprintf("%d → %d → %d (node-0 … node-%d; node-%d joins and leaves)", n, n+1, n, n-1, n)},
			{"node leaving from the middle", fmt.Sprintf("node-%d of %d", n/3, n)},
			{"ring", "virtual nodes per node: 10 and 160 (the default)"},
			{"maglev", fmt.Sprintf("table of %d slots", balance.DefaultMaglevSize)},
			{"hash", "balance.Sum64 (xxhash-style, 64 bits) for every algorithm"},
			{"lookup timing", fmt.Sprintf("a loop over the keys for %s per algorithm on one locked thread, %d nodes: the thread's CPU time over all of it, and the wall time of the fastest of %d rounds", cfg.lookups, n, lookupRounds)},
		},
		Notes: []string{
			"Shares are of all keys. The ideal share to move when one node joins N is 1/(N+1): the keys the new node should own.",
			"\"Between old nodes\" counts keys that moved on the join but not to the new node: moves no algorithm needs to make.",
			"Lookup cost comes from a timed loop (not testing.B). CPU time (getrusage of the thread) leaves out the time spent waiting for a core " +
				"that other processes held, so it is the figure to compare on a shared machine; " +
				"balance's own benchmarks give steadier figures (go test -bench . ./balance).",
		},
	}
	t := Table{Header: []string{"algorithm", fmt.Sprintf("moved %d→%d", n, n+1), "of which between old nodes",
		fmt.Sprintf("moved %d→%d", n+1, n), fmt.Sprintf("moved when node-%d leaves", n/3), "max/mean load", "min/mean load", "CPU ns per lookup", "wall ns per lookup"}}
	t.Rows = append(t.Rows, []string{"ideal", pct(ideal), pct(0), pct(ideal), pct(1 / float64(n)), "1.000", "1.000", "-", "-"})
	var cats []string
	var add, del, mid, hi, lo, cpu, wall []float64
	for _, x := range results {
		t.Rows = append(t.Rows, []string{x.name, pct(x.movedAdd), pct(x.strayAdd), pct(x.movedDel), pct(x.movedMid),
			strconv.FormatFloat(x.maxMean, 'f', 3, 64), strconv.FormatFloat(x.minMean, 'f', 3, 64),
			nsCell(x.cpuPerGet), nsCell(x.nsPerGet)})
		cats = append(cats, x.name)
		add, del, mid = append(add, 100*x.movedAdd), append(del, 100*x.movedDel), append(mid, 100*x.movedMid)
		hi, lo = append(hi, x.maxMean), append(lo, x.minMean)
		cpu, wall = append(cpu, x.cpuPerGet), append(wall, x.nsPerGet)
	}
	r.Tables = append(r.Tables, t)

	charts := []struct {
		file, caption string
		bars          chart.Bars
	}{
		{"moved.svg", fmt.Sprintf("share of keys that change node (ideal %s when one node joins or leaves)", pct(ideal)), chart.Bars{
			Title: "Keys moved when a node joins and leaves", XLabel: "algorithm", YLabel: "keys moved (%)", Categories: cats,
			Series: []chart.BarSeries{
				{Name: fmt.Sprintf("node-%d joins (%d→%d)", n, n, n+1), Values: add},
				{Name: fmt.Sprintf("node-%d leaves (%d→%d)", n, n+1, n), Values: del},
				{Name: fmt.Sprintf("node-%d leaves (%d→%d)", n/3, n, n-1), Values: mid},
			},
			Refs: []chart.Ref{{Value: 100 * ideal, Label: "ideal on a join: " + pct(ideal)}},
		}},
		{"spread.svg", "keys on the busiest and the idlest node ÷ mean keys per node (1 is perfectly even)", chart.Bars{
			Title: fmt.Sprintf("Load spread over %d nodes", n), XLabel: "algorithm", YLabel: "keys per node ÷ mean",
			Categories: cats, Series: []chart.BarSeries{{Name: "busiest node", Values: hi}, {Name: "idlest node", Values: lo}},
			Refs: []chart.Ref{{Value: 1, Label: "even"}},
		}},
		{"lookup.svg", "time per lookup, one goroutine", chart.Bars{
			Title: "Lookup cost", XLabel: "algorithm", YLabel: "ns per lookup", Categories: cats,
			Series: []chart.BarSeries{{Name: "CPU time", Values: cpu}, {Name: "wall time, fastest round", Values: wall}},
		}},
	}
	for _, c := range charts {
		svg, err := c.bars.SVG()
		if err != nil {
			return nil, err
		}
		r.Charts = append(r.Charts, Chart{File: c.file, Caption: c.caption, SVG: svg})
	}
	r.Findings = hashFindings(cfg, results)
	return r, nil
}

// hashFindings explains the measured numbers in a few sentences.
func hashFindings(cfg hashConfig, results []hashResult) []string {
	n := cfg.nodes
	ideal := 1 / float64(n+1)
	var out []string
	var consistent []hashResult
	for _, x := range results {
		if x.name != "modulo" {
			consistent = append(consistent, x)
		}
	}
	byAdd := slices.Clone(consistent)
	slices.SortFunc(byAdd, func(a, b hashResult) int { return cmpFloat(a.movedAdd, b.movedAdd) })
	for _, x := range results {
		if x.name == "modulo" {
			out = append(out, fmt.Sprintf("When node-%d joins, modulo hashing moves %s of the keys, where only %s (1/%d) need to move: "+
				"a key stays only if its hash gives the same remainder mod %d and mod %d. The consistent hashes move between %s (%s) "+
				"and %s (%s).",
				n, pct(x.movedAdd), pct(ideal), n+1, n, n+1,
				pct(byAdd[0].movedAdd), byAdd[0].name, pct(byAdd[len(byAdd)-1].movedAdd), byAdd[len(byAdd)-1].name))
		}
	}
	back := true
	for _, x := range results {
		back = back && math.Abs(x.movedDel-x.movedAdd) < 0.0005
	}
	if back && len(out) > 0 {
		out[0] += " When the node leaves again, every algorithm moves the same share back: each is a function of the set of nodes alone, so the keys return to where they were."
	}
	for _, x := range consistent {
		if x.strayAdd >= 0.001 {
			out = append(out, fmt.Sprintf("%s also moves %s of the keys between old nodes on the join: when its table is refilled the "+
				"nodes' turns shift. That is the price of a table in which every node owns the same number of slots, within one.",
				title(x.name), pct(x.strayAdd)))
		}
		if x.movedMid > 2/float64(n) {
			out = append(out, fmt.Sprintf("When node-%d leaves from the middle of the list, %s moves %s of the keys, against %s for a node's "+
				"own share: it numbers its nodes by position, so every node after the gap changes number.", n/3, x.name, pct(x.movedMid), pct(1/float64(n))))
		}
	}
	bySpread := slices.Clone(results)
	slices.SortFunc(bySpread, func(a, b hashResult) int { return cmpFloat(a.maxMean, b.maxMean) })
	worst, best := bySpread[len(bySpread)-1], bySpread[0]
	s := fmt.Sprintf("The busiest node holds %.2f× the mean with %s and %.3f× with %s.", worst.maxMean, worst.name, best.maxMean, best.name)
	var r10, r160 *hashResult
	for i := range results {
		switch results[i].name {
		case "ring, 10 vnodes":
			r10 = &results[i]
		case "ring, 160 vnodes":
			r160 = &results[i]
		}
	}
	if r10 != nil && r160 != nil {
		s += fmt.Sprintf(" Virtual nodes are what evens out a ring: %.2f× with 10 per node, %.2f× with 160.", r10.maxMean, r160.maxMean)
	}
	// Even a perfect hash leaves the busiest of n nodes about 1.54 standard deviations
	// above the mean (the expected maximum of ten normal samples), and a node's count of
	// keys has a standard deviation of about √mean.
	mean := float64(cfg.keys) / float64(n)
	floor := 1 + 1.54/math.Sqrt(mean)
	var atFloor []string
	for _, x := range results {
		if x.maxMean <= 1+1.5*(floor-1) {
			atFloor = append(atFloor, x.name)
		}
	}
	s += fmt.Sprintf(" With %.0f keys per node, chance alone puts the busiest node near %.3f× the mean even for a perfect hash", mean, floor)
	if len(atFloor) > 0 {
		s += "; " + joinList(atFloor) + " are at about that floor"
	}
	out = append(out, s+".")

	byNS := slices.Clone(results)
	slices.SortFunc(byNS, func(a, b hashResult) int { return cmpFloat(a.cost(), b.cost()) })
	fast, slow := byNS[0], byNS[len(byNS)-1]
	s = fmt.Sprintf("A lookup costs %.0f ns of CPU with %s, the cheapest, and %.0f ns with %s, the dearest.", fast.cost(), fast.name, slow.cost(), slow.name)
	if slow.name == "rendezvous" {
		s += fmt.Sprintf(" Rendezvous scores every node for every key, so its cost grows with the number of nodes (%d here).", n)
	}
	return append(out, s)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// title capitalises the first letter of s.
func title(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}
