package broker

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gantry/internal/testenv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestKcat produces and consumes with kcat (librdkafka), a client written apart from
// franz-go, and checks the metadata listing it prints.
func TestKcat(t *testing.T) {
	kcat := testenv.LookPath(t, "kcat")
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "lines", 1, nil)

	var in bytes.Buffer
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&in, "key-%d:line %d\n", i, i)
	}
	run := func(stdin *bytes.Buffer, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", b.addr}, args...)...)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run(&in, "-P", "-t", "lines", "-K", ":", "-X", "acks=all")
	out := run(nil, "-C", "-t", "lines", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 100 {
		t.Fatalf("kcat consumed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("key-%d=line %d@%d", i, i, i); l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	// librdkafka's balanced consumer: JoinGroup, SyncGroup, OffsetCommit on the way out.
	out = run(nil, "-G", "kcat-group", "-o", "beginning", "-e", "-q", "lines")
	if n := strings.Count(out, "\n"); n != 100 {
		t.Fatalf("kcat group consumer read %d lines", n)
	}
	offs, err := kadm.NewClient(newClient(t, b.addr)).FetchOffsets(context.Background(), "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("lines", 0); o.At != 100 {
		t.Errorf("kcat's group committed %d, want 100", o.At)
	}

	meta := run(nil, "-L", "-t", "lines")
	if !strings.Contains(meta, `topic "lines" with 1 partitions`) {
		t.Errorf("kcat -L says:\n%s", meta)
	}
}
