// Package lab runs Gantry's experiments: each one takes a concept of the backend roadmap,
// starts real components on loopback (or computes, where computing is the concept), runs a
// workload bounded in count and time, and writes a report that a person can read.
//
// An Experiment is a value with a name, the roadmap topics it measures and a Run function that
// returns a Report: the question it answers, its parameters, result tables, SVG charts (drawn
// with lab/chart) and a few sentences, computed from the numbers, that say what they show.
// Run (the package function) stamps the report with the environment it was measured in and
// writes it as DIR/NAME/report.md beside its charts.
//
// The list of experiments is the literal slice Experiments returns: there is no registry to
// fill at init time. cmd/gantry's `lab` command lists and runs them.
package lab
