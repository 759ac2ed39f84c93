package roadmap

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A roadmapLine is one numbered topic line of the roadmap, with the section it sits in.
type roadmapLine struct {
	section Section
	title   string
}

func (l roadmapLine) String() string { return fmt.Sprintf("%s: %q", l.section, l.title) }

// sectionOf maps a heading of ROADMAP.md to the section it opens.
func sectionOf(heading string) (Section, bool) {
	h := strings.ToLower(heading)
	switch {
	case strings.Contains(h, "topics that is necessary"):
		return Necessary, true
	case strings.Contains(h, "( beginner )"):
		return Beginner, true
	case strings.Contains(h, "( intermediate )"):
		return Intermediate, true
	case strings.Contains(h, "( advanced )"):
		return Advanced, true
	case strings.Contains(h, "system design"):
		return SystemDesign, true
	}
	return "", false
}

var numbered = regexp.MustCompile(`^[0-9]+\.\s+(.*)$`)

// parseTopics reads the numbered topic lines of text and the sections their headings
// (lines starting with #) put them in. Strict is for testdata/roadmap-topics.txt, which
// holds only section headings, numbered lines and blank lines: anything else is an error
// there, so that an edit to the copy cannot silently hide a topic. Otherwise, for the
// roadmap itself, prose and lines under other headings are skipped.
func parseTopics(text string, strict bool) ([]roadmapLine, error) {
	var (
		lines   []roadmapLine
		section Section
	)
	for i, line := range strings.Split(text, "\n") {
		m := numbered.FindStringSubmatch(line)
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#"):
			s, ok := sectionOf(line)
			if !ok && strict {
				return nil, fmt.Errorf("line %d: heading %q names no section", i+1, line)
			}
			section = s
		case m != nil && section != "":
			lines = append(lines, roadmapLine{section, strings.TrimSpace(m[1])})
		case strict:
			return nil, fmt.Errorf("line %d: neither a section heading nor a numbered topic under one: %q", i+1, line)
		}
	}
	return lines, nil
}

func testdataTopics(t *testing.T) []roadmapLine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "roadmap-topics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := parseTopics(string(data), true)
	if err != nil {
		t.Fatalf("testdata/roadmap-topics.txt: %v", err)
	}
	return lines
}

func entries() []roadmapLine {
	var lines []roadmapLine
	for _, tp := range All() {
		lines = append(lines, roadmapLine{tp.Section, strings.TrimSpace(tp.Title)})
	}
	return lines
}

// TestEveryRoadmapTopicHasAnEntry checks both ways that the data and the roadmap's topic
// lines agree, title by title within each section (the same title may sit in two sections).
func TestEveryRoadmapTopicHasAnEntry(t *testing.T) {
	want := testdataTopics(t)
	if len(want) < 80 {
		t.Fatalf("testdata has %d topics; the roadmap has more than 80, so the parser lost some", len(want))
	}
	count := make(map[roadmapLine]int)
	for _, l := range want {
		count[l]++
	}
	for _, l := range entries() {
		count[l]--
	}
	for l, c := range count {
		switch {
		case c > 0:
			t.Errorf("roadmap topic %v has no entry in topics.go", l)
		case c < 0:
			t.Errorf("entry %v is not a topic line of testdata/roadmap-topics.txt", l)
		}
	}
}

func TestEntriesAreInRoadmapOrder(t *testing.T) {
	want, got := testdataTopics(t), entries()
	if len(want) != len(got) {
		t.Skipf("TestEveryRoadmapTopicHasAnEntry reports the difference (%d lines, %d entries)", len(want), len(got))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("entry %d is %v; the roadmap has %v there", i, got[i], want[i])
		}
	}
}

// TestTestdataMatchesSharedRoadmap keeps testdata/roadmap-topics.txt in step with the
// roadmap itself, where it is present: ../shared/ROADMAP.md beside the module, or the
// file GANTRY_ROADMAP names.
func TestTestdataMatchesSharedRoadmap(t *testing.T) {
	path := os.Getenv("GANTRY_ROADMAP")
	if path == "" {
		path = filepath.Join(moduleRoot(t), "..", "shared", "ROADMAP.md")
		if _, err := os.Stat(path); err != nil {
			t.Skipf("no roadmap to compare with: %v", err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := parseTopics(string(data), false)
	if err != nil {
		t.Fatal(err)
	}
	want := testdataTopics(t)
	for i := 0; i < max(len(all), len(want)); i++ {
		var a, w roadmapLine
		if i < len(all) {
			a = all[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if a != w {
			t.Fatalf("testdata/roadmap-topics.txt differs from %s at topic %d: the roadmap has %v, testdata has %v", path, i+1, a, w)
		}
	}
}

var slug = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestIDsAreUniqueSlugs(t *testing.T) {
	seen := make(map[string]bool)
	for _, tp := range All() {
		if !slug.MatchString(tp.ID) {
			t.Errorf("ID %q is not a slug (lowercase words joined by single hyphens)", tp.ID)
		}
		if len(tp.ID) > 24 {
			t.Errorf("ID %q is longer than 24 characters, too wide for gantry topics' table", tp.ID)
		}
		if seen[tp.ID] {
			t.Errorf("ID %q is used twice", tp.ID)
		}
		seen[tp.ID] = true
	}
}

func TestEntriesAreComplete(t *testing.T) {
	for _, tp := range All() {
		if _, err := ParseSection(string(tp.Section)); err != nil {
			t.Errorf("%s: %v", tp.ID, err)
		}
		if _, err := ParseStatus(string(tp.Status)); err != nil {
			t.Errorf("%s: %v", tp.ID, err)
		}
		if tp.Title != strings.TrimSpace(tp.Title) || tp.Title == "" {
			t.Errorf("%s: title %q is empty or has spaces at its ends", tp.ID, tp.Title)
		}
		if tp.Summary == "" || strings.ContainsAny(tp.Summary, "\n\t") || len(tp.Summary) > 110 {
			t.Errorf("%s: the summary must be one line of at most 110 characters: %q", tp.ID, tp.Summary)
		}
		if tp.Experiment != "" && !slug.MatchString(tp.Experiment) {
			t.Errorf("%s: experiment %q is not a slug", tp.ID, tp.Experiment)
		}
		if (tp.Status == NotApplicable) != (tp.Reason != "") {
			t.Errorf("%s: status %s with reason %q: a reason goes with not-applicable, and only there", tp.ID, tp.Status, tp.Reason)
		}
		if (tp.Status == Partial) != (tp.Note != "") {
			t.Errorf("%s: status %s with note %q: a note goes with partial, and only there", tp.ID, tp.Status, tp.Note)
		}
		if tp.Status != NotApplicable && tp.Home == "" {
			t.Errorf("%s: status %s needs a home", tp.ID, tp.Status)
		}
	}
}

// TestStatusIsHonest holds "done" and "partial" to the code: the topic's home must exist
// and have tests, and a done topic's experiment must be one the lab has.
func TestStatusIsHonest(t *testing.T) {
	root := moduleRoot(t)
	for _, tp := range All() {
		if tp.Status != Done && tp.Status != Partial {
			continue
		}
		if err := checkHome(root, tp.Home); err != nil {
			t.Errorf("%s is %s, but %v", tp.ID, tp.Status, err)
		}
		if tp.Status == Done && tp.Experiment != "" {
			if err := checkLabExperiment(root, tp.Experiment); err != nil {
				t.Errorf("%s is done, but %v", tp.ID, err)
			}
		}
	}
}

// checkHome returns an error unless home is a directory of the module holding Go test
// files, or a command "gantry NAME" with cmd/gantry/NAME.go and NAME_test.go.
func checkHome(root, home string) error {
	if name, ok := strings.CutPrefix(home, "gantry "); ok {
		for _, f := range []string{name + ".go", name + "_test.go"} {
			if _, err := os.Stat(filepath.Join(root, "cmd", "gantry", f)); err != nil {
				return fmt.Errorf("its home %q has no cmd/gantry/%s", home, f)
			}
		}
		return nil
	}
	if home == "" || filepath.IsAbs(home) || strings.Contains(home, "..") {
		return fmt.Errorf("its home %q is not a directory of the module", home)
	}
	tests, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(home), "*_test.go"))
	if err != nil {
		return err
	}
	if len(tests) == 0 {
		return fmt.Errorf("its home %s/ does not exist or has no Go test files", home)
	}
	return nil
}

// checkLabExperiment returns an error unless the lab can run the experiment called name.
// For now it checks only that lab/ exists with tests; once lab/ has a registry, this is
// the place to look name up in it.
func checkLabExperiment(root, name string) error {
	if err := checkHome(root, "lab"); err != nil {
		return fmt.Errorf("experiment %q cannot be registered: %v", name, err)
	}
	return nil
}

// moduleRoot returns the directory of go.mod, found upwards from the working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func TestCheckHome(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"tested/a.go", "tested/a_test.go", "untested/a.go", "cmd/gantry/up.go", "cmd/gantry/up_test.go", "cmd/gantry/db.go"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("package x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		home string
		ok   bool
	}{
		{"tested", true},
		{"untested", false},
		{"missing", false},
		{"", false},
		{"../tested", false},
		{"gantry up", true},
		{"gantry db", false},
		{"gantry capacity", false},
	} {
		if err := checkHome(root, tc.home); (err == nil) != tc.ok {
			t.Errorf("checkHome(%q) = %v; want ok=%v", tc.home, err, tc.ok)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, want := range All() {
		got, ok := Lookup(want.ID)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", want.ID, got, ok, want)
		}
	}
	for _, id := range []string{"", "API", "consistent hashing", "nope"} {
		if tp, ok := Lookup(id); ok {
			t.Errorf("Lookup(%q) found %+v", id, tp)
		}
	}
}

func TestSelect(t *testing.T) {
	all := All()
	if got := Select(Query{}); len(got) != len(all) {
		t.Errorf("Select(Query{}) returned %d topics; want all %d", len(got), len(all))
	}
	total := 0
	for _, sec := range Sections() {
		for _, st := range Statuses() {
			q := Query{Section: sec, Status: st}
			got := Select(q)
			total += len(got)
			for _, tp := range got {
				if tp.Section != sec || tp.Status != st {
					t.Errorf("Select(%+v) returned %s (%s, %s)", q, tp.ID, tp.Section, tp.Status)
				}
			}
		}
	}
	if total != len(all) {
		t.Errorf("the section × status selections hold %d topics; want %d", total, len(all))
	}
	if n := len(Select(Query{Section: "nope"})); n != 0 {
		t.Errorf("Select with an unknown section returned %d topics", n)
	}
}

func TestAllReturnsACopy(t *testing.T) {
	a := All()
	a[0].ID = "changed"
	if All()[0].ID == "changed" {
		t.Fatal("changing All's result changed the data")
	}
}

func TestParse(t *testing.T) {
	for _, s := range Sections() {
		if got, err := ParseSection(string(s)); err != nil || got != s {
			t.Errorf("ParseSection(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range Statuses() {
		if got, err := ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Beginner", "system design", "advanced "} {
		if _, err := ParseSection(bad); err == nil || !strings.Contains(err.Error(), "necessary, beginner, intermediate, advanced, system-design") {
			t.Errorf("ParseSection(%q) = %v; want an error listing the sections", bad, err)
		}
	}
	for _, bad := range []string{"", "Done", "na", "not applicable"} {
		if _, err := ParseStatus(bad); err == nil || !strings.Contains(err.Error(), "done, partial, planned, not-applicable") {
			t.Errorf("ParseStatus(%q) = %v; want an error listing the statuses", bad, err)
		}
	}
}
