package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// errHelp reports that the user asked for help and got it: the command exits 0.
var errHelp = errors.New("help requested")

// usageError is a mistake in the command line: the command exits 2 after printing it.
// printed says the message and the usage are already on stderr.
type usageError struct {
	err     error
	printed bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// flagSet is a command's flags plus the flags every command shares.
type flagSet struct {
	*flag.FlagSet
	stdio
	synopsis  string
	doc       string
	logLevel  string
	logFormat string
}

// newFlags returns the flag set of command name. synopsis is the line printed after
// "Usage:" and doc a paragraph that says what the command does.
func newFlags(s stdio, name, synopsis, doc string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), stdio: s, synopsis: synopsis, doc: doc}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints the usage where it belongs
	fs.StringVar(&fs.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&fs.logFormat, "log-format", "text", "log format: text or json")
	return fs
}

// printUsage writes the command's synopsis, description and flags to w.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  gantry %s\n\n%s\n\nFlags:\n", fs.synopsis, fs.doc)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// fail prints err and the usage to stderr and returns the usage error for run to exit 2.
func (fs *flagSet) fail(err error) error {
	fmt.Fprintf(fs.err, "gantry %s: %v\n\n", fs.Name(), err)
	fs.printUsage(fs.err)
	return usageError{err: err, printed: true}
}

// parse parses args. It returns errHelp after printing the usage for -h, and a
// usageError that names the problem for anything else that is wrong.
func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.printUsage(fs.out)
		return errHelp
	case err != nil:
		return fs.fail(err)
	}
	if _, err := parseLevel(fs.logLevel); err != nil {
		return fs.fail(err)
	}
	if fs.logFormat != "text" && fs.logFormat != "json" {
		return fs.fail(fmt.Errorf("--log-format must be text or json, not %q", fs.logFormat))
	}
	return nil
}

// logger returns the logger the shared flags describe, writing to w.
func (fs *flagSet) logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(fs.logLevel)
	opts := &slog.HandlerOptions{Level: level}
	if fs.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// noArgs fails when a command that takes no arguments got some.
func (fs *flagSet) noArgs() error {
	if fs.NArg() > 0 {
		return fs.fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return nil
}

// parseInterleaved parses args whose flags may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
