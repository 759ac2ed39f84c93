package lab

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// smallTrees is a btree-vs-bplustree workload small enough for -race on a busy machine,
// still large enough for three levels with the largest values.
func smallTrees() treeConfig {
	c := treeConfigFor(true)
	c.sizes = []int{300, 3000}
	c.values = []int{16, 900}
	c.lookups, c.scans = 100, 10
	return c
}

func TestBTreeVsBPlusTree(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := smallTrees()
	results, err := measureTrees(context.Background(), Params{Logger: discard()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, before) // every database closed
	if len(results) != 2*len(cfg.sizes)*len(cfg.values) {
		t.Fatalf("%d results", len(results))
	}
	for _, n := range cfg.sizes {
		for _, v := range cfg.values {
			bp, b := pair(results, n, v)
			if bp.tree != "B+tree" || b.tree != "B-tree" {
				t.Fatalf("%d×%d B: results %q and %q", n, v, bp.tree, b.tree)
			}
			for _, x := range []treeResult{bp, b} {
				// A lookup that ends in a leaf touches one page per level; a B-tree's may end higher.
				if x.lookupMax != x.height || x.lookup > float64(x.height) || x.lookup < 1 {
					t.Errorf("%s %d×%d B: lookups touch %.2f pages (max %d), height %d", x.tree, n, v, x.lookup, x.lookupMax, x.height)
				}
				if x.tree == "B+tree" && x.lookup != float64(x.height) {
					t.Errorf("B+tree %d×%d B: every lookup should touch the height %d, mean %.2f", n, v, x.height, x.lookup)
				}
				if x.pages < x.internal+1 || x.fill <= 0.25 || x.fill > 1 {
					t.Errorf("%s %d×%d B: %d pages, %d internal, fill %.2f", x.tree, n, v, x.pages, x.internal, x.fill)
				}
				// A scan of l keys reads at least the path down and the leaves the keys fill.
				for _, l := range cfg.scanLens {
					lo := float64(x.height-1) + float64(min(l, n))/(x.leafEntries*1.5)
					if x.scan[l] < lo {
						t.Errorf("%s %d×%d B: a scan of %d touched %.1f pages, below %.1f", x.tree, n, v, l, x.scan[l], lo)
					}
					if x.scanVisits != nil && x.scanVisits[l] < x.scan[l] {
						t.Errorf("%s: %.1f visits below %.1f distinct pages", x.tree, x.scanVisits[l], x.scan[l])
					}
				}
			}
			// The B+tree's internal pages hold no values, so its fanout is higher.
			if bp.childCap <= b.childCap || bp.leafCap < b.leafCap {
				t.Errorf("%d×%d B: B+tree holds %d children and %d entries a page, B-tree %d and %d", n, v, bp.childCap, bp.leafCap, b.childCap, b.leafCap)
			}
			for _, x := range []treeResult{bp, b} {
				if x.fanout > float64(x.childCap) || x.leafEntries > float64(x.leafCap)+1 { // +1: the catalog's entry
					t.Errorf("%s %d×%d B: mean %.1f children and %.1f entries, more than a page holds (%d, %d)", x.tree, n, v, x.fanout, x.leafEntries, x.childCap, x.leafCap)
				}
			}
		}
	}
	// Large values shrink the B-tree's fanout far more than the B+tree's.
	bpS, bS := pair(results, 3000, 16)
	bpL, bL := pair(results, 3000, 900)
	if bpL.childCap != bpS.childCap || bL.childCap*3 > bS.childCap || bL.height <= bpL.height {
		t.Errorf("fanout %d and %d (B+tree), %d and %d (B-tree); heights %d and %d with 900-byte values",
			bpS.childCap, bpL.childCap, bS.childCap, bL.childCap, bpL.height, bL.height)
	}

	// The report is built from these numbers.
	r, err := treeReport(cfg, results)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Tables[0].Rows), len(results); got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	for i, x := range results {
		row := r.Tables[0].Rows[i]
		if row[2] != x.tree || row[3] != strconv.Itoa(x.height) || row[5] != fmt.Sprintf("%d (%s)", x.childCap, f1(x.fanout)) || !strings.HasPrefix(row[8], f2(x.lookup)) {
			t.Errorf("row %v does not match %+v", row, x)
		}
	}
	text := strings.Join(r.Findings, "\n")
	for _, want := range []string{
		"900-byte values: at most " + strconv.Itoa(bpL.childCap) + " children per internal page against " + strconv.Itoa(bL.childCap),
		"the B+tree touches " + f2(bpS.lookup) + " pages",
		"With its path held the B-tree reads",
		"for the B+tree against " + strconv.Itoa(bS.internal),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
}

func TestBTreeVsBPlusTreeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runTrees(ctx, Params{Logger: discard()}, smallTrees())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
