package chart

import (
	"fmt"
	"math"
)

// frame is the layout of a chart: the canvas size and the plot area inside it, with room
// left for the title, the tick labels, the axis titles and the legend.
type frame struct {
	w, h                     int
	left, right, top, bottom float64 // the plot area; top < bottom in SVG coordinates
}

// layout returns the frame of a w×h chart (0 = default) whose legend lists names.
func layout(w, h int, names []string) frame {
	if w <= 0 {
		w = defaultWidth
	}
	if h <= 0 {
		h = defaultHeight
	}
	f := frame{w: w, h: h, left: 80, top: 48, right: float64(w) - 24, bottom: float64(h) - 60}
	if legendShown(names) {
		widest := 0.0
		for _, n := range names {
			widest = max(widest, textWidth(n, tickSize))
		}
		f.right -= widest + 44
	}
	return f
}

// legendShown says whether a legend is worth drawing: not for one unnamed series.
func legendShown(names []string) bool {
	return len(names) > 1 || len(names) == 1 && names[0] != ""
}

// decorate draws the title, the axis titles and the frame of the plot area.
func (f frame) decorate(c *canvas, title, xLabel, yLabel string) {
	if title != "" {
		c.text(float64(f.w)/2, 28, "middle", titleSize, title, ` font-weight="bold"`)
	}
	if xLabel != "" {
		c.text((f.left+f.right)/2, float64(f.h)-16, "middle", labelSize, xLabel, "")
	}
	if yLabel != "" {
		y := (f.top + f.bottom) / 2
		c.text(22, y, "middle", labelSize, yLabel, ` transform="rotate(-90 22 `+num(y)+`)"`)
	}
	c.line(f.left, f.bottom, f.right, f.bottom, "#333333", 1)
	c.line(f.left, f.top, f.left, f.bottom, "#333333", 1)
}

// yTicks draws the horizontal grid lines and the labels of a vertical axis.
func (f frame) yTicks(c *canvas, a *axis) {
	for _, t := range a.ticks {
		y := a.pos(t.v)
		if y != f.bottom {
			c.line(f.left, y, f.right, y, "#e3e3e3", 1)
		}
		c.line(f.left-5, y, f.left, y, "#333333", 1)
		c.text(f.left-8, y, "end", tickSize, t.label, ` dy="0.35em"`)
	}
}

// legend draws one entry per series to the right of the plot area. marker draws the
// series' sample at (x, y).
func (f frame) legend(c *canvas, names []string, marker func(i int, x, y float64)) {
	if !legendShown(names) {
		return
	}
	c.WriteString(`<g class="legend">` + "\n")
	x := f.right + 16
	for i, n := range names {
		y := f.top + 8 + float64(i)*22
		marker(i, x, y)
		c.text(x+30, y, "start", tickSize, n, ` dy="0.35em"`)
	}
	c.WriteString("</g>\n")
}

// A Ref is a horizontal reference line across the plot: an ideal, a limit, a target.
type Ref struct {
	Value float64
	Label string // drawn above the line at its right end
}

// refRange widens lo..hi to take in the reference lines, and checks them.
func refRange(refs []Ref, lo, hi float64) (float64, float64, error) {
	for _, r := range refs {
		if !finite(r.Value) {
			return lo, hi, fmt.Errorf("chart: reference line %q is not finite: %v", r.Label, r.Value)
		}
		lo, hi = math.Min(lo, r.Value), math.Max(hi, r.Value)
	}
	return lo, hi, nil
}

// refs draws the reference lines, dashed and grey, over the data.
func (f frame) refs(c *canvas, a *axis, refs []Ref) {
	for _, r := range refs {
		y := a.pos(r.Value)
		fmt.Fprintf(c, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555555" stroke-width="1.5" stroke-dasharray="4 3"/>`+"\n",
			num(f.left), num(y), num(f.right), num(y))
		if r.Label != "" {
			c.text(f.right-4, y-5, "end", tickSize, r.Label, ` fill="#333333" stroke="#ffffff" stroke-width="4" paint-order="stroke"`)
		}
	}
}
