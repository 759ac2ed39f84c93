package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"gantry/lab"
)

const labDoc = `Lab lists and runs the experiments: each measures a concept of the roadmap on real
components and writes a Markdown report with SVG charts to DIR/NAME/report.md.

Subcommands:
  list                          name, summary and roadmap topics of every experiment
  run NAME [--quick] [--out DIR] run one experiment and print where its report is`

// runLab dispatches `gantry lab list` and `gantry lab run`.
func runLab(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "lab", "lab list | run NAME [--quick] [--out DIR]", labDoc)
	if err := fs.parse(args); err != nil {
		return err
	}
	switch sub := fs.Arg(0); sub {
	case "list":
		return runLabList(s, fs.Args()[1:])
	case "run":
		return runLabRun(ctx, s, fs.Args()[1:])
	case "":
		return fs.fail(errors.New("missing subcommand: list or run"))
	default:
		return fs.fail(fmt.Errorf("unknown subcommand %q: want list or run", sub))
	}
}

func runLabList(s stdio, args []string) error {
	fs := newFlags(s, "lab list", "lab list", "List prints every experiment: its name, what it measures, and the roadmap topics it belongs to.")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUMMARY\tTOPICS")
	for _, e := range lab.Experiments() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Summary, strings.Join(e.Topics, ", "))
	}
	return tw.Flush()
}

func runLabRun(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "lab run", "lab run NAME [--quick] [--out DIR]",
		"Run performs one experiment and writes its report to DIR/NAME/report.md, beside its SVG charts.\nQuick mode runs a smaller workload that finishes in under ten seconds.")
	quick := fs.Bool("quick", false, "run the small workload (under 10 s)")
	out := fs.String("out", lab.DefaultDir, "directory the report is written under")
	// The name may come before or after the flags: parse, take the name, parse the rest.
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fs.fail(errors.New("missing experiment name (gantry lab list shows them)"))
	}
	name := fs.Arg(0)
	if err := fs.parse(fs.Args()[1:]); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	e, err := lab.Lookup(name)
	if err != nil {
		return fs.fail(err)
	}
	path, err := lab.Run(ctx, e, lab.Params{Quick: *quick, Dir: *out, Logger: fs.logger(s.err)})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "report: %s\n", path)
	return nil
}
