package balance

import (
	"slices"
	"strings"
	"testing"
)

// FuzzGet feeds arbitrary node names, weights and keys to every algorithm: Get must
// return one of the nodes (or "" when there are none), and the same one every time.
func FuzzGet(f *testing.F) {
	f.Add("a\nb\nc", []byte{1, 2, 3}, "user:1")
	f.Add("", []byte{}, "")
	f.Add("\n\n", []byte{0, 255}, "k")
	f.Add("same\nsame\nother", []byte{200, 0, 7}, "\x00\xff")
	f.Fuzz(func(t *testing.T, list string, weights []byte, key string) {
		var names []string
		if list != "" {
			names = strings.Split(list, "\n")
		}
		if len(names) > 64 {
			names = names[:64] // keep each run quick; size limits are tested elsewhere
		}
		nodes := nodesOf(names)
		for i := range nodes {
			if i < len(weights) {
				nodes[i].Weight = int(weights[i]) - 8 // some zero or negative
			}
		}
		m, err := NewMaglev(names, 251)
		if err != nil {
			t.Fatal(err)
		}
		for name, h := range map[string]Hash{
			"modulo":     NewModulo(names),
			"ring":       NewRing(nodes, 8),
			"jump":       NewJump(names),
			"rendezvous": NewRendezvous(nodes),
			"maglev":     m,
		} {
			got := h.Get(key)
			if len(names) == 0 && got != "" || len(names) > 0 && !slices.Contains(names, got) {
				t.Fatalf("%s over %q: Get(%q) = %q, not a node", name, names, key, got)
			}
			if again := h.Get(key); again != got {
				t.Fatalf("%s: Get(%q) gave %q then %q", name, key, got, again)
			}
		}
	})
}
