// Package chart draws the small SVG charts of the lab's reports: line charts with several
// series on linear or logarithmic axes, and grouped bar charts.
//
// A chart is a value that describes what to draw (title, axis titles, series); its SVG method
// returns a self-contained SVG document with a white background, axes with "nice" ticks
// (1, 2 and 5 times a power of ten), grid lines, tick labels, axis titles and a legend. The
// output depends only on the chart value, so it can be compared byte for byte in tests, and
// every piece of text in it is escaped.
//
// The package has no dependency beyond the standard library and knows nothing about the lab:
// values are plain float64s in whatever unit the axis title names.
package chart
