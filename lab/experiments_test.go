package lab

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestExperimentsQuick runs every experiment in quick mode through Run, as `gantry lab run
// NAME --quick` does, and checks the report and its charts.
func TestExperimentsQuick(t *testing.T) {
	for _, e := range Experiments() {
		t.Run(e.Name, func(t *testing.T) {
			dir := t.TempDir()
			start := time.Now()
			path, err := Run(context.Background(), e, Params{Quick: true, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s --quick took %v", e.Name, time.Since(start))
			md, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"## Question", "## What it shows", "## Results", "## Parameters", "## Environment"} {
				if !strings.Contains(string(md), want) {
					t.Errorf("report lacks %q", want)
				}
			}
			svgs, _ := filepath.Glob(filepath.Join(dir, e.Name, "*.svg"))
			if len(svgs) == 0 {
				t.Fatal("no SVG chart")
			}
			for _, svg := range svgs {
				if !strings.Contains(string(md), "]("+filepath.Base(svg)+")") {
					t.Errorf("report does not link %s", filepath.Base(svg))
				}
				checkSVG(t, svg)
			}
		})
	}
}

// checkNoLeak fails if goroutines started during the test are still running shortly after.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
