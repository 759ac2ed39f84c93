package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Default size of a chart in pixels.
const (
	defaultWidth  = 720
	defaultHeight = 420
)

// Text sizes in pixels. charWidth is the average advance of a character of the tick font,
// used to make room for the legend and to decide whether category labels fit.
const (
	titleSize = 17
	labelSize = 14
	tickSize  = 12
	charWidth = 0.6 * tickSize
)

// palette holds the series colours: the Okabe-Ito set, which stays distinct for the common
// kinds of colour blindness, without its yellow (too pale on white).
var palette = [...]string{"#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#999999"}

// color returns the colour of series i.
func color(i int) string { return palette[i%len(palette)] }

// Color returns the i'th colour of the palette the charts use, for series that set their
// colour themselves.
func Color(i int) string { return color(i) }

// dash returns the dash pattern of series i: solid for the first round of colours, dashed
// after, so that series never look the same.
func dash(i int) string {
	if i < len(palette) {
		return ""
	}
	return ` stroke-dasharray="6 3"`
}

// canvas accumulates the elements of one SVG document.
type canvas struct {
	bytes.Buffer
}

func newCanvas(w, h int, title string) *canvas {
	c := new(canvas)
	fmt.Fprintf(c, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="%d">`+"\n", w, h, w, h, tickSize)
	fmt.Fprintf(c, "<title>%s</title>\n", esc(title))
	fmt.Fprintf(c, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	return c
}

func (c *canvas) end() []byte {
	c.WriteString("</svg>\n")
	return c.Bytes()
}

func (c *canvas) line(x1, y1, x2, y2 float64, stroke string, width float64) {
	fmt.Fprintf(c, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"/>`+"\n", num(x1), num(y1), num(x2), num(y2), stroke, num(width))
}

// text writes s at (x, y); anchor is start, middle or end, and extra holds more attributes.
func (c *canvas) text(x, y float64, anchor string, size int, s, extra string) {
	fmt.Fprintf(c, `<text x="%s" y="%s" text-anchor="%s" font-size="%d"%s>%s</text>`+"\n", num(x), num(y), anchor, size, extra, esc(s))
}

// esc escapes s for use as XML character data or inside a double-quoted attribute.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder cannot fail
	return b.String()
}

// num formats a pixel coordinate with one decimal, dropping a trailing ".0".
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// textWidth estimates the width in pixels of s set in a font of the given size.
func textWidth(s string, size int) float64 {
	return float64(len([]rune(s))) * 0.6 * float64(size)
}

// finite reports whether v is a usable number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
