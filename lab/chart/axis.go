package chart

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// An axis maps data values in [min, max] onto the pixels [p0, p1] and holds its ticks.
// min and max are the data range rounded out to whole ticks.
type axis struct {
	min, max float64
	log      bool
	p0, p1   float64
	ticks    []tick
}

type tick struct {
	v     float64
	label string
}

// wantTicks is about how many ticks a linear axis gets.
const wantTicks = 6

var errLogNonPositive = errors.New("a logarithmic axis needs values above zero")

// newAxis returns an axis that covers the data values lo..hi. A linear axis with zero set
// also covers 0, as bars and most quantities should start from zero to be read honestly.
func newAxis(lo, hi float64, log, zero bool) (axis, error) {
	if log {
		if lo <= 0 {
			return axis{}, errLogNonPositive
		}
		return logAxis(lo, hi), nil
	}
	if zero {
		lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	}
	if lo == hi { // one value: give it some room
		pad := math.Abs(lo) / 2
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
		if zero && lo < 0 && hi-pad >= 0 {
			lo = 0
		}
	}
	return linearAxis(lo, hi), nil
}

// linearAxis places ticks every 1, 2 or 5 times a power of ten.
func linearAxis(lo, hi float64) axis {
	step := niceStep((hi - lo) / (wantTicks - 1))
	a := axis{min: math.Floor(lo/step) * step, max: math.Ceil(hi/step) * step}
	if !(step > 0) || !finite(a.min) || !finite(a.max) || (a.max-a.min)/step > 20 ||
		step < 1e-9*math.Max(math.Abs(a.min), math.Abs(a.max)) {
		// Values at the ends of float64's range or below its precision: no nice ticks,
		// just the two ends.
		return axis{min: lo, max: hi, ticks: []tick{
			{lo, strconv.FormatFloat(lo, 'g', 4, 64)}, {hi, strconv.FormatFloat(hi, 'g', 4, 64)},
		}}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	n := int(math.Round((a.max - a.min) / step))
	for i := 0; i <= n; i++ {
		v := a.min + float64(i)*step
		if math.Abs(v) < step/1e6 {
			v = 0 // no "-0" and no 1e-17 from rounding
		}
		a.ticks = append(a.ticks, tick{v, label(v, decimals)})
	}
	return a
}

// niceStep rounds raw to the nearest of 1, 2 or 5 times a power of ten, which gives an axis
// between about 4 and 9 ticks.
func niceStep(raw float64) float64 {
	exp := math.Floor(math.Log10(raw))
	f := raw / math.Pow(10, exp)
	switch {
	case f < 1.5:
		f = 1
	case f < 3:
		f = 2
	case f < 7:
		f = 5
	default:
		f = 10
	}
	return f * math.Pow(10, exp)
}

// logAxis spans whole decades, with ticks at each power of ten, and also at 2 and 5 times
// it when the axis spans no more than two decades (else the labels would crowd). Values near
// the ends of float64's range (1e-308, 1e308) can make min or max 0 or +Inf: the axis then
// places nothing sensibly, but still draws.
func logAxis(lo, hi float64) axis {
	e0 := math.Floor(math.Log10(lo))
	e1 := math.Ceil(math.Log10(hi))
	if e1 == e0 {
		e1++
	}
	// Beyond a dozen decades, label every k'th.
	k := math.Max(1, math.Ceil((e1-e0)/12))
	e1 = e0 + k*math.Ceil((e1-e0)/k)
	a := axis{min: math.Pow(10, e0), max: math.Pow(10, e1), log: true}
	mults := []float64{1}
	if e1-e0 <= 2 {
		mults = []float64{1, 2, 5}
	}
	for e := e0; e <= e1; e += k {
		for _, m := range mults {
			if e == e1 && m > 1 {
				break
			}
			v := m * math.Pow(10, e)
			a.ticks = append(a.ticks, tick{v, label(v, max(0, -int(e)))})
		}
	}
	return a
}

// label formats a tick value: large values with an SI suffix (250k, 1.5M), others with the
// given number of decimals.
func label(v float64, decimals int) string {
	a := math.Abs(v)
	for _, u := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e4, "k"}} {
		if a >= u.f {
			f := u.f
			if u.s == "k" {
				f = 1e3
			}
			return strconv.FormatFloat(v/f, 'g', 4, 64) + u.s
		}
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// place sets the pixel range the axis maps onto.
func (a *axis) place(p0, p1 float64) { a.p0, a.p1 = p0, p1 }

// pos returns the pixel of value v.
func (a *axis) pos(v float64) float64 {
	var t float64
	if a.log {
		t = (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	} else {
		t = (v - a.min) / (a.max - a.min)
	}
	return a.p0 + t*(a.p1-a.p0)
}
