package chart

import (
	"errors"
	"fmt"
	"math"
)

// A Line is a line chart: one polyline with point markers per series.
type Line struct {
	Title          string
	XLabel, YLabel string // axis titles, with the unit: "fan-out (backends)", "latency (ms)"
	XLog, YLog     bool   // logarithmic axes; every value on them must be above zero
	Series         []Series
	Refs           []Ref // horizontal reference lines
	Width, Height  int   // in pixels; 0 means 720×420
}

// A Series is one named line: the points (X[i], Y[i]).
type Series struct {
	Name string
	X, Y []float64
	// Color is an SVG colour ("#0072B2"); "" picks the series' colour from the palette by
	// its index. Series that belong together (p99 with and without a change) can share a
	// colour and differ by Dashed.
	Color  string
	Dashed bool
}

// style returns the stroke colour and the dash attribute of series i.
func (s *Series) style(i int) (stroke, dashAttr string) {
	stroke, dashAttr = color(i), dash(i)
	if s.Color != "" {
		stroke = s.Color
	}
	if s.Dashed {
		dashAttr = ` stroke-dasharray="7 4"`
	}
	return stroke, dashAttr
}

// SVG returns the chart as an SVG document. It fails when there is nothing to draw, when a
// series' X and Y differ in length, or when a value is not finite or, on a log axis, not
// above zero.
func (l *Line) SVG() ([]byte, error) {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	names := make([]string, len(l.Series))
	for i, s := range l.Series {
		names[i] = s.Name
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("chart: series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) {
				return nil, fmt.Errorf("chart: series %q point %d is not finite: (%v, %v)", s.Name, j, x, y)
			}
			xlo, xhi, ylo, yhi = math.Min(xlo, x), math.Max(xhi, x), math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	if xlo > xhi {
		return nil, errors.New("chart: no points to draw")
	}
	xa, err := newAxis(xlo, xhi, l.XLog, false)
	if err != nil {
		return nil, fmt.Errorf("chart: x axis: %w", err)
	}
	ylo, yhi, err = refRange(l.Refs, ylo, yhi)
	if err != nil {
		return nil, err
	}
	ya, err := newAxis(ylo, yhi, l.YLog, true)
	if err != nil {
		return nil, fmt.Errorf("chart: y axis: %w", err)
	}
	f := layout(l.Width, l.Height, names)
	xa.place(f.left, f.right)
	ya.place(f.bottom, f.top)

	c := newCanvas(f.w, f.h, l.Title)
	f.yTicks(c, &ya)
	for _, t := range xa.ticks {
		x := xa.pos(t.v)
		if x != f.left {
			c.line(x, f.top, x, f.bottom, "#e3e3e3", 1)
		}
		c.line(x, f.bottom, x, f.bottom+5, "#333333", 1)
		c.text(x, f.bottom+19, "middle", tickSize, t.label, "")
	}
	f.decorate(c, l.Title, l.XLabel, l.YLabel)
	for i, s := range l.Series {
		stroke, dashAttr := s.style(i)
		fmt.Fprintf(c, `<g class="series" fill="%s" stroke="%s">`+"\n", esc(stroke), esc(stroke))
		c.WriteString(`<polyline fill="none" stroke-width="2"` + dashAttr + ` points="`)
		for j := range s.X {
			if j > 0 {
				c.WriteByte(' ')
			}
			c.WriteString(num(xa.pos(s.X[j])) + "," + num(ya.pos(s.Y[j])))
		}
		c.WriteString(`"/>` + "\n")
		for j := range s.X {
			fmt.Fprintf(c, `<circle cx="%s" cy="%s" r="3.5"><title>%s: (%s, %s)</title></circle>`+"\n",
				num(xa.pos(s.X[j])), num(ya.pos(s.Y[j])), esc(s.Name), value(s.X[j]), value(s.Y[j]))
		}
		c.WriteString("</g>\n")
	}
	f.refs(c, &ya, l.Refs)
	f.legend(c, names, func(i int, x, y float64) {
		stroke, dashAttr := l.Series[i].style(i)
		fmt.Fprintf(c, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", num(x), num(y), num(x+24), num(y), esc(stroke), dashAttr)
		fmt.Fprintf(c, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", num(x+12), num(y), esc(stroke))
	})
	return c.end(), nil
}

// value formats a data value for a tooltip.
func value(v float64) string {
	return fmt.Sprintf("%.4g", v)
}
