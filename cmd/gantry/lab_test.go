package main

import (
	"strings"
	"testing"

	"gantry/lab"
)

func TestLabList(t *testing.T) {
	code, stdout, stderr := gantry(t, "lab", "list")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "NAME") {
		t.Errorf("no header:\n%s", stdout)
	}
	for _, e := range lab.Experiments() {
		if !strings.Contains(stdout, e.Name) || !strings.Contains(stdout, e.Summary) {
			t.Errorf("lab list does not show %q with its summary:\n%s", e.Name, stdout)
		}
	}
}

func TestLabUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no subcommand", []string{"lab"}, 2, "", "missing subcommand"},
		{"unknown subcommand", []string{"lab", "walk"}, 2, "", `unknown subcommand "walk"`},
		{"help", []string{"lab", "--help"}, 0, "lab list | run NAME", ""},
		{"run help", []string{"lab", "run", "-h"}, 0, "--quick", ""},
		{"run without a name", []string{"lab", "run"}, 2, "", "missing experiment name"},
		{"unknown experiment", []string{"lab", "run", "nope", "--quick"}, 2, "", `unknown experiment "nope": the experiments are`},
		{"stray argument", []string{"lab", "run", "nope", "extra"}, 2, "", `unexpected argument "extra"`},
		{"bad flag", []string{"lab", "run", "nope", "--fast"}, 2, "", "flag provided but not defined: -fast"},
		{"list with argument", []string{"lab", "list", "x"}, 2, "", `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := gantry(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s(want %q)\nstderr: %s(want %q)", code, tt.code, stdout, tt.stdout, stderr, tt.stderr)
			}
		})
	}
}
