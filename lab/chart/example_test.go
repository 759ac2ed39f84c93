package chart_test

import (
	"bufio"
	"bytes"
	"fmt"

	"gantry/lab/chart"
)

func ExampleLine() {
	c := &chart.Line{
		Title:  "p99 against fan-out",
		XLabel: "backends per request", YLabel: "latency (ms)",
		XLog: true, YLog: true,
		Series: []chart.Series{
			{Name: "p99", X: []float64{1, 10, 100}, Y: []float64{2, 52, 61}},
			{Name: "p99 hedged", X: []float64{1, 10, 100}, Y: []float64{2, 4, 9}, Color: chart.Color(0), Dashed: true},
		},
		Refs: []chart.Ref{{Value: 50, Label: "a slow call"}},
	}
	svg, err := c.SVG()
	if err != nil {
		fmt.Println(err)
		return
	}
	// The document starts with its size and its title; write it to a .svg file to view it.
	s := bufio.NewScanner(bytes.NewReader(svg))
	for range 2 {
		s.Scan()
		fmt.Println(s.Text())
	}
	// Output:
	// <svg xmlns="http://www.w3.org/2000/svg" width="720" height="420" viewBox="0 0 720 420" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
	// <title>p99 against fan-out</title>
}

func ExampleBars() {
	c := &chart.Bars{
		Title:      "Keys moved when a node joins",
		YLabel:     "keys moved (%)",
		Categories: []string{"modulo", "ring", "jump"},
		Series:     []chart.BarSeries{{Name: "10 → 11 nodes", Values: []float64{90.9, 10.5, 9.1}}},
		Refs:       []chart.Ref{{Value: 9.09, Label: "ideal"}},
	}
	svg, err := c.SVG()
	fmt.Println(len(svg) > 0, err)

	_, err = (&chart.Bars{Categories: []string{"a", "b"}, Series: []chart.BarSeries{{Values: []float64{1}}}}).SVG()
	fmt.Println(err)
	// Output:
	// true <nil>
	// chart: series "" has 1 values for 2 categories
}
