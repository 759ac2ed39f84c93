package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"gantry/roadmap"
)

// topicsWidth is the widest line the topics table may print: long titles are cut to fit.
// `gantry topics show ID` and --json always give them in full.
const topicsWidth = 120

func runTopics(ctx context.Context, s stdio, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return runTopicsShow(s, args[1:])
	}
	fs := newFlags(s, "topics", "topics [--section SECTION] [--status STATUS] [--json]\n  gantry topics show [--json] ID",
		"Topics lists every topic of the backend roadmap, grouped by section: where it lives in gantry,\n"+
			"the lab experiment that measures it, and its status today. \"gantry topics show ID\" prints one\n"+
			"topic in full. --json prints objects with the fields id, title, section, summary, home,\n"+
			"experiment, status, reason and note; empty fields are empty strings.")
	section := fs.String("section", "", "list only this section: "+strings.Join(sectionNames(), ", "))
	status := fs.String("status", "", "list only topics with this status: "+strings.Join(statusNames(), ", "))
	asJSON := fs.Bool("json", false, "print a JSON array of topics instead of a table")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	var q roadmap.Query
	if *section != "" {
		sec, err := roadmap.ParseSection(*section)
		if err != nil {
			return fs.fail(fmt.Errorf("bad --section: %w", err))
		}
		q.Section = sec
	}
	if *status != "" {
		st, err := roadmap.ParseStatus(*status)
		if err != nil {
			return fs.fail(fmt.Errorf("bad --status: %w", err))
		}
		q.Status = st
	}
	topics := roadmap.Select(q)
	if *asJSON {
		if topics == nil {
			topics = []roadmap.Topic{} // an empty array, not null
		}
		return writeJSON(s.out, topics)
	}
	return writeTopicsTable(s.out, topics, len(roadmap.All()))
}

func runTopicsShow(s stdio, args []string) error {
	fs := newFlags(s, "topics show", "topics show [--json] ID",
		"Show prints one topic of the roadmap in full. \"gantry topics\" lists the IDs.")
	asJSON := fs.Bool("json", false, "print the topic as a JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fs.fail(errors.New("missing topic ID"))
	}
	// Flags may also follow the ID: gantry topics show tls --json.
	id := fs.Arg(0)
	if err := fs.parse(fs.Args()[1:]); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	t, ok := roadmap.Lookup(id)
	if !ok {
		return fmt.Errorf("unknown topic %q; %s", id, suggest(id))
	}
	if *asJSON {
		return writeJSON(s.out, t)
	}
	return writeTopic(s.out, t)
}

// suggest returns a hint for an unknown topic ID: the IDs whose ID or title contains it.
func suggest(id string) string {
	q := strings.ToLower(strings.TrimSpace(id))
	var ids []string
	for _, t := range roadmap.All() {
		if q != "" && (strings.Contains(t.ID, q) || strings.Contains(strings.ToLower(t.Title), q)) {
			ids = append(ids, t.ID)
		}
	}
	switch {
	case len(ids) == 0:
		return `run "gantry topics" to list every ID`
	case len(ids) > 5:
		ids = append(ids[:5], "...")
	}
	return "did you mean " + strings.Join(ids, ", ") + `? ("gantry topics" lists every ID)`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTopicsTable prints topics grouped by section, then a count of them by status.
func writeTopicsTable(w io.Writer, topics []roadmap.Topic, total int) error {
	if len(topics) == 0 {
		_, err := fmt.Fprintln(w, "no topics match")
		return err
	}
	titleWidth := titleBudget(topics)
	first := true
	for _, sec := range roadmap.Sections() {
		var rows []roadmap.Topic
		for _, t := range topics {
			if t.Section == sec {
				rows = append(rows, t)
			}
		}
		if len(rows) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		fmt.Fprintf(w, "%s (%s, %d)\n", sec.Heading(), sec, len(rows))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tTITLE\tSTATUS\tHOME\tEXPERIMENT")
		for _, t := range rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.ID, cut(t.Title, titleWidth), t.Status, dash(t.Home), dash(t.Experiment))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	counts := make(map[roadmap.Status]int)
	for _, t := range topics {
		counts[t.Status]++
	}
	parts := make([]string, 0, len(roadmap.Statuses()))
	for _, st := range roadmap.Statuses() {
		parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
	}
	shown := fmt.Sprintf("%d topics", len(topics))
	if len(topics) != total {
		shown = fmt.Sprintf("%d of %d topics", len(topics), total)
	}
	_, err := fmt.Fprintf(w, "\n%s: %s\n", shown, strings.Join(parts, ", "))
	return err
}

// titleBudget returns how wide the title column may be for the table to fit topicsWidth.
func titleBudget(topics []roadmap.Topic) int {
	widths := []int{len("ID"), len("STATUS"), len("HOME"), len("EXPERIMENT")}
	longest := len("TITLE")
	for _, t := range topics {
		for i, v := range []string{t.ID, string(t.Status), dash(t.Home), dash(t.Experiment)} {
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
		}
		longest = max(longest, utf8.RuneCountInString(t.Title))
	}
	used := 2 + 4*2 // the indent, and the padding after each of the four columns before the last
	for _, n := range widths {
		used += n
	}
	return min(longest, max(topicsWidth-used, 16))
}

// cut shortens s to n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeTopic prints one topic in full, one field a line.
func writeTopic(w io.Writer, t roadmap.Topic) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", t.ID)
	fmt.Fprintf(tw, "Title\t%s\n", t.Title)
	fmt.Fprintf(tw, "Section\t%s (%s)\n", t.Section, t.Section.Heading())
	fmt.Fprintf(tw, "Summary\t%s\n", t.Summary)
	fmt.Fprintf(tw, "Home\t%s\n", dash(t.Home))
	fmt.Fprintf(tw, "Experiment\t%s\n", dash(t.Experiment))
	fmt.Fprintf(tw, "Status\t%s\n", t.Status)
	if t.Reason != "" {
		fmt.Fprintf(tw, "Reason\t%s\n", t.Reason)
	}
	if t.Note != "" {
		fmt.Fprintf(tw, "Note\t%s\n", t.Note)
	}
	return tw.Flush()
}

func sectionNames() []string {
	var names []string
	for _, s := range roadmap.Sections() {
		names = append(names, string(s))
	}
	return names
}

func statusNames() []string {
	var names []string
	for _, s := range roadmap.Statuses() {
		names = append(names, string(s))
	}
	return names
}
