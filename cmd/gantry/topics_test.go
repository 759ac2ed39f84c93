package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gantry/roadmap"
)

// topicsCmd runs gantry with args through run, as main does, and returns what it printed.
func topicsCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = run(context.Background(), stdio{strings.NewReader(""), &out, &errw}, args)
	return code, out.String(), errw.String()
}

// tableIDs returns the IDs in the first column of a topics table's rows.
func tableIDs(table string) []string {
	var ids []string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue // section headings, blank lines and the totals
		}
		id := strings.Fields(line)[0]
		if id != "ID" {
			ids = append(ids, id)
		}
	}
	return ids
}

func topicIDs(ts []roadmap.Topic) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	return ids
}

func TestTopicsTable(t *testing.T) {
	code, stdout, stderr := topicsCmd(t, "topics")
	if code != 0 || stderr != "" {
		t.Fatalf("gantry topics: exit %d, stderr %q", code, stderr)
	}
	all := roadmap.All()
	if got, want := tableIDs(stdout), topicIDs(all); !reflect.DeepEqual(got, want) {
		t.Errorf("table rows are\n%v\nwant every topic in roadmap order\n%v", got, want)
	}
	for _, sec := range roadmap.Sections() {
		if !strings.Contains(stdout, sec.Heading()+" ("+string(sec)+", ") {
			t.Errorf("no heading for section %s", sec)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > topicsWidth {
			t.Errorf("line is %d columns wide, more than %d: %q", n, topicsWidth, line)
		}
	}
	// Every row shows the topic's status and home, and the title or its cut start.
	for _, tp := range all {
		row := rowOf(stdout, tp.ID)
		if row == "" {
			continue // reported above
		}
		title := strings.TrimSuffix(cut(tp.Title, titleBudget(all)), "…")
		for _, want := range []string{title, " " + string(tp.Status) + " ", dash(tp.Home)} {
			if !strings.Contains(row, want) {
				t.Errorf("row of %s is %q; want it to contain %q", tp.ID, row, want)
			}
		}
	}
	if !strings.Contains(stdout, "\n"+strconv.Itoa(len(all))+" topics: ") {
		t.Errorf("no total line for %d topics in:\n%s", len(all), stdout)
	}
}

func rowOf(table, id string) string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 0 && f[0] == id {
			return line
		}
	}
	return ""
}

func TestTopicsFilters(t *testing.T) {
	tests := []struct {
		args []string
		q    roadmap.Query
	}{
		{[]string{"--section", "beginner"}, roadmap.Query{Section: roadmap.Beginner}},
		{[]string{"--section=system-design"}, roadmap.Query{Section: roadmap.SystemDesign}},
		{[]string{"--status", "not-applicable"}, roadmap.Query{Status: roadmap.NotApplicable}},
		{[]string{"--status", "planned", "--section", "advanced"}, roadmap.Query{Section: roadmap.Advanced, Status: roadmap.Planned}},
		{[]string{"--status", "partial"}, roadmap.Query{Status: roadmap.Partial}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := topicsCmd(t, append([]string{"topics"}, tt.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			want := roadmap.Select(tt.q)
			if got := tableIDs(stdout); !reflect.DeepEqual(got, topicIDs(want)) {
				t.Errorf("rows %v; want %v", got, topicIDs(want))
			}
			if len(want) == 0 {
				if !strings.Contains(stdout, "no topics match") {
					t.Errorf("an empty selection printed %q", stdout)
				}
				return
			}
			if total := len(roadmap.All()); !strings.Contains(stdout, strconv.Itoa(len(want))+" of "+strconv.Itoa(total)+" topics: ") {
				t.Errorf("no \"%d of %d topics\" line in:\n%s", len(want), total, stdout)
			}
			// A section's heading is shown exactly when the section has a selected topic.
			selected := make(map[roadmap.Section]bool)
			for _, tp := range want {
				selected[tp.Section] = true
			}
			for _, sec := range roadmap.Sections() {
				if has := strings.Contains(stdout, sec.Heading()+" ("); has != selected[sec] {
					t.Errorf("heading of %s shown = %v; the section has selected topics = %v", sec, has, selected[sec])
				}
			}
		})
	}
	// Microsoft IIS is Windows-only: it is the roadmap's one topic that cannot apply.
	if _, stdout, _ := topicsCmd(t, "topics", "--status", "not-applicable"); !reflect.DeepEqual(tableIDs(stdout), []string{"microsoft-iis"}) {
		t.Errorf("--status not-applicable listed %v; want [microsoft-iis]", tableIDs(stdout))
	}
}

func TestTopicsJSON(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []roadmap.Topic
	}{
		{nil, roadmap.All()},
		{[]string{"--section", "necessary"}, roadmap.Select(roadmap.Query{Section: roadmap.Necessary})},
		{[]string{"--status", "done", "--section", "advanced"}, roadmap.Select(roadmap.Query{Section: roadmap.Advanced, Status: roadmap.Done})},
	} {
		code, stdout, stderr := topicsCmd(t, append([]string{"topics", "--json"}, tt.args...)...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", tt.args, code, stderr)
		}
		var got []roadmap.Topic
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%v: output does not decode as an array of topics: %v\n%s", tt.args, err, stdout)
		}
		if got == nil {
			t.Errorf("%v: printed null; want an array", tt.args)
		}
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%v: decoded %d topics that differ from the %d selected", tt.args, len(got), len(tt.want))
		}
	}

	// The field names are part of the interface: check them as raw keys.
	_, stdout, _ := topicsCmd(t, "topics", "--json")
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	want := []string{"experiment", "home", "id", "note", "reason", "section", "status", "summary", "title"}
	for _, obj := range raw {
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, want) {
			t.Fatalf("object %v has keys %v; want %v", obj["id"], keys, want)
		}
	}
}

func TestTopicsShow(t *testing.T) {
	for _, tp := range roadmap.All() {
		code, stdout, stderr := topicsCmd(t, "topics", "show", tp.ID)
		if code != 0 || stderr != "" {
			t.Fatalf("show %s: exit %d, stderr %q", tp.ID, code, stderr)
		}
		for _, want := range []string{tp.ID, tp.Title, tp.Summary, string(tp.Section), string(tp.Status), dash(tp.Home), dash(tp.Experiment), tp.Reason, tp.Note} {
			if !strings.Contains(stdout, want) {
				t.Errorf("show %s printed\n%s\nwithout %q", tp.ID, stdout, want)
			}
		}
	}
	code, stdout, _ := topicsCmd(t, "topics", "show", "microsoft-iis")
	if code != 0 || !strings.Contains(stdout, "Reason") || !strings.Contains(stdout, "Windows-only") {
		t.Errorf("show microsoft-iis: exit %d, no reason in\n%s", code, stdout)
	}

	// --json before or after the ID prints the one topic as an object.
	want, _ := roadmap.Lookup("consistent-hashing")
	for _, args := range [][]string{{"--json", "consistent-hashing"}, {"consistent-hashing", "--json"}} {
		code, stdout, stderr := topicsCmd(t, append([]string{"topics", "show"}, args...)...)
		var got roadmap.Topic
		if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || got != want {
			t.Errorf("show %v: exit %d, %v, decoded %+v (stderr %q)", args, code, err, got, stderr)
		}
	}
}

func TestTopicsErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"bad section", []string{"topics", "--section", "expert"}, 2,
			[]string{`unknown section "expert"`, "necessary, beginner, intermediate, advanced, system-design", "Usage:"}},
		{"bad status", []string{"topics", "--status", "finished"}, 2,
			[]string{`unknown status "finished"`, "done, partial, planned, not-applicable", "Usage:"}},
		{"section in capitals", []string{"topics", "--section", "Beginner"}, 2, []string{`unknown section "Beginner"`}},
		{"stray argument", []string{"topics", "extra"}, 2, []string{`unexpected argument "extra"`}},
		{"unknown flag", []string{"topics", "--wide"}, 2, []string{"flag provided but not defined: -wide"}},
		{"unknown id", []string{"topics", "show", "no-such-topic"}, 1,
			[]string{`unknown topic "no-such-topic"`, `run "gantry topics" to list every ID`}},
		{"id with a hint", []string{"topics", "show", "tcp"}, 1,
			[]string{`unknown topic "tcp"`, "did you mean", "tcp-vs-udp", "tcp-handshake"}},
		{"title instead of id", []string{"topics", "show", "Consistent Hashing"}, 1, []string{"did you mean consistent-hashing?"}},
		{"show without id", []string{"topics", "show"}, 2, []string{"missing topic ID", "gantry topics show"}},
		{"show with two ids", []string{"topics", "show", "tls", "nat"}, 2, []string{`unexpected argument "nat"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := topicsCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q; want nothing", stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr = %q; want it to contain %q", stderr, want)
				}
			}
		})
	}
}

func TestTopicsHelp(t *testing.T) {
	for _, args := range [][]string{{"topics", "--help"}, {"help", "topics"}, {"topics", "show", "-h"}} {
		code, stdout, _ := topicsCmd(t, args...)
		if code != 0 || !strings.Contains(stdout, "gantry topics show") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	if _, stdout, _ := topicsCmd(t, "help"); !strings.Contains(stdout, "topics") {
		t.Errorf("gantry help does not list topics:\n%s", stdout)
	}
}
