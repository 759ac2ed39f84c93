package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"
)

// FuzzCharts draws charts from arbitrary text and numbers: each must be an error or an SVG
// document that parses, never a panic or broken XML.
func FuzzCharts(f *testing.F) {
	f.Add("title", "x", "<&>", 1.0, 2.0, 3.0, false)
	f.Add("", "", "", 0.0, 0.0, 0.0, true)
	f.Add("\x00\xff", "]]>", "'\"", -1e300, 1e300, 5e-324, false)
	f.Add("log", "a", "b", 0.001, 1e9, 7.0, true)
	f.Fuzz(func(t *testing.T, title, name, cat string, a, b, c float64, log bool) {
		charts := []interface{ SVG() ([]byte, error) }{
			&Line{Title: title, XLabel: name, YLabel: cat, XLog: log, YLog: log,
				Series: []Series{{Name: name, X: []float64{a, b, c}, Y: []float64{c, a, b}}}, Refs: []Ref{{Value: b, Label: cat}}},
			&Bars{Title: title, YLabel: name, YLog: log, Categories: []string{cat, name},
				Series: []BarSeries{{Name: name, Values: []float64{a, b}}, {Name: cat, Values: []float64{c, a}}}},
		}
		for _, ch := range charts {
			svg, err := ch.SVG()
			if err != nil {
				continue
			}
			d := xml.NewDecoder(bytes.NewReader(svg))
			for {
				_, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("SVG does not parse: %v\n%s", err, svg)
				}
			}
		}
	})
}
