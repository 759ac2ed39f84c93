package lab

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gantry/lab/chart"
	"gantry/roadmap"
)

// squares is a small experiment that exercises the harness: it computes, draws a chart and
// explains it, like the real ones.
func squares() Experiment {
	return Experiment{
		Name:    "squares",
		Summary: "how n² grows",
		Topics:  []string{"programming-language"},
		Run: func(ctx context.Context, p Params) (*Report, error) {
			n := 10
			if p.Quick {
				n = 5
			}
			s := chart.Series{Name: "n² | n"}
			t := Table{Header: []string{"n", "n²"}}
			for i := 1; i <= n; i++ {
				s.X = append(s.X, float64(i))
				s.Y = append(s.Y, float64(i*i))
				t.Rows = append(t.Rows, []string{strconv.Itoa(i), strconv.Itoa(i * i)})
			}
			svg, err := (&chart.Line{Title: "squares", XLabel: "n", YLabel: "n²", Series: []chart.Series{s}}).SVG()
			if err != nil {
				return nil, err
			}
			return &Report{
				Title:    "Squares",
				Question: "How fast does n² grow?",
				Params:   []Param{{"n", strconv.Itoa(n)}},
				Tables:   []Table{t},
				Charts:   []Chart{{File: "squares.svg", Caption: "n² against n", SVG: svg}},
				Findings: []string{"n² reaches " + strconv.Itoa(n*n) + " at n = " + strconv.Itoa(n) + "."},
				Notes:    []string{"computed, not measured"},
			}, nil
		},
	}
}

func TestRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	path, err := Run(context.Background(), squares(), Params{Quick: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "squares", "report.md"); path != want {
		t.Errorf("report path = %q, want %q", path, want)
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Squares\n",
		"## Question\n\nHow fast does n² grow?",
		"## What it shows\n\nn² reaches 25 at n = 5.",
		"| n | n² |\n|---|---|\n| 1 | 1 |",
		"![n² against n](squares.svg)",
		"| n | 5 |",
		"(quick mode)",
		"`gantry lab run squares --quick`",
		"Roadmap topics: programming-language.",
		"| cores | ",
		"| Go | go1.",
		"| gantry | ",
		"| load average (1, 5, 15 min) | ",
		"- computed, not measured",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	checkSVG(t, filepath.Join(dir, "squares", "squares.svg"))
}

// checkSVG fails unless path holds a well-formed SVG document.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		XMLName xml.Name
		Texts   []string `xml:"text"`
	}
	if err := xml.NewDecoder(f).Decode(&doc); err != nil {
		t.Fatalf("%s does not parse as XML: %v", path, err)
	}
	if doc.XMLName.Local != "svg" || len(doc.Texts) < 4 {
		t.Errorf("%s: root %q with %d text elements, want an svg with labels", path, doc.XMLName.Local, len(doc.Texts))
	}
}

func TestRunErrors(t *testing.T) {
	failing := squares()
	failing.Run = func(ctx context.Context, p Params) (*Report, error) { return nil, errors.New("backend refused") }
	badChart := squares()
	inner := badChart.Run
	badChart.Run = func(ctx context.Context, p Params) (*Report, error) {
		r, err := inner(ctx, p)
		if err == nil {
			r.Charts[0].File = "../escape.svg"
		}
		return r, err
	}
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    Experiment
		dir  string
		want string
	}{
		{"experiment fails", failing, t.TempDir(), "experiment squares: backend refused"},
		{"chart escapes its directory", badChart, t.TempDir(), `chart file name "../escape.svg"`},
		{"directory is a file", squares(), blocked, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.e, Params{Quick: true, Dir: tt.dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one that says %q", err, tt.want)
			}
		})
	}
}

// TestRunBoundsTime checks that Run cancels an experiment that overstays its budget.
func TestRunBoundsTime(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stuck := squares()
	stuck.Run = func(ctx context.Context, p Params) (*Report, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, stuck, Params{Quick: true, Dir: t.TempDir()})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestLookup(t *testing.T) {
	for _, e := range Experiments() {
		got, err := Lookup(e.Name)
		if err != nil || got.Name != e.Name {
			t.Errorf("Lookup(%q) = %q, %v", e.Name, got.Name, err)
		}
	}
	_, err := Lookup("nope")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Lookup(nope) err = %v, want ErrUnknown naming it", err)
	}
	for _, e := range Experiments() {
		if !strings.Contains(err.Error(), e.Name) {
			t.Errorf("the error %q does not list %q", err, e.Name)
		}
	}
}

func TestExperimentsAreDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Experiments() {
		if e.Name == "" || e.Summary == "" || len(e.Topics) == 0 || e.Run == nil {
			t.Errorf("experiment %+v lacks a name, summary, topics or Run", e)
		}
		if seen[e.Name] {
			t.Errorf("two experiments are called %q", e.Name)
		}
		seen[e.Name] = true
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	r := &Report{Title: "t", Tables: []Table{{Header: []string{"a"}, Rows: [][]string{{"x|y\nz"}}}}}
	if md := string(r.Markdown()); !strings.Contains(md, `| x\|y z |`) {
		t.Errorf("cell not escaped:\n%s", md)
	}
}

func TestBusy(t *testing.T) {
	tests := []struct {
		load  string
		cores int
		want  bool
	}{
		{"0.50 0.40 0.30", 2, false},
		{"2.00 1.00 1.00", 2, false},
		{"9.76 9.24 6.78", 2, true},
		{"unknown", 2, false},
		{"", 2, false},
	}
	for _, tt := range tests {
		if got := busy(tt.load, tt.cores); got != tt.want {
			t.Errorf("busy(%q, %d) = %v, want %v", tt.load, tt.cores, got, tt.want)
		}
	}
}

// TestTopicsExist checks that every experiment names real roadmap topics, and that each
// topic that names an experiment of this lab as its own is measured by it.
func TestTopicsExist(t *testing.T) {
	for _, e := range Experiments() {
		for _, id := range e.Topics {
			if _, ok := roadmap.Lookup(id); !ok {
				t.Errorf("experiment %s names topic %q, which the roadmap does not have", e.Name, id)
			}
		}
	}
	for _, topic := range roadmap.All() {
		e, err := Lookup(topic.Experiment)
		if err != nil {
			continue // an experiment not written yet
		}
		if !slices.Contains(e.Topics, topic.ID) {
			t.Errorf("topic %s names experiment %s, which does not list the topic", topic.ID, e.Name)
		}
	}
}
