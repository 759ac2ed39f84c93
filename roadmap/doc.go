// Package roadmap holds the backend engineering roadmap that Gantry builds, as data: every
// topic of ROADMAP.md with its section, a one-line summary, where it lives in Gantry (a
// package or a gantry command), the lab experiment that measures it, and its status today.
//
// `gantry topics` prints this table; the README and the lead's end-of-day review read it.
// A status is a claim about the code, so the tests hold it to account: a topic that is
// done or partial must name a home that exists in the module and has tests.
//
// The topics are a Go slice literal in topics.go, one composite literal per topic, rather
// than an embedded YAML or JSON file. The compiler then checks every field name and every
// section and status constant, a typo in a status cannot decode into a fourth value, no
// decoder or error path is needed at start-up, and a status change is a one-line edit
// reviewed like any other code. The order of the slice is the order of the roadmap.
//
// Titles are kept exactly as the roadmap words them, spelling included ("Assymetrical",
// "Horitzontal", "Partioning"), so that each entry can be matched to its line of the
// roadmap; testdata/roadmap-topics.txt is a copy of those lines and the tests check that
// the two agree both ways.
package roadmap
