package broker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSupportedAPIsDocumented checks docs/broker.md's table of supported APIs against
// what ApiVersions answers: every API listed, with its versions and the first flexible
// one (as kmsg encodes it), and nothing listed that is not offered.
func TestSupportedAPIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/broker.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Supported APIs")
	if !ok {
		t.Fatal("docs/broker.md has no Supported APIs section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := map[kmsg.Key]bool{}
	for _, line := range strings.Split(section, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 6 {
			continue
		}
		name, keyCol, versions, flex := strings.TrimSpace(cols[1]), strings.TrimSpace(cols[2]), strings.TrimSpace(cols[3]), strings.TrimSpace(cols[4])
		key, err := strconv.Atoi(keyCol)
		if err != nil {
			continue // the header and its rule
		}
		k := kmsg.Key(key)
		listed[k] = true
		v, offered := apiVersions[k]
		if !offered {
			t.Errorf("%s (key %d) is documented but not offered", name, key)
			continue
		}
		if want := fmt.Sprintf("%d–%d", v.min, v.max); versions != want {
			t.Errorf("%s: documented versions %q, offered %q", name, versions, want)
		}
		wantFlex := "none"
		r := kmsg.RequestForKey(int16(k))
		for ver := v.min; ver <= v.max; ver++ {
			r.SetVersion(ver)
			if r.IsFlexible() {
				wantFlex = strconv.Itoa(int(ver))
				break
			}
		}
		if flex != wantFlex {
			t.Errorf("%s: documented flexible from %q, kmsg says %q", name, flex, wantFlex)
		}
	}
	for k := range apiVersions {
		if !listed[k] {
			t.Errorf("%s is offered but not in docs/broker.md", k.Name())
		}
	}
}
