// Command gantry runs the components of the backend roadmap: an L7 proxy, a Redis-protocol
// cache, a storage engine, a Kafka-protocol broker, and the lab that measures them.
//
// main only parses flags and wires packages together; every component lives in its own
// package and can be embedded without this command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A command is one subcommand of gantry.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) error
}

// stdio carries the streams a command writes to, so that tests can capture them.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// commands lists every subcommand. Each one lives in a file of its own name.
func commands() []command {
	return []command{
		{"version", "print the version and build information", runVersion},
		{"help", "print help for gantry or one of its commands", runHelp},
		{"cache", "run the Redis-protocol cache server", runCache},
		{"proxy", "run the HTTP reverse proxy and load balancer", runProxy},
		{"cert", "make a local CA and TLS certificates for testing (like mkcert)", runCert},
		{"topics", "list the roadmap's topics, where each lives and its status", runTopics},
		{"lab", "list and run the experiments that measure the roadmap's concepts", runLab},
		{"broker", "run the Kafka-protocol log broker", runBroker},
		{"topic", "create, list, describe and delete topics on a Kafka-protocol broker", runTopic},
		{"produce", "send lines from stdin as records to a topic", runProduce},
		{"consume", "print the records of a topic, alone or in a consumer group", runConsume},
		{"group", "list and describe consumer groups, with their lag", runGroup},
		{"db", "inspect (stats, check, dump) and benchmark store databases", runDB},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stdio{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, s stdio, args []string) int {
	if len(args) == 0 {
		usage(s.err)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(s.out)
		return 0
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(s.err, "gantry: unknown command %q\n\n", name)
		usage(s.err)
		return 2
	}
	err := cmd.run(ctx, s, args[1:])
	var uerr usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &uerr):
		if !uerr.printed {
			fmt.Fprintf(s.err, "gantry %s: %v\n", name, err)
		}
		return 2
	default:
		fmt.Fprintf(s.err, "gantry %s: %v\n", name, err)
		return 1
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Gantry: the backend engineering roadmap as working, measured components.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	fmt.Fprintln(w, "  gantry COMMAND [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "gantry help COMMAND" or "gantry COMMAND --help" for a command's flags.`)
}

func runHelp(ctx context.Context, s stdio, args []string) error {
	switch {
	case len(args) == 0 || len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		usage(s.out)
		return nil
	case len(args) == 1:
		cmd, ok := lookup(args[0])
		if !ok || cmd.name == "help" {
			return usageError{err: fmt.Errorf("unknown command %q", args[0])}
		}
		return cmd.run(ctx, s, []string{"--help"})
	default:
		return usageError{err: errors.New("usage: gantry help [COMMAND]")}
	}
}
