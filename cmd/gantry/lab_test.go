package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
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
	for _, name := range []string{"tail-latency", "consistent-hashing"} {
		if !strings.Contains(stdout, "\n"+name+" ") {
			t.Errorf("lab list does not show %q:\n%s", name, stdout)
		}
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

// TestLabRun runs a quick experiment end to end, as the README's first command does, and
// checks the report and its charts.
func TestLabRun(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := gantry(t, "lab", "run", "consistent-hashing", "--quick", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	report := filepath.Join(out, "consistent-hashing", "report.md")
	if stdout != "report: "+report+"\n" {
		t.Errorf("stdout = %q, want the report's path", stdout)
	}
	md, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "# Consistent hashing") || !strings.Contains(string(md), "| modulo |") {
		t.Errorf("report lacks its title or results:\n%s", md)
	}
	svgs, err := filepath.Glob(filepath.Join(out, "consistent-hashing", "*.svg"))
	if err != nil || len(svgs) == 0 {
		t.Fatalf("no SVG charts written (%v)", err)
	}
	for _, path := range svgs {
		if !strings.Contains(string(md), "("+filepath.Base(path)+")") {
			t.Errorf("report does not link %s", filepath.Base(path))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			XMLName xml.Name
			Title   string   `xml:"title"`
			Texts   []string `xml:"text"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s does not parse: %v", path, err)
		}
		if doc.XMLName.Local != "svg" || doc.Title == "" || len(doc.Texts) < 5 {
			t.Errorf("%s: root %q, title %q, %d texts; want a titled svg with labels", path, doc.XMLName.Local, doc.Title, len(doc.Texts))
		}
	}
}
