package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gantry/lab/btree"
	"gantry/lab/chart"
	"gantry/store"
	"gantry/store/page"
)

func btreeVsBPlusTree() Experiment {
	return Experiment{
		Name:    "btree-vs-bplustree",
		Summary: "height, fanout and pages read by lookups and range scans: a classic B-tree beside store's B+tree, 4 KiB pages",
		Topics:  []string{"btree-vs-bplustree"},
		Run: func(ctx context.Context, p Params) (*Report, error) {
			return runTrees(ctx, p, treeConfigFor(p.Quick))
		},
	}
}

// treeConfig sizes the btree-vs-bplustree experiment.
type treeConfig struct {
	pageSize int
	keySize  int   // bytes of a user key
	sizes    []int // keys per dataset
	values   []int // value sizes, each under the engine's overflow threshold
	lookups  int   // point lookups sampled per dataset
	scans    int   // scans sampled per dataset and length
	scanLens []int // keys per scan; the main table shows mainScan
	mainScan int
	batch    int // puts per store transaction while loading
}

func treeConfigFor(quick bool) treeConfig {
	c := treeConfig{pageSize: 4096, keySize: 16, values: []int{16, 100, 900},
		scanLens: []int{10, 100, 1000}, mainScan: 100, batch: 1000}
	if quick {
		c.sizes, c.lookups, c.scans = []int{1000, 4000}, 200, 20
	} else {
		c.sizes, c.lookups, c.scans = []int{1000, 10_000, 100_000}, 2000, 100
	}
	return c
}

// treeResult is what was measured of one tree over one dataset.
type treeResult struct {
	tree         string // "B+tree" or "B-tree"
	keys, value  int
	height       int
	pages        int     // tree pages: internal and leaf (no meta, free or overflow pages)
	internal     int     // internal (branch) pages
	fanout       float64 // mean children per internal page
	leafEntries  float64 // mean entries per leaf
	childCap     int     // most children an internal page can hold, by the page layout
	leafCap      int     // most entries a leaf can hold
	innerEntries int     // entries held in internal pages (the B-tree's; 0 for the B+tree)
	fill         float64 // bytes in use ÷ page bytes, leaves (B+tree) or all pages (B-tree)
	lookup       float64 // mean pages touched by a point lookup
	lookupMax    int
	scan         map[int]float64 // scan length -> mean pages touched
	scanVisits   map[int]float64 // B-tree only: page visits with one page held
	touched      int             // B+tree: page accesses of all the reads measured
	misses       int             // B+tree: of those, pages read from the file or the log
}

func runTrees(ctx context.Context, p Params, cfg treeConfig) (*Report, error) {
	results, err := measureTrees(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	return treeReport(cfg, results)
}

// measureTrees measures both trees over every dataset: for each, the B+tree's result, then
// the B-tree's.
func measureTrees(ctx context.Context, p Params, cfg treeConfig) ([]treeResult, error) {
	dir, err := os.MkdirTemp("", "gantry-lab-trees-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var results []treeResult
	for _, n := range cfg.sizes {
		for _, v := range cfg.values {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			w := newTreeWorkload(cfg, n, v)
			bp, err := measureBPlus(ctx, filepath.Join(dir, fmt.Sprintf("kv-%d-%d.db", n, v)), cfg, w)
			if err != nil {
				return nil, fmt.Errorf("the B+tree, %d keys of %d-byte values: %w", n, v, err)
			}
			b, err := measureBTree(cfg, w)
			if err != nil {
				return nil, fmt.Errorf("the B-tree, %d keys of %d-byte values: %w", n, v, err)
			}
			p.Logger.Info("btree-vs-bplustree", "keys", n, "value", v, "bplus_height", bp.height, "btree_height", b.height,
				"bplus_lookup", bp.lookup, "btree_lookup", b.lookup)
			results = append(results, bp, b)
		}
	}
	return results, nil
}

// treeWorkload is one dataset and the reads sampled from it, the same for both trees.
type treeWorkload struct {
	keys, value int
	order       []int   // insertion order of the key numbers: shuffled
	lookups     []int   // key numbers looked up
	scanFrom    [][]int // per scan length, the key numbers scans start at
}

func newTreeWorkload(cfg treeConfig, n, value int) treeWorkload {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(value)))
	w := treeWorkload{keys: n, value: value, order: rng.Perm(n)}
	for range cfg.lookups {
		w.lookups = append(w.lookups, rng.IntN(n))
	}
	for _, l := range cfg.scanLens {
		var from []int
		for range cfg.scans {
			from = append(from, rng.IntN(max(1, n-l+1)))
		}
		w.scanFrom = append(w.scanFrom, from)
	}
	return w
}

// treeKey is key number i as a user key of size bytes, in byte-wise order of i.
func treeKey(i, size int) []byte { return fmt.Appendf(nil, "k%0*d", size-1, i) }

// treeValue is a value of n bytes for key i.
func treeValue(i, n int) []byte {
	v := make([]byte, n)
	for j := range v {
		v[j] = byte('a' + (i+j)%26)
	}
	return v
}

// enginePrefix stands for the 4-byte bucket id the engine puts before every key it stores
// (docs/store.md): the classic B-tree gets the same bytes, so both trees hold entries of
// the same size.
const enginePrefix = "\x00\x00\x00\x01"

const bucketKV = "kv"

// measureBPlus loads the dataset into a store database at path and counts the pages its
// reads touch with the transaction's page counters.
func measureBPlus(ctx context.Context, path string, cfg treeConfig, w treeWorkload) (treeResult, error) {
	r := treeResult{tree: "B+tree", keys: w.keys, value: w.value, scan: map[int]float64{}}
	db, err := store.Open(path, &store.Options{PageSize: cfg.pageSize, NoSync: true})
	if err != nil {
		return r, err
	}
	defer db.Close()
	for start := 0; start < len(w.order); start += cfg.batch {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		err := db.Update(func(tx *store.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucketKV))
			if err != nil {
				return err
			}
			for _, i := range w.order[start:min(start+cfg.batch, len(w.order))] {
				if err := b.Put(treeKey(i, cfg.keySize), treeValue(i, w.value)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return r, err
		}
	}
	rep, err := db.Check()
	if err != nil {
		return r, err
	}
	if len(rep.Problems) > 0 || rep.Buckets["kv"] != w.keys || rep.OverflowPages != 0 {
		return r, fmt.Errorf("loaded tree: %d keys, %d overflow pages, problems %v", rep.Buckets["kv"], rep.OverflowPages, rep.Problems)
	}
	r.height, r.internal = rep.Height, rep.BranchPages
	r.pages = rep.BranchPages + rep.LeafPages
	if r.internal > 0 {
		r.fanout = float64(r.pages-1) / float64(r.internal)
	}
	r.leafEntries = float64(rep.Keys) / float64(rep.LeafPages) // the catalog's one entry included
	r.fill = rep.LeafFill
	// What a page can hold, by the engine's own layout functions: a branch has one child
	// more than separators (the leftmost lives in the header).
	tk := make([]byte, len(enginePrefix)+cfg.keySize)
	space := cfg.pageSize - page.HeaderSize
	r.childCap = space/page.BranchCellSize(tk) + 1
	r.leafCap = space / page.LeafCellSize(tk, page.Value{Inline: make([]byte, w.value)})

	tx, err := db.Begin(false)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	b, err := tx.Bucket([]byte(bucketKV))
	if err != nil {
		return r, err
	}
	touched := func() int { s := tx.Stats(); return s.PagesRead + s.CacheHits }
	sum := 0
	for _, i := range w.lookups {
		before := touched()
		v, err := b.Get(treeKey(i, cfg.keySize))
		if err != nil {
			return r, err
		}
		if len(v) != w.value {
			return r, fmt.Errorf("key %d: %d-byte value, want %d", i, len(v), w.value)
		}
		n := touched() - before
		sum, r.lookupMax = sum+n, max(r.lookupMax, n)
	}
	r.lookup = float64(sum) / float64(len(w.lookups))
	for li, l := range cfg.scanLens {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		sum := 0
		for _, from := range w.scanFrom[li] {
			before := touched()
			c := b.Cursor()
			got := 0
			for k, _ := c.Seek(treeKey(from, cfg.keySize)); k != nil; k, _ = c.Next() {
				if got++; got == l {
					break
				}
			}
			if err := c.Err(); err != nil {
				return r, err
			}
			if got != min(l, w.keys-from) {
				return r, fmt.Errorf("scan from key %d: %d keys, want %d", from, got, min(l, w.keys-from))
			}
			sum += touched() - before
		}
		r.scan[l] = float64(sum) / float64(len(w.scanFrom[li]))
	}
	st := tx.Stats()
	r.touched, r.misses = st.PagesRead+st.CacheHits, st.PagesRead
	return r, tx.Rollback()
}

// measureBTree loads the dataset into a classic B-tree and counts its pages the same way.
func measureBTree(cfg treeConfig, w treeWorkload) (treeResult, error) {
	r := treeResult{tree: "B-tree", keys: w.keys, value: w.value, scan: map[int]float64{}, scanVisits: map[int]float64{}}
	t, err := btree.New(cfg.pageSize)
	if err != nil {
		return r, err
	}
	key := func(i int) []byte { return append([]byte(enginePrefix), treeKey(i, cfg.keySize)...) }
	for _, i := range w.order {
		if err := t.Put(key(i), treeValue(i, w.value)); err != nil {
			return r, err
		}
	}
	if err := t.Check(); err != nil {
		return r, err
	}
	s := t.Shape()
	r.height, r.pages, r.internal = s.Height, s.Pages, s.InternalPages
	r.fanout, r.leafEntries, r.innerEntries = s.Fanout(), s.LeafEntriesPerPage(), s.InternalEntries
	r.fill = float64(s.UsedBytes) / float64(s.Pages*cfg.pageSize)
	in, leaf := t.Capacity(len(enginePrefix)+cfg.keySize, w.value)
	r.childCap, r.leafCap = in+1, leaf
	sum := 0
	for _, i := range w.lookups {
		v, n, ok := t.Get(key(i))
		if !ok || len(v) != w.value {
			return r, fmt.Errorf("key %d: found %v, %d-byte value", i, ok, len(v))
		}
		sum, r.lookupMax = sum+n, max(r.lookupMax, n)
	}
	r.lookup = float64(sum) / float64(len(w.lookups))
	for li, l := range cfg.scanLens {
		pages, visits := 0, 0
		for _, from := range w.scanFrom[li] {
			st := t.Scan(key(from), l, func(k, v []byte) bool { return true })
			if st.Entries != min(l, w.keys-from) {
				return r, errors.New("scan returned the wrong number of entries")
			}
			pages, visits = pages+st.Pages, visits+st.Visits
		}
		n := float64(len(w.scanFrom[li]))
		r.scan[l], r.scanVisits[l] = float64(pages)/n, float64(visits)/n
	}
	return r, nil
}

// pair returns the B+tree's and the B-tree's result for a dataset.
func pair(results []treeResult, keys, value int) (bp, b treeResult) {
	for _, r := range results {
		if r.keys == keys && r.value == value {
			if r.tree == "B+tree" {
				bp = r
			} else {
				b = r
			}
		}
	}
	return bp, b
}

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
func f2(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

func treeReport(cfg treeConfig, results []treeResult) (*Report, error) {
	largest := cfg.sizes[len(cfg.sizes)-1]
	r := &Report{
		Title: "B-tree vs B+tree: height, fanout and pages read",
		Question: "With the same 4 KiB pages and the same entries, how tall and how wide are a classic B-tree (values in every " +
			"node) and the engine's B+tree (values only in linked leaves), and how many pages does each read for a point lookup " +
			"and for a range scan?",
		Params: []Param{
			{"page size", fmt.Sprintf("%d bytes", cfg.pageSize)},
			{"keys", fmt.Sprintf("%s keys of %d bytes (\"k000…0042\"), inserted in a shuffled order", joinInts(cfg.sizes), cfg.keySize)},
			{"values", fmt.Sprintf("%s bytes; all stay inline (the engine moves a value to overflow pages past a quarter page)", joinInts(cfg.values))},
			{"B+tree", "store: a database file per dataset (NoSync, default 64 MiB pool), loaded in transactions of " + strconv.Itoa(cfg.batch) + " puts; shape from db.Check, pages from tx.Stats (pages read + cache hits)"},
			{"B-tree", "lab/btree, in memory, nodes sized by store/page's layout; keys carry the same 4-byte bucket prefix the engine stores"},
			{"lookups", fmt.Sprintf("%d existing keys per dataset, the same for both trees", cfg.lookups)},
			{"scans", fmt.Sprintf("%d per length per dataset, from the same random keys, lengths %s", cfg.scans, joinInts(cfg.scanLens))},
		},
		Notes: []string{
			"\"Pages\" counts page accesses: for the B+tree, the read transaction's PagesRead + CacheHits; for the B-tree, the nodes entered. Neither counts the meta page.",
			"The B-tree's scan pages assume a cursor that keeps its path from the root in memory (each page read once); \"one page held\" counts each return to a parent as a read, as a cursor holding one page would.",
			"The B-tree is in memory with page accounting: a node holds what a page in store/page's layout would (32-byte header; 2-byte slot, 7 bytes of flags and lengths, key and value per entry; 4 more bytes of child pointer per entry in internal nodes) and splits at the byte midpoint when it outgrows it. The engine splits the same way, and both trees grow from the same random insertion order.",
			"The B+tree's entries per leaf include the bucket catalog's one entry; the engine's internal pages hold separator keys of the same 20 bytes as the entries' keys (it does not shorten them).",
		},
	}
	t := Table{Caption: fmt.Sprintf("Shape and pages touched (mean per operation); scans of %d keys.", cfg.mainScan),
		Header: []string{"keys", "value", "tree", "height", "internal pages", "children per internal page: most (mean)", "entries per leaf: most (mean)", "entries in internal pages", "pages per lookup (max)", fmt.Sprintf("pages per scan of %d", cfg.mainScan)}}
	for _, x := range results {
		scan := f1(x.scan[cfg.mainScan])
		if x.scanVisits != nil {
			scan += fmt.Sprintf(" (%s with one page held)", f1(x.scanVisits[cfg.mainScan]))
		}
		inner := "0 (none: separators only)"
		if x.tree == "B-tree" {
			inner = fmt.Sprintf("%d (%s)", x.innerEntries, pct(float64(x.innerEntries)/float64(x.keys)))
		}
		t.Rows = append(t.Rows, []string{strconv.Itoa(x.keys), fmt.Sprintf("%d B", x.value), x.tree, strconv.Itoa(x.height),
			strconv.Itoa(x.internal), fmt.Sprintf("%d (%s)", x.childCap, f1(x.fanout)), fmt.Sprintf("%d (%s)", x.leafCap, f1(x.leafEntries)), inner, fmt.Sprintf("%s (%d)", f2(x.lookup), x.lookupMax), scan})
	}
	r.Tables = append(r.Tables, t)

	st := Table{Caption: fmt.Sprintf("Pages touched by a range scan against its length, %d keys.", largest),
		Header: []string{"value", "keys scanned", "B+tree", "B-tree, path held", "B-tree, one page held", "B-tree ÷ B+tree"}}
	for _, v := range cfg.values {
		bp, b := pair(results, largest, v)
		for _, l := range cfg.scanLens {
			st.Rows = append(st.Rows, []string{fmt.Sprintf("%d B", v), strconv.Itoa(l), f1(bp.scan[l]), f1(b.scan[l]), f1(b.scanVisits[l]), f2(b.scan[l] / bp.scan[l])})
		}
	}
	r.Tables = append(r.Tables, st)

	var lookup, scan []chart.Series
	for vi, v := range cfg.values {
		lbp := chart.Series{Name: fmt.Sprintf("B+tree, %d B values", v), Color: chart.Color(vi)}
		lb := chart.Series{Name: fmt.Sprintf("B-tree, %d B values", v), Color: chart.Color(vi), Dashed: true}
		for _, n := range cfg.sizes {
			bp, b := pair(results, n, v)
			lbp.X, lbp.Y = append(lbp.X, float64(n)), append(lbp.Y, bp.lookup)
			lb.X, lb.Y = append(lb.X, float64(n)), append(lb.Y, b.lookup)
		}
		lookup = append(lookup, lbp, lb)
		sbp := chart.Series{Name: lbp.Name, Color: chart.Color(vi)}
		sb := chart.Series{Name: lb.Name, Color: chart.Color(vi), Dashed: true}
		bp, b := pair(results, largest, v)
		for _, l := range cfg.scanLens {
			sbp.X, sbp.Y = append(sbp.X, float64(l)), append(sbp.Y, bp.scan[l])
			sb.X, sb.Y = append(sb.X, float64(l)), append(sb.Y, b.scan[l])
		}
		scan = append(scan, sbp, sb)
	}
	charts := []struct {
		file, caption string
		line          chart.Line
	}{
		{"lookup.svg", "mean pages touched by a point lookup against the number of keys (solid: B+tree, dashed: B-tree)", chart.Line{
			Title: "Pages per point lookup", XLabel: "keys", YLabel: "pages per lookup", XLog: true, Series: lookup}},
		{"scan.svg", fmt.Sprintf("mean pages touched by a range scan against its length, %d keys (B-tree with its path held)", largest), chart.Line{
			Title: "Pages per range scan", XLabel: "keys scanned", YLabel: "pages per scan", XLog: true, YLog: true, Series: scan}},
	}
	for _, c := range charts {
		svg, err := c.line.SVG()
		if err != nil {
			return nil, err
		}
		r.Charts = append(r.Charts, Chart{File: c.file, Caption: c.caption, SVG: svg})
	}
	// Pages above the leaves: what a cache must hold for one read per lookup.
	inner := chart.Bars{Title: fmt.Sprintf("Pages above the leaves, %d keys", largest), XLabel: "value size", YLabel: "internal pages", YLog: true,
		Series: []chart.BarSeries{{Name: "B+tree"}, {Name: "B-tree"}}}
	for _, v := range cfg.values {
		bp, b := pair(results, largest, v)
		inner.Categories = append(inner.Categories, fmt.Sprintf("%d B", v))
		inner.Series[0].Values = append(inner.Series[0].Values, float64(bp.internal))
		inner.Series[1].Values = append(inner.Series[1].Values, float64(b.internal))
		inner.YLog = inner.YLog && bp.internal > 0 && b.internal > 0 // a tree of one page has none
	}
	svg, err := inner.SVG()
	if err != nil {
		return nil, err
	}
	r.Charts = append(r.Charts, Chart{File: "internal.svg", SVG: svg,
		Caption: fmt.Sprintf("internal pages with %d keys: what a cache must hold so that every lookup reads one page", largest)})
	touched, misses := 0, 0
	for _, x := range results {
		touched, misses = touched+x.touched, misses+x.misses
	}
	r.Notes = append(r.Notes, fmt.Sprintf("Of the B+tree's %d page accesses measured, %d (%s) were reads from the file or the log; the rest were buffer pool hits. "+
		"The count of pages touched does not depend on the cache: what a cold cache changes is how many of them are disk reads.",
		touched, misses, pct(ratio(float64(misses), float64(touched)))))
	lo, hi := 1.0, 0.0
	for _, x := range results {
		lo, hi = min(lo, x.fill), max(hi, x.fill)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("Pages were %s to %s full (the B+tree's leaves, as db.Check reports; all of the B-tree's pages).", pct(lo), pct(hi)))
	r.Findings = treeFindings(cfg, results)
	return r, nil
}

// treeFindings explains the measured numbers in a few sentences.
func treeFindings(cfg treeConfig, results []treeResult) []string {
	largest := cfg.sizes[len(cfg.sizes)-1]
	small, large := cfg.values[0], cfg.values[len(cfg.values)-1]
	var out []string

	// Fanout and height.
	var parts []string
	for _, v := range cfg.values {
		bp, b := pair(results, largest, v)
		parts = append(parts, fmt.Sprintf("%d-byte values: at most %d children per internal page against %d, height %d against %d",
			v, bp.childCap, b.childCap, bp.height, b.height))
	}
	bpS, bS := pair(results, largest, small)
	bpL, bL := pair(results, largest, large)
	s := fmt.Sprintf("Fanout, B+tree against B-tree, and height with %d keys: %s.", largest, strings.Join(parts, "; "))
	gapS, gapL := ratio(float64(bpS.childCap), float64(bS.childCap)), ratio(float64(bpL.childCap), float64(bL.childCap))
	switch {
	case gapL > 1.5*gapS:
		s += fmt.Sprintf(" A B+tree's internal page holds only keys and child pointers, so its fanout depends on the key size alone; "+
			"a B-tree's internal entries carry their values, so its fanout falls with the value size: %s× the B-tree's with %d-byte "+
			"values, %s× with %d-byte ones.", f1(gapS), small, f1(gapL), large)
	case gapS > 1.1:
		s += fmt.Sprintf(" The B+tree's internal pages hold %s× as many children with %d-byte values and %s× with %d-byte ones.", f1(gapS), small, f1(gapL), large)
	}
	if bpL.height < bL.height {
		s += fmt.Sprintf(" With %d-byte values the B-tree needs %s more.", large, plural(bL.height-bpL.height, "level"))
	}
	out = append(out, s)

	// Point lookups.
	s = fmt.Sprintf("Point lookups, %d keys: the B+tree touches %s pages with %d-byte values and %s with %d-byte ones, "+
		"the B-tree %s and %s.", largest, f2(bpS.lookup), small, f2(bpL.lookup), large, f2(bS.lookup), f2(bL.lookup))
	shareS := float64(bS.innerEntries) / float64(bS.keys)
	s += fmt.Sprintf(" A B-tree lookup can stop early at an internal node, but only %s of its entries live there with %d-byte values "+
		"(about one for each leaf), so the early stops save %s of a page on average against its own height of %d.",
		pct(shareS), small, f2(float64(bS.height)-bS.lookup), bS.height)
	switch {
	case bL.lookup > bpL.lookup+0.5:
		s += fmt.Sprintf(" With %d-byte values its lower fanout costs more than the early stops save: %s more pages per lookup than the B+tree.", large, f2(bL.lookup-bpL.lookup))
	case bS.lookup < bpS.lookup:
		s += " Where the heights are equal the early stops make the B-tree slightly cheaper per lookup."
	}
	out = append(out, s)

	// Range scans.
	l := cfg.mainScan
	s = fmt.Sprintf("Range scans of %d keys, %d keys in the tree: the B+tree touches %s pages with %d-byte values (the path down, "+
		"then one leaf after another through the sibling links) and %s with %d-byte ones; the B-tree %s and %s with its path held, "+
		"%s and %s when it holds one page and must read a parent again after each child.",
		l, largest, f1(bpS.scan[l]), small, f1(bpL.scan[l]), large, f1(bS.scan[l]), f1(bL.scan[l]), f1(bS.scanVisits[l]), f1(bL.scanVisits[l]))
	lo, hi, worst := math.Inf(1), 0.0, 0.0
	for _, v := range cfg.values {
		bp, b := pair(results, largest, v)
		lo, hi = min(lo, ratio(b.scan[l], bp.scan[l])), max(hi, ratio(b.scan[l], bp.scan[l]))
		worst = max(worst, ratio(b.scanVisits[l], bp.scan[l]))
	}
	s += fmt.Sprintf(" With its path held the B-tree reads %s to %s× the B+tree's pages: most entries are in leaves either way, "+
		"and the extra pages are the internal nodes whose entries fall inside the range.", f2(lo), f2(hi))
	if worst > 1.1 {
		s += fmt.Sprintf(" A cursor that holds one page climbs back into those nodes after every child: up to %s× the B+tree's pages.", f2(worst))
	}
	out = append(out, s)

	// What a cache must hold for one read per lookup.
	s = fmt.Sprintf("To serve every lookup with a single page read, a cache must hold every page above the leaves: "+
		"%s (%s of the tree) for the B+tree against %d (%s) for the B-tree with %d-byte values, and %d (%s) against %d (%s) with %d-byte values.",
		plural(bpS.internal, "page"), pct(float64(bpS.internal)/float64(bpS.pages)), bS.internal, pct(float64(bS.internal)/float64(bS.pages)), small,
		bpL.internal, pct(float64(bpL.internal)/float64(bpL.pages)), bL.internal, pct(float64(bL.internal)/float64(bL.pages)), large)
	out = append(out, s)
	return out
}

// plural says "1 page", "2 pages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
