package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gantry/store"
)

func makeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cli.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		for _, name := range []string{"users", "orders"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put(fmt.Appendf(nil, "%s-%03d", name, i), []byte("v\x00")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDBCommands(t *testing.T) {
	path := makeDB(t)
	code, out, errs := gantry(t, "db", "stats", path)
	if code != 0 || !strings.Contains(out, `bucket "users"`) || !strings.Contains(out, "300 keys") || !strings.Contains(out, "height") {
		t.Fatalf("stats: %d\n%s%s", code, out, errs)
	}
	code, out, errs = gantry(t, "db", "check", path)
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("check: %d\n%s%s", code, out, errs)
	}
	code, out, errs = gantry(t, "db", "dump", path, "--bucket", "orders")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 300 || lines[0] != `"orders"	"orders-000"	"v\x00"` {
		t.Fatalf("dump: %d, %d lines, first %q\n%s", code, len(lines), lines[0], errs)
	}
	code, out, _ = gantry(t, "db", "dump", path)
	if code != 0 || strings.Count(out, "\n") != 600 {
		t.Fatalf("dump of all buckets: %d, %d lines", code, strings.Count(out, "\n"))
	}
	if code, _, errs = gantry(t, "db", "dump", path, "--bucket", "nope"); code != 1 || !strings.Contains(errs, "bucket not found") {
		t.Fatalf("dump of a missing bucket: %d %s", code, errs)
	}
}

// TestDBStatsReportsTheFile: every line of `gantry db stats` shows what store's own Check
// finds in the same file, and the counts add up to what makeDB wrote.
func TestDBStatsReportsTheFile(t *testing.T) {
	path := makeDB(t)
	segments, _ := filepath.Glob(path + ".*-wal")
	var segBytes int64
	for _, name := range segments {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		segBytes += fi.Size()
	}
	code, out, errs := gantry(t, "db", "stats", path)
	if code != 0 {
		t.Fatalf("stats: %d\n%s", code, errs)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		i := strings.LastIndex(line, "  ")
		if i < 0 {
			t.Fatalf("stats line without a value: %q", line)
		}
		got[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i:])
	}

	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"page size":       fmt.Sprint(rep.PageSize),
		"pages":           fmt.Sprint(rep.Pages),
		"branch pages":    fmt.Sprint(rep.BranchPages),
		"leaf pages":      fmt.Sprint(rep.LeafPages),
		"overflow pages":  fmt.Sprint(rep.OverflowPages),
		"free pages":      fmt.Sprint(rep.FreePages),
		"height":          fmt.Sprint(rep.Height),
		"leaf fill":       fmt.Sprintf("%.1f%%", 100*rep.LeafFill),
		"keys":            fmt.Sprint(rep.Keys), // 600 in the buckets and an entry in the root for each bucket
		`bucket "orders"`: "300 keys",
		`bucket "users"`:  "300 keys",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stats %q = %q, want %q", k, got[k], v)
		}
	}
	if rep.LeafPages == 0 || rep.Pages < rep.BranchPages+rep.LeafPages+rep.OverflowPages+rep.FreePages {
		t.Errorf("pages %d do not hold branch %d + leaf %d + overflow %d + free %d", rep.Pages,
			rep.BranchPages, rep.LeafPages, rep.OverflowPages, rep.FreePages)
	}
	if want := fmt.Sprintf("%d files, %d bytes", len(segments), segBytes); len(segments) == 0 || got["log segment files at open"] != want {
		t.Errorf("log segment files at open = %q, want %q (at least one)", got["log segment files at open"], want)
	}
	var inUse, spares int
	if _, err := fmt.Sscanf(got["log segments in use, spares"], "%d, %d", &inUse, &spares); err != nil || inUse < 1 {
		t.Errorf("log segments in use, spares = %q, want counts with at least one in use", got["log segments in use, spares"])
	}
}

func TestDBCommandErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if code, _, errs := gantry(t, "db", "stats", missing); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: %d %s", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("looking at a missing database created it")
	}
	foreign := filepath.Join(dir, "foreign.db")
	os.WriteFile(foreign, []byte(strings.Repeat("not a database ", 500)), 0o644)
	if code, _, errs := gantry(t, "db", "check", foreign); code != 1 || !strings.Contains(errs, "not a gantry database") {
		t.Fatalf("foreign file: %d %s", code, errs)
	}
	if code, _, errs := gantry(t, "db"); code != 2 || !strings.Contains(errs, "missing subcommand") {
		t.Fatalf("no subcommand: %d %s", code, errs)
	}
	if code, _, errs := gantry(t, "db", "check"); code != 2 || !strings.Contains(errs, "missing database FILE") {
		t.Fatalf("no file: %d %s", code, errs)
	}

	// A damaged page: check names it and exits 1.
	path := makeDB(t)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad}, 4096+1000)
	f.Close()
	code, out, errs := gantry(t, "db", "check", path)
	if code != 1 || !strings.Contains(out, "page 1 corrupt") {
		t.Fatalf("damaged page: %d\n%s%s", code, out, errs)
	}
}

func TestDBBench(t *testing.T) {
	code, out, errs := gantry(t, "db", "bench", "--keys", "2000", "--duration", "50ms")
	if code != 0 || !strings.Contains(out, "scan-while-writing") || !strings.Contains(out, "ops/s") {
		t.Fatalf("bench: %d\n%s%s", code, out, errs)
	}
}

// TestDBLoad: a dump of one bucket, loaded into a new database, dumps the same; bad input
// is refused with the line it is on and leaves nothing loaded.
func TestDBLoad(t *testing.T) {
	path := makeDB(t)
	_, dump, _ := gantry(t, "db", "dump", path, "--bucket", "users")
	load := func(file, bucket, in string) (int, string, string) {
		var out, errw bytes.Buffer
		code := run(context.Background(), stdio{strings.NewReader(in), &out, &errw}, []string{"db", "load", file, "--bucket", bucket})
		return code, out.String(), errw.String()
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if code, out, errs := load(dst, "users", dump); code != 0 || out != "loaded 300 keys into \"users\"\n" {
		t.Fatalf("load: %d %q %s", code, out, errs)
	}
	if _, again, _ := gantry(t, "db", "dump", dst, "--bucket", "users"); again != dump {
		t.Fatalf("loaded copy dumps differently:\n%s", again)
	}
	if code, out, errs := gantry(t, "db", "check", dst); code != 0 {
		t.Fatalf("check: %d %s %s", code, out, errs)
	}
	for _, tc := range []struct{ bucket, in, err string }{
		{"other", "\"other\"\t\"b\"\t\"1\"\n\"other\"\t\"a\"\t\"2\"\n", "not in increasing key order"},
		{"other", "\"other\"\t\"a\"\n", "line 1: want 3"},
		{"other", "\"other\"\t\"a\"\tnot-quoted\n", "line 1: field 3"},
		{"other", "\"users\"\t\"a\"\t\"1\"\n", "line 1: bucket \"users\""},
		{"users", "\"users\"\t\"zzz\"\t\"1\"\n", "bulk load needs an empty bucket"},
	} {
		if code, _, errs := load(dst, tc.bucket, tc.in); code != 1 || !strings.Contains(errs, tc.err) {
			t.Errorf("load %q: %d %s, want error %q", tc.in, code, errs, tc.err)
		}
	}
	if _, out, _ := gantry(t, "db", "dump", dst, "--bucket", "other"); out != "" {
		t.Fatalf("a refused load left keys: %s", out)
	}
}
