package cache

import "testing"

// refMatch is a direct, exponential-time reading of Redis's stringmatchlen, used
// to check globMatch.
func refMatch(p, s []byte, nocase bool) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if refMatch(p[1:], s[i:], nocase) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
			p = p[1:]
			continue
		case '[':
			if len(s) == 0 {
				return false
			}
			n, ok := matchClass(p, s[0], nocase)
			if !ok {
				return false
			}
			p, s = p[n:], s[1:]
			continue
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
		}
		if len(s) == 0 || !eqByte(p[0], s[0], nocase) {
			return false
		}
		p, s = p[1:], s[1:]
	}
	return len(s) == 0
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"h?llo", "hello", true}, {"h*llo", "heeeello", true},
		{"h[ae]llo", "hallo", true}, {"h[ae]llo", "hillo", false}, {"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true}, {"h[b-a]llo", "hallo", true},
		{`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false}, {"*a", "bba", true}, {"[abc", "b", true}, {"user:*:name", "user:42:name", true},
	} {
		if got := globMatch([]byte(tt.p), []byte(tt.s), false); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"h*llo", "hello"}, {"a[b-d]?*\\*", "ac1*"}, {"[^x]*", "y"}, {"**a", "a"}} {
		f.Add(s[0], s[1], false)
	}
	f.Fuzz(func(t *testing.T, p, s string, nocase bool) {
		if len(p) > 12 || len(s) > 24 {
			return // the reference is exponential
		}
		if got, want := globMatch([]byte(p), []byte(s), nocase), refMatch([]byte(p), []byte(s), nocase); got != want {
			t.Fatalf("globMatch(%q, %q, %v) = %v, reference %v", p, s, nocase, got, want)
		}
	})
}
