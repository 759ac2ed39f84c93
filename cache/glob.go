package cache

// globMatch reports whether s matches the glob pattern as Redis's stringmatchlen
// does: * any run, ? any byte, [abc] [^abc] [a-z] classes, \x a literal x.
// It backtracks only to the last star, so it runs in O(len(pattern)·len(s)): a
// hostile pattern cannot make KEYS or PSUBSCRIBE take exponential time.
func globMatch(pattern, s []byte, nocase bool) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if n, ok := matchClass(pattern[p:], s[i], nocase); ok {
					p += n
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) {
					if eqByte(pattern[p+1], s[i], nocase) {
						p += 2
						i++
						continue
					}
					break
				}
				fallthrough
			default:
				if eqByte(pattern[p], s[i], nocase) {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the class that pattern starts with ("[...]") and
// returns the class's length. An unterminated class runs to the end of the pattern.
func matchClass(pattern []byte, c byte, nocase bool) (int, bool) {
	p := 1
	not := p < len(pattern) && pattern[p] == '^'
	if not {
		p++
	}
	match := false
	for p < len(pattern) && pattern[p] != ']' {
		switch {
		case pattern[p] == '\\' && p+1 < len(pattern):
			p++
			if eqByte(pattern[p], c, nocase) {
				match = true
			}
		case p+2 < len(pattern) && pattern[p+1] == '-' && pattern[p+2] != ']':
			lo, hi := pattern[p], pattern[p+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			cc := c
			if nocase {
				lo, hi, cc = toLower(lo), toLower(hi), toLower(c)
			}
			if lo <= cc && cc <= hi {
				match = true
			}
			p += 2
		default:
			if eqByte(pattern[p], c, nocase) {
				match = true
			}
		}
		p++
	}
	if p < len(pattern) {
		p++ // the closing ]
	}
	return p, match != not
}

func eqByte(a, b byte, nocase bool) bool {
	if nocase {
		return toLower(a) == toLower(b)
	}
	return a == b
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
