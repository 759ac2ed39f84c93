package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// svgChart is what both chart types are to the tests.
type svgChart interface{ SVG() ([]byte, error) }

func goldenCharts() map[string]svgChart {
	return map[string]svgChart{
		"line-log": &Line{
			Title:  "Whole-request latency vs fan-out",
			XLabel: "fan-out N (backends)", YLabel: "latency (ms)",
			XLog: true, YLog: true,
			Series: []Series{
				{Name: "p50", X: []float64{1, 10, 100}, Y: []float64{1.1, 1.4, 2.2}},
				{Name: "p99", X: []float64{1, 10, 100}, Y: []float64{1.9, 52, 61}},
				{Name: "p99 hedged", X: []float64{1, 10, 100}, Y: []float64{1.8, 4.1, 9.7}, Color: Color(1), Dashed: true},
			},
		},
		"line-linear": &Line{
			Title:  "Throughput",
			XLabel: "clients", YLabel: "requests/s",
			Series: []Series{
				{Name: "gantry", X: []float64{1, 2, 4, 8, 16}, Y: []float64{12000, 23000, 41000, 52000, 54000}},
				{Name: "anchor", X: []float64{1, 2, 4, 8, 16}, Y: []float64{15000, 29000, 50000, 61000, 60500}},
			},
		},
		"bars": &Bars{
			Title:      "Keys moved when a node joins and leaves",
			XLabel:     "algorithm",
			YLabel:     "share of keys moved (%)",
			Categories: []string{"modulo", "ring", "jump", "rendezvous", "maglev"},
			Series: []BarSeries{
				{Name: "10 → 11 nodes", Values: []float64{90.9, 9.2, 9.1, 9.1, 9.6}},
				{Name: "11 → 10 nodes", Values: []float64{90.9, 9.2, 9.1, 9.1, 9.4}},
			},
			Refs: []Ref{{Value: 9.09, Label: "ideal 9.1%"}},
		},
		"bars-log": &Bars{
			Title:      "Lookup cost",
			YLabel:     "ns per lookup",
			YLog:       true,
			Categories: []string{"modulo", "ring (160 vnodes)", "jump", "rendezvous", "maglev"},
			Series:     []BarSeries{{Values: []float64{18, 140, 25, 310, 22}}},
		},
	}
}

// TestGolden compares each chart with its file in testdata/; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for name, c := range goldenCharts() {
		t.Run(name, func(t *testing.T) {
			got, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".svg")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the chart drawn now (go test -update rewrites it after a deliberate change)", path)
			}
		})
	}
}

// svgDoc is what TestParse reads back: every element's name, and all text in order.
type svgDoc struct {
	root     string
	elements map[string]int
	texts    []string
}

func parse(t *testing.T, b []byte) svgDoc {
	t.Helper()
	d := svgDoc{elements: map[string]int{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var inText bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if d.root == "" {
				d.root = tok.Name.Space + " " + tok.Name.Local
			}
			d.elements[tok.Name.Local]++
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				d.texts = append(d.texts, string(tok))
			}
		}
	}
	return d
}

func TestParse(t *testing.T) {
	for name, c := range goldenCharts() {
		t.Run(name, func(t *testing.T) {
			b, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			d := parse(t, b)
			if d.root != "http://www.w3.org/2000/svg svg" {
				t.Errorf("root element = %q, want svg in the SVG namespace", d.root)
			}
			var want []string // every title, axis title, legend entry and category must show
			switch c := c.(type) {
			case *Line:
				want = append(want, c.Title, c.XLabel, c.YLabel)
				for _, s := range c.Series {
					want = append(want, s.Name)
				}
				if got := d.elements["polyline"]; got != len(c.Series) {
					t.Errorf("%d polylines, want one per series (%d)", got, len(c.Series))
				}
			case *Bars:
				want = append(want, c.Title, c.XLabel, c.YLabel)
				want = append(want, c.Categories...)
				bars := 0
				for _, s := range c.Series {
					if s.Name != "" {
						want = append(want, s.Name)
					}
					bars += len(s.Values)
				}
				if got := d.elements["rect"] - 1 - legendRects(c); got != bars {
					t.Errorf("%d bars, want %d", got, bars)
				}
			}
			for _, w := range want {
				if w != "" && !slices.Contains(d.texts, w) {
					t.Errorf("no text element says %q; texts: %q", w, d.texts)
				}
			}
			if len(d.texts) < 8 {
				t.Errorf("only %d texts: the axes have no tick labels? %q", len(d.texts), d.texts)
			}
		})
	}
}

func legendRects(b *Bars) int {
	names := make([]string, len(b.Series))
	for i, s := range b.Series {
		names[i] = s.Name
	}
	if legendShown(names) {
		return len(names)
	}
	return 0
}

func TestEscaping(t *testing.T) {
	title := `p99 < 5 ms & "hedged" > 'plain'`
	c := &Bars{Title: title, YLabel: "a<b", Categories: []string{"x&y", "</svg>"},
		Series: []BarSeries{{Name: "<script>", Values: []float64{1, 2}}}}
	b, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("<script>")) || bytes.Count(b, []byte("</svg>")) != 1 {
		t.Fatalf("text is not escaped:\n%s", b)
	}
	d := parse(t, b)
	for _, w := range []string{title, "a<b", "x&y", "</svg>", "<script>"} {
		if !slices.Contains(d.texts, w) {
			t.Errorf("text %q does not read back; texts: %q", w, d.texts)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		chart svgChart
		want  string
	}{
		{"empty line", &Line{}, "no points"},
		{"empty series", &Line{Series: []Series{{Name: "a"}}}, "no points"},
		{"ragged series", &Line{Series: []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{1}}}}, "2 x values and 1 y values"},
		{"NaN", &Line{Series: []Series{{X: []float64{1}, Y: []float64{nan()}}}}, "not finite"},
		{"zero on log y", &Line{YLog: true, Series: []Series{{X: []float64{1}, Y: []float64{0}}}}, "y axis: a logarithmic axis"},
		{"negative on log x", &Line{XLog: true, Series: []Series{{X: []float64{-1}, Y: []float64{1}}}}, "x axis: a logarithmic axis"},
		{"no categories", &Bars{Series: []BarSeries{{Values: nil}}}, "no bars"},
		{"no series", &Bars{Categories: []string{"a"}}, "no bars"},
		{"short series", &Bars{Categories: []string{"a", "b"}, Series: []BarSeries{{Name: "s", Values: []float64{1}}}}, "1 values for 2 categories"},
		{"NaN reference", &Line{Series: []Series{{X: []float64{1}, Y: []float64{1}}}, Refs: []Ref{{Value: nan(), Label: "r"}}}, `reference line "r" is not finite`},
		{"zero on log bars", &Bars{YLog: true, Categories: []string{"a"}, Series: []BarSeries{{Values: []float64{0}}}}, "logarithmic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.chart.SVG()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one that says %q", err, tt.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		zero     bool
		min, max float64
		labels   string
	}{
		{0, 1, false, 0, 1, "0 0.2 0.4 0.6 0.8 1"},
		{3, 97, true, 0, 100, "0 20 40 60 80 100"},
		{0.013, 0.061, false, 0.01, 0.07, "0.01 0.02 0.03 0.04 0.05 0.06 0.07"},
		{12000, 61000, true, 0, 70000, "0 10k 20k 30k 40k 50k 60k 70k"},
		{-4, 9, false, -4, 10, "-4 -2 0 2 4 6 8 10"},
		{5, 5, true, 0, 5, "0 1 2 3 4 5"},
		{5, 5, false, 2, 8, "2 3 4 5 6 7 8"},
		{0, 0, true, 0, 1, "0 0.2 0.4 0.6 0.8 1"},
		{1.5e6, 2.5e6, false, 1.4e6, 2.6e6, "1.4M 1.6M 1.8M 2M 2.2M 2.4M 2.6M"},
	}
	for _, tt := range tests {
		a, err := newAxis(tt.lo, tt.hi, false, tt.zero)
		if err != nil {
			t.Fatal(err)
		}
		if !near(a.min, tt.min) || !near(a.max, tt.max) || labels(a) != tt.labels {
			t.Errorf("axis(%v, %v, zero=%v) = [%v, %v] %q, want [%v, %v] %q", tt.lo, tt.hi, tt.zero, a.min, a.max, labels(a), tt.min, tt.max, tt.labels)
		}
	}
}

// TestExtremeAxes checks that values at the ends of float64's range still give an axis with
// a few finite ticks, in order.
func TestExtremeAxes(t *testing.T) {
	for _, tt := range []struct{ lo, hi float64 }{
		{-1e308, 1e308}, {5e-324, 1e-323}, {1, 1 + 1e-15}, {-math.MaxFloat64, math.MaxFloat64},
	} {
		a, err := newAxis(tt.lo, tt.hi, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.ticks) < 2 || len(a.ticks) > 21 {
			t.Errorf("axis(%v, %v): %d ticks", tt.lo, tt.hi, len(a.ticks))
		}
		for i, tk := range a.ticks {
			if !finite(tk.v) || i > 0 && tk.v <= a.ticks[i-1].v {
				t.Errorf("axis(%v, %v): ticks %q not finite and rising", tt.lo, tt.hi, labels(a))
				break
			}
		}
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels string
	}{
		{1, 100, "1 2 5 10 20 50 100"},
		{15, 60, "10 20 50 100"},
		{0.3, 61, "0.1 1 10 100"},
		{1, 1, "1 2 5 10"},
		{0.002, 4e6, "0.001 0.01 0.1 1 10 100 1000 10k 100k 1M 10M"},
		{1e-20, 1e20, labelsOfDecades(-20, 20, 4)},
	}
	for _, tt := range tests {
		a, err := newAxis(tt.lo, tt.hi, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if labels(a) != tt.labels {
			t.Errorf("log axis(%v, %v) labels %q, want %q", tt.lo, tt.hi, labels(a), tt.labels)
		}
	}
}

func labels(a axis) string {
	var s []string
	for _, t := range a.ticks {
		s = append(s, t.label)
	}
	return strings.Join(s, " ")
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// labelsOfDecades returns the labels of a log axis from 10^e0 to 10^e1 every k decades.
func labelsOfDecades(e0, e1, k int) string {
	var s []string
	for e := e0; e <= e1; e += k {
		s = append(s, label(math.Pow(10, float64(e)), max(0, -e)))
	}
	return strings.Join(s, " ")
}
