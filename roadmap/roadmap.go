package roadmap

import (
	"fmt"
	"strings"
)

// A Section is one part of the roadmap. Its value is the name used on the command line
// and in JSON.
type Section string

// The sections, in roadmap order.
const (
	Necessary    Section = "necessary"     // "Topics that is necessary for a Backend Engineer"
	Beginner     Section = "beginner"      // Backend Engineering (Beginner), Hussein Nasser
	Intermediate Section = "intermediate"  // Backend Engineering (Intermediate), Hussein Nasser
	Advanced     Section = "advanced"      // Backend Engineering (Advanced), Hussein Nasser
	SystemDesign Section = "system-design" // System Design, Gaurav Sen
)

// Sections returns every section in roadmap order.
func Sections() []Section {
	return []Section{Necessary, Beginner, Intermediate, Advanced, SystemDesign}
}

// Heading returns the section's name for people to read.
func (s Section) Heading() string {
	switch s {
	case Necessary:
		return "Necessary for a backend engineer"
	case Beginner:
		return "Backend engineering: beginner"
	case Intermediate:
		return "Backend engineering: intermediate"
	case Advanced:
		return "Backend engineering: advanced"
	case SystemDesign:
		return "System design"
	}
	return string(s)
}

// ParseSection returns the section named s, or an error that lists the sections.
func ParseSection(s string) (Section, error) {
	for _, sec := range Sections() {
		if string(sec) == s {
			return sec, nil
		}
	}
	return "", fmt.Errorf("unknown section %q: want one of %s", s, join(Sections()))
}

// A Status says how far Gantry has built a topic.
type Status string

const (
	// Done: the topic's home exists with tests, and so does its experiment if it names one.
	Done Status = "done"
	// Partial: some of the topic is built and tested; the topic's Note says what is missing.
	Partial Status = "partial"
	// Planned: nothing of the topic is built yet.
	Planned Status = "planned"
	// NotApplicable: Gantry will not build the topic; the topic's Reason says why.
	NotApplicable Status = "not-applicable"
)

// Statuses returns every status, from most to least built.
func Statuses() []Status {
	return []Status{Done, Partial, Planned, NotApplicable}
}

// ParseStatus returns the status named s, or an error that lists the statuses.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q: want one of %s", s, join(Statuses()))
}

// A Topic is one numbered line of the roadmap and what Gantry does about it.
type Topic struct {
	ID      string  `json:"id"`      // a unique slug, stable across releases: "consistent-hashing"
	Title   string  `json:"title"`   // exactly as the roadmap words it, spelling included
	Section Section `json:"section"` // the part of the roadmap the line is in
	Summary string  `json:"summary"` // one line, in our own words

	// Home is where the topic lives: a directory of the module ("balance", "store/btree")
	// or a command ("gantry up"). Empty only for a topic that is not applicable.
	Home string `json:"home"`
	// Experiment is the name of the lab experiment that measures the topic, if any.
	Experiment string `json:"experiment"`

	Status Status `json:"status"`
	Reason string `json:"reason"` // why the topic is not applicable; empty otherwise
	Note   string `json:"note"`   // what a partial topic still lacks; empty otherwise
}

// All returns every topic in roadmap order. The slice is the caller's to keep or change.
func All() []Topic {
	return topics()
}

// Lookup returns the topic with the given ID.
func Lookup(id string) (Topic, bool) {
	for _, t := range topics() {
		if t.ID == id {
			return t, true
		}
	}
	return Topic{}, false
}

// A Query selects topics. A zero field matches every topic.
type Query struct {
	Section Section
	Status  Status
}

// Match reports whether t is selected by q.
func (q Query) Match(t Topic) bool {
	return (q.Section == "" || t.Section == q.Section) && (q.Status == "" || t.Status == q.Status)
}

// Select returns the topics that q selects, in roadmap order.
func Select(q Query) []Topic {
	var out []Topic
	for _, t := range topics() {
		if q.Match(t) {
			out = append(out, t)
		}
	}
	return out
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
