package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// gantry runs one command line in-process and returns its exit code and output.
func gantry(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = run(context.Background(), stdio{strings.NewReader(""), &out, &errw}, args)
	return code, out.String(), errw.String()
}

// gantryIn runs a command line with stdin and returns its exit code and output.
func gantryIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, stdio{strings.NewReader(stdin), &out, &errw}, args)
	return code, out.String(), errw.String()
}

// serveInBackground runs a serving command line (broker, cache, proxy...) until the test
// ends, then cancels it as SIGTERM would and checks that it exited 0. It returns once addr
// accepts connections.
func serveInBackground(t *testing.T, stderr io.Writer, addr string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, stdio{strings.NewReader(""), io.Discard, stderr}, args) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gantry %s exited %d", args[0], code)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gantry %s did not listen on %s: %v", args[0], addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring expected on stdout ("" = not checked)
		stderr   string // substring expected on stderr ("" = not checked)
		noStdout bool
	}{
		{name: "no command", args: nil, code: 2, stderr: "Usage:", noStdout: true},
		{name: "help flag", args: []string{"--help"}, code: 0, stdout: "Commands:"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "version"},
		{name: "help for a command", args: []string{"help", "version"}, code: 0, stdout: "gantry version"},
		{name: "help for unknown", args: []string{"help", "nope"}, code: 2, stderr: `unknown command "nope"`},
		{name: "unknown command", args: []string{"nope"}, code: 2, stderr: `unknown command "nope"`, noStdout: true},
		{name: "version", args: []string{"version"}, code: 0, stdout: "gantry "},
		{name: "command help", args: []string{"version", "-h"}, code: 0, stdout: "Usage:\n  gantry version"},
		{name: "unknown flag", args: []string{"version", "--bogus"}, code: 2, stderr: "flag provided but not defined: -bogus", noStdout: true},
		{name: "bad log level", args: []string{"version", "--log-level", "loud"}, code: 2, stderr: "--log-level must be"},
		{name: "bad log format", args: []string{"version", "--log-format", "xml"}, code: 2, stderr: "--log-format must be"},
		{name: "stray argument", args: []string{"version", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := gantry(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout = %q, want nothing on stdout", stdout)
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	_, stdout, _ := gantry(t, "help")
	for _, c := range commands() {
		if !strings.Contains(stdout, "  "+c.name+" ") {
			t.Errorf("usage does not list %q:\n%s", c.name, stdout)
		}
		if c.summary == "" {
			t.Errorf("command %q has no summary", c.name)
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		code, stdout, stderr := gantry(t, c.name, "--help")
		if code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("gantry %s --help: exit %d, stdout %q, stderr %q", c.name, code, stdout, stderr)
		}
	}
}

// TestServersListenOnLoopbackByDefault: every address flag of every command defaults to a
// loopback address, so that a server started without flags is not reachable from other
// machines. The servers must have at least their main and admin listeners among them.
func TestServersListenOnLoopbackByDefault(t *testing.T) {
	addrDefault := regexp.MustCompile(`\(default "([^"]*):(\d+)"\)`)
	servers := map[string]int{}
	for _, c := range commands() {
		code, out, errs := gantry(t, c.name, "-h")
		if code != 0 {
			t.Fatalf("gantry %s -h: exit %d\n%s", c.name, code, errs)
		}
		for _, m := range addrDefault.FindAllStringSubmatch(out+errs, -1) {
			host := m[1]
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Errorf("gantry %s: an address flag defaults to %s:%s, not a loopback address", c.name, host, m[2])
			}
			servers[c.name]++
		}
	}
	for _, name := range []string{"proxy", "cache", "broker"} {
		if servers[name] < 2 {
			t.Errorf("gantry %s -h shows %d address defaults, want its main and admin listeners", name, servers[name])
		}
	}
}
