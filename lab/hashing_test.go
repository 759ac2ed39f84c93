package lab

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestConsistentHashing(t *testing.T) {
	cfg := hashConfig{keys: 30_000, nodes: 10, lookups: 20 * time.Millisecond}
	r, err := runHashing(context.Background(), Params{Logger: discard()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Recompute from the table: one row per algorithm after the ideal row.
	if got, want := len(r.Tables[0].Rows), 1+len(hashAlgos()); got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	ideal := 1.0 / 11
	results := map[string]hashResult{}
	keys := hashKeys(cfg.keys)
	for _, a := range hashAlgos() {
		x, err := measureHash(context.Background(), a, keys, nodeNames(10), nodeNames(11), without(nodeNames(10), 3), cfg.lookups)
		if err != nil {
			t.Fatal(err)
		}
		results[a.name] = x
		if x.movedAdd != x.movedDel {
			t.Errorf("%s: %.4f moved on the join but %.4f back on the leave", a.name, x.movedAdd, x.movedDel)
		}
		if x.maxMean < 1 || x.minMean > 1 || x.minMean < 0 {
			t.Errorf("%s: max/mean %.3f, min/mean %.3f", a.name, x.maxMean, x.minMean)
		}
		if x.nsPerGet <= 0 || x.lookupsRun == 0 {
			t.Errorf("%s: %d lookups at %.1f ns", a.name, x.lookupsRun, x.nsPerGet)
		}
		if runtime.GOOS == "linux" && (x.cpuPerGet <= 0 || x.cpuPerGet > 1e6) {
			t.Errorf("%s: %.1f CPU ns per lookup", a.name, x.cpuPerGet)
		}
		if a.name != "modulo" && a.name != "maglev" && x.strayAdd != 0 {
			t.Errorf("%s: %.4f of keys moved between old nodes, want none", a.name, x.strayAdd)
		}
	}
	// With 30,000 keys, a share's sampling error is under 0.2%: allow 1%.
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 0.01 {
			t.Errorf("%s: %.4f, want %.4f", name, got, want)
		}
	}
	near("modulo moved on join", results["modulo"].movedAdd, 10.0/11)
	near("jump moved on join", results["jump"].movedAdd, ideal)
	near("rendezvous moved on join", results["rendezvous"].movedAdd, ideal)
	near("rendezvous moved when a middle node left", results["rendezvous"].movedMid, 0.1)
	if m := results["jump"].movedMid; m < 0.3 {
		t.Errorf("jump moved %.3f when a middle node left; renumbering should move far more than 10%%", m)
	}
	text := strings.Join(r.Findings, "\n")
	for _, want := range []string{"modulo hashing moves 90.", "jump moves", "ns with"} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q:\n%s", want, text)
		}
	}
}

func TestConsistentHashingCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runHashing(ctx, Params{Logger: discard()}, hashConfig{keys: 200_000, nodes: 10, lookups: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
