package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"gantry/internal/testenv"
)

// TestBrokerAndClientTools runs `gantry broker` and drives it with the people's
// tools: topic, produce, consume and group.
func TestBrokerAndClientTools(t *testing.T) {
	addr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	logs := &testenv.Buffer{}
	serveInBackground(t, logs, addr, "broker", "--addr", addr, "--admin", adminAddr, "--dir", t.TempDir())
	b := "--brokers=" + addr
	expect := func(stdin string, want string, args ...string) string {
		t.Helper()
		code, out, errOut := gantryIn(t, stdin, args...)
		if code != 0 {
			t.Fatalf("gantry %v: exit %d\n%s%s", args, code, out, errOut)
		}
		if !strings.Contains(out+errOut, want) {
			t.Fatalf("gantry %v printed:\n%s%s\nwant %q", args, out, errOut, want)
		}
		return out
	}
	expect("", "created topic orders with 3 partitions", "topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=3600000", b)
	expect("", "orders  3", "topic", "list", b)

	var lines strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&lines, "user%d:order %d\n", i%5, i)
	}
	expect(lines.String(), "produced 30 records to orders", "produce", "orders", "--key-sep", ":", b)
	desc := expect("", "topic orders: 3 partitions", "topic", "describe", "orders", b)
	if !strings.Contains(desc, "retention.ms=3600000 (set)") {
		t.Errorf("describe does not show the config:\n%s", desc)
	}

	out := expect("", "order 0", "consume", "orders", "--from", "beginning", "--count", "30", "--keys", b)
	if n := strings.Count(out, "\n"); n != 30 {
		t.Fatalf("consumed %d lines:\n%s", n, out)
	}
	// A group consumes 10, commits, and a second run goes on from there.
	first := expect("", "", "consume", "orders", "--group", "billing", "--from", "beginning", "--count", "10", b)
	second := expect("", "", "consume", "orders", "--group", "billing", "--from", "beginning", "--count", "20", b)
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(first+second), "\n") {
		if seen[l] {
			t.Fatalf("record %q consumed twice by the group", l)
		}
		seen[l] = true
	}
	if len(seen) != 30 {
		t.Fatalf("group consumed %d distinct records, want 30", len(seen))
	}
	expect("", "billing", "group", "list", b)
	gd := expect("", "group billing: state Empty", "group", "describe", "billing", b)
	if !strings.Contains(gd, "LAG") || strings.Count(gd, "orders") != 3 {
		t.Errorf("group describe:\n%s", gd)
	}

	// Errors are errors.
	if code, _, errOut := gantryIn(t, "", "topic", "create", "orders", b); code != 1 || !strings.Contains(errOut, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("creating an existing topic: exit %d, %s", code, errOut)
	}
	if code, _, _ := gantryIn(t, "", "topic", "frob", b); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	expect("", "altered topic orders", "topic", "alter", "orders", "--config", "retention.ms=60000", "--delete-config", "segment.bytes", b)
	if d := expect("", "", "topic", "describe", "orders", b); !strings.Contains(d, "retention.ms=60000 (set)") {
		t.Errorf("describe after alter:\n%s", d)
	}
	expect("", "deleted topic orders", "topic", "delete", "orders", b)

	// The admin listener serves the broker's metrics.
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"gantry_broker_records_in_total", "gantry_broker_fsync_seconds", "gantry_broker_fetch_seconds"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	// And its health and profiles, as the Operations list asks.
	for _, path := range []string{"/healthz", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the admin listener: %s", path, resp.Status)
		}
	}
}

func TestBrokerConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body string
		stderr     string
	}{
		{"unknown.yaml", "flush_interval: 1s\nwhat: 3\n", `unknown setting "what"`},
		{"bad.yaml", "flush-interval: soon\n", "bad.yaml: flush-interval: parse error"},
		{"nested.yaml", "addr:\n  host: x\n", "nested.yaml"},
		{"self.yaml", "config: other.yaml\n", `unknown setting "config"`},
	} {
		code, _, errOut := gantryIn(t, "", "broker", "--config", write(tc.name, tc.body))
		if code != 2 || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", tc.name, code, errOut, tc.stderr)
		}
	}
	// A good file starts the broker where it says; a flag overrides the file.
	addr := testenv.FreeAddr(t)
	cfg := write("good.yaml", fmt.Sprintf("addr: 127.0.0.1:1\nadmin: \"\"\ndir: %s/data\nauto_create_topics: true\npartitions: 3\n", dir))
	serveInBackground(t, io.Discard, addr, "broker", "--config", cfg, "--addr", addr) // --addr overrides the file
	// auto_create_topics and partitions from the file: producing creates a 3-partition topic.
	if code, out, errOut := gantryIn(t, "x\n", "produce", "auto", "--brokers", addr); code != 0 {
		t.Fatalf("produce: %d %s %s", code, out, errOut)
	}
	if _, out, _ := gantryIn(t, "", "topic", "list", "--brokers", addr); !strings.Contains(out, "auto   3") {
		t.Errorf("topic list: %s", out)
	}
}
