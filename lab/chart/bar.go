package chart

import (
	"errors"
	"fmt"
	"math"
)

// Bars is a grouped bar chart: one group per category along the X axis, and in each group
// one bar per series.
type Bars struct {
	Title         string
	XLabel        string // title of the category axis
	YLabel        string // title of the value axis, with the unit
	YLog          bool   // logarithmic value axis; every value must be above zero
	Categories    []string
	Series        []BarSeries
	Refs          []Ref // horizontal reference lines
	Width, Height int   // in pixels; 0 means 720×420
}

// A BarSeries is one bar in each group: Values[i] belongs to Categories[i].
type BarSeries struct {
	Name   string
	Values []float64
}

// SVG returns the chart as an SVG document. It fails when there is nothing to draw, when a
// series does not have one value per category, or when a value is not finite or, on a log
// axis, not above zero.
func (b *Bars) SVG() ([]byte, error) {
	if len(b.Categories) == 0 || len(b.Series) == 0 {
		return nil, errors.New("chart: no bars to draw")
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	names := make([]string, len(b.Series))
	for i, s := range b.Series {
		names[i] = s.Name
		if len(s.Values) != len(b.Categories) {
			return nil, fmt.Errorf("chart: series %q has %d values for %d categories", s.Name, len(s.Values), len(b.Categories))
		}
		for j, v := range s.Values {
			if !finite(v) {
				return nil, fmt.Errorf("chart: series %q value %d is not finite: %v", s.Name, j, v)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	lo, hi, err := refRange(b.Refs, lo, hi)
	if err != nil {
		return nil, err
	}
	if b.YLog && lo > 0 {
		// A bar's length must show: start the axis at least a factor 3 below the shortest,
		// or a value just above a power of ten would get no bar at all.
		lo /= 3
	}
	ya, err := newAxis(lo, hi, b.YLog, true)
	if err != nil {
		return nil, fmt.Errorf("chart: y axis: %w", err)
	}
	f := layout(b.Width, b.Height, names)
	group := (f.right - f.left) / float64(len(b.Categories))
	bar := group * 0.8 / float64(len(b.Series))
	// Category labels that would overlap their neighbours are set at a slant, and the plot
	// gives up the height they need (up to a quarter of the chart).
	widest := 0.0
	for _, name := range b.Categories {
		widest = max(widest, textWidth(name, tickSize))
	}
	slant := widest > group-4
	if slant {
		f.bottom -= min(widest/2, float64(f.h)/4)
	}
	ya.place(f.bottom, f.top)

	c := newCanvas(f.w, f.h, b.Title)
	f.yTicks(c, &ya)
	f.decorate(c, b.Title, b.XLabel, b.YLabel)
	for i, name := range b.Categories {
		x := f.left + group*(float64(i)+0.5)
		c.line(x, f.bottom, x, f.bottom+5, "#333333", 1)
		if slant {
			y := f.bottom + 16
			c.text(x, y, "end", tickSize, name, ` transform="rotate(-30 `+num(x)+` `+num(y)+`)"`)
		} else {
			c.text(x, f.bottom+19, "middle", tickSize, name, "")
		}
	}
	// Bars grow from zero, or from the bottom of a log axis.
	base := f.bottom
	if !ya.log {
		base = ya.pos(0)
	}
	for i, s := range b.Series {
		fmt.Fprintf(c, `<g class="series" fill="%s">`+"\n", color(i))
		for j, v := range s.Values {
			x := f.left + group*(float64(j)+0.1) + bar*float64(i)
			y := ya.pos(v)
			top, height := math.Min(y, base), math.Abs(base-y)
			fmt.Fprintf(c, `<rect x="%s" y="%s" width="%s" height="%s"><title>%s, %s: %s</title></rect>`+"\n",
				num(x+1), num(top), num(math.Max(bar-2, 1)), num(height), esc(b.Categories[j]), esc(s.Name), value(v))
		}
		c.WriteString("</g>\n")
	}
	if !ya.log && ya.min < 0 { // a zero line when bars go both ways
		c.line(f.left, base, f.right, base, "#333333", 1)
	}
	f.refs(c, &ya, b.Refs)
	f.legend(c, names, func(i int, x, y float64) {
		fmt.Fprintf(c, `<rect x="%s" y="%s" width="24" height="12" fill="%s"/>`+"\n", num(x), num(y-6), color(i))
	})
	return c.end(), nil
}
