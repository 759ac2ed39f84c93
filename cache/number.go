package cache

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// parseInt parses b as Redis's string2ll: an optional minus, digits without a
// leading zero, within int64; nothing else (no plus, no spaces).
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseFloat parses b as Redis's string2d does (ZADD's scores, ZINCRBY): strtod
// over the whole string, no leading space, not NaN, and not out of range: a
// value that overflows to ±inf or a non-zero one that underflows to 0 is
// refused, as strtod then sets ERANGE.
func parseFloat(b []byte) (float64, bool) {
	if len(b) <= 15 {
		// An integer of up to 15 digits is a float64 exactly, as strtod gives
		// it: the common score needs no float parsing.
		if n, ok := parseInt(b); ok {
			return float64(n), true
		}
	}
	f, erange, ok := strtod(b)
	return f, ok && !erange
}

// strtod parses the whole of b as C's strtod; erange reports what strtod flags
// with ERANGE: an overflow (f is ±inf) or a non-zero value that underflows to 0.
func strtod(b []byte) (f float64, erange, ok bool) {
	if len(b) == 0 || isSpace(b[0]) || isSpace(b[len(b)-1]) {
		return 0, false, false
	}
	f, err := strconv.ParseFloat(cHex(string(b)), 64)
	switch {
	case err != nil:
		var ne *strconv.NumError
		if asNumErr(err, &ne) && ne.Err == strconv.ErrRange {
			return f, true, true
		}
		return 0, false, false
	case math.IsNaN(f):
		return 0, false, false
	case f == 0 && underflows(string(b)):
		return 0, true, true
	}
	return f, false, true
}

// underflows reports whether s, a number that parsed as 0, has a non-zero
// mantissa: "1e-400" or "0x1p-2000", not "0.0e-400".
func underflows(s string) bool {
	s = strings.TrimLeft(s, "+-")
	exp := "eE"
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, exp = s[2:], "pP"
	}
	if i := strings.IndexAny(s, exp); i >= 0 {
		s = s[:i]
	}
	return strings.ContainsAny(s, "123456789abcdefABCDEF")
}

// cHex adds the binary exponent Go needs to a C hex float without one ("0x10"
// is 16 to strtod; Go's ParseFloat wants "0x10p0").
func cHex(s string) string {
	t := strings.TrimLeft(s, "+-")
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && !strings.ContainsAny(t, "pP") {
		return s + "p0"
	}
	return s
}

// parseRangeFloat parses a score range bound as Redis's zslParseRange does with
// strtod: leading blanks are skipped, an empty string is 0, and a value out of
// range is taken as strtod gives it (±inf, or 0), since ERANGE is not checked.
func parseRangeFloat(b []byte) (float64, bool) {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, true
	}
	f, _, ok := strtod(b)
	return f, ok
}

func asNumErr(err error, ne **strconv.NumError) bool {
	e, ok := err.(*strconv.NumError)
	*ne = e
	return ok
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// longDouble is the precision of the x87 long double that Redis's INCRBYFLOAT and
// HINCRBYFLOAT compute in: with it, 0.1+0.2 gives "0.3", as Redis does.
const longDouble = 64

// parseLongDouble parses b for INCRBYFLOAT.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || isSpace(b[0]) {
		return nil, false
	}
	s := string(b)
	if strings.Contains(strings.ToLower(s), "nan") {
		return nil, false
	}
	if h := cHex(s); h != s || strings.ContainsAny(s, "xX") {
		v, err := strconv.ParseFloat(h, 64) // hex floats are exact in a float64
		if err != nil {
			return nil, false
		}
		return new(big.Float).SetPrec(longDouble).SetFloat64(v), true
	}
	if t := strings.TrimLeft(s, "+-"); strings.EqualFold(t, "infinity") {
		s = s[:len(s)-len(t)] + "inf" // strtold's other spelling
	}
	f, _, err := big.ParseFloat(s, 10, longDouble, big.ToNearestEven)
	if err != nil {
		return nil, false
	}
	// Past the long double's range strtold sets ERANGE, and Redis calls the
	// value not a valid float (overflow to ±inf, or underflow to 0).
	if e := f.MantExp(nil); !f.IsInf() && f.Sign() != 0 && (e > 16384 || e < -16444) {
		return nil, false
	}
	return f, true
}

// formatLongDouble prints f as Redis's ld2string(LD_STR_HUMAN): "%.17Lf" without
// trailing zeros.
func formatLongDouble(f *big.Float) string {
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// longDoubleOverflows reports whether f is past the long double's range, where
// Redis would get infinity.
func longDoubleOverflows(f *big.Float) bool {
	return f.IsInf() || f.MantExp(nil) > 16384
}

// addLongDouble adds b to a, reporting false where Redis would get NaN or infinity.
func addLongDouble(a, b *big.Float) bool {
	if a.IsInf() || b.IsInf() {
		return false
	}
	a.Add(a, b)
	return !longDoubleOverflows(a)
}
