package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gantry/bench/store/workload"
	"gantry/store"
)

const dbDoc = `Db inspects and measures store databases (the embedded storage engine).

Subcommands:
  stats FILE                 pages, fill, tree height, free pages, log size, keys per bucket
  check FILE                 verify every invariant; exit 1 and list the problems if any
  dump FILE [--bucket B]     print every key and value (of one bucket with --bucket)
  load FILE --bucket B       bulk-load dump lines of bucket B, in key order, from stdin into
                             FILE (created if missing); B must be new or empty and the last
                             bucket with keys: gantry db dump A --bucket B | gantry db load C --bucket B
  bench [--keys N] [--duration D] [--dir DIR]
                             run the bench/store workloads on the store alone

Opening a database recovers it from its write-ahead log first, as any open does.`

func runDB(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "db", "db stats|check|dump FILE [--bucket B] | db load FILE --bucket B | db bench", dbDoc)
	if err := fs.parse(args); err != nil {
		return err
	}
	sub := fs.Arg(0)
	rest := fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	switch sub {
	case "stats", "check", "dump":
		return runDBFile(s, sub, rest)
	case "bench":
		return runDBBench(s, rest)
	case "load":
		return runDBLoad(s, rest)
	case "":
		return fs.fail(errors.New("missing subcommand: stats, check, dump, load or bench"))
	default:
		return fs.fail(fmt.Errorf("unknown subcommand %q: want stats, check, dump, load or bench", sub))
	}
}

func runDBFile(s stdio, sub string, args []string) error {
	fs := newFlags(s, "db "+sub, "db "+sub+" FILE", "See gantry db --help.")
	bucket := ""
	if sub == "dump" {
		fs.StringVar(&bucket, "bucket", "", "dump only this bucket")
	}
	path, err := parseFileArg(fs, args)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return err // never create a database by looking at it
	}
	logAtOpen := logFiles(path)
	db, err := store.Open(path, &store.Options{Logger: fs.logger(s.err)})
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "stats":
		rep, err := db.Check()
		printStats(s, rep, logAtOpen, db.Stats())
		return err
	case "check":
		rep, err := db.Check()
		for _, p := range rep.Problems {
			fmt.Fprintln(s.out, p)
		}
		if err == nil {
			fmt.Fprintf(s.out, "ok: %d pages, %d keys, height %d\n", rep.Pages, rep.Keys, rep.Height)
		}
		return err
	default:
		return dumpDB(s, db, bucket)
	}
}

// logFiles describes the write-ahead log's segment files beside the database at path
// (named FILE.NNNNNNNNNNNN-wal, in use or spare) as they are before Open touches them.
func logFiles(path string) string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, _ := os.ReadDir(dir)
	var n, size int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base+".") || !strings.HasSuffix(name, "-wal") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n, size = n+1, size+fi.Size()
		}
	}
	return fmt.Sprintf("%d files, %d bytes", n, size)
}

func printStats(s stdio, rep store.Report, logAtOpen string, st store.Stats) {
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("page size", rep.PageSize)
	row("pages", rep.Pages)
	row("branch pages", rep.BranchPages)
	row("leaf pages", rep.LeafPages)
	row("overflow pages", rep.OverflowPages)
	row("free pages", rep.FreePages)
	row("height", rep.Height)
	row("leaf fill", fmt.Sprintf("%.1f%%", 100*rep.LeafFill))
	row("keys", rep.Keys)
	row("commits", rep.TxID)
	row("log segment files at open", logAtOpen)
	row("log segments in use, spares", fmt.Sprintf("%d, %d", st.WALSegments, st.WALSpares))
	names := make([]string, 0, len(rep.Buckets))
	for n := range rep.Buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		row("bucket "+strconv.Quote(n), fmt.Sprintf("%d keys", rep.Buckets[n]))
	}
	tw.Flush()
}

func dumpDB(s stdio, db *store.DB, only string) error {
	return db.View(func(tx *store.Tx) error {
		names, err := tx.Buckets()
		if err != nil {
			return err
		}
		if only != "" {
			names = []string{only}
		}
		for _, name := range names {
			b, err := tx.Bucket([]byte(name))
			if err != nil {
				return err
			}
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				fmt.Fprintf(s.out, "%s\t%s\t%s\n", strconv.Quote(name), strconv.Quote(string(k)), strconv.Quote(string(v)))
			}
			if err := c.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

func runDBBench(s stdio, args []string) error {
	fs := newFlags(s, "db bench", "db bench [--keys N] [--duration D] [--dir DIR]",
		"Bench runs the bench/store workloads (single and batched durable inserts, point reads, 100-key\nscans, concurrent committers, scans during writes) on the store and prints ops/s.")
	keys := fs.Int("keys", 100_000, "keys in the bulk loads")
	dur := fs.Duration("duration", 2*time.Second, "length of each timed workload")
	writers := fs.Int("writers", 8, "concurrent committers")
	dir := fs.String("dir", "", "directory for the databases (default: a temporary one, removed)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *keys < 1000 || *keys > 100_000_000 || *writers < 1 || *writers > 1024 || *dur <= 0 || *dur > time.Hour {
		return fs.fail(errors.New("--keys must be 1000..1e8, --writers 1..1024, --duration up to 1h"))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "gantry-db-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	open := func(name string) (workload.Engine, error) {
		return workload.OpenStore(fmt.Sprintf("%s/%s.db", *dir, name), nil)
	}
	_, err := workload.Run(workload.Config{Keys: *keys, Duration: *dur, Writers: *writers}, open, s.out)
	return err
}

// maxLoadLine bounds one input line of db load (a quoted key and value).
const maxLoadLine = 64 << 20

func runDBLoad(s stdio, args []string) error {
	fs := newFlags(s, "db load", "db load FILE --bucket B < dump-lines",
		"Load reads lines as db dump prints them (\"bucket\"<TAB>\"key\"<TAB>\"value\", Go-quoted), all of\nbucket B and in increasing key order, and bulk-loads them into FILE in one durable commit.")
	bucket := fs.String("bucket", "", "the bucket to load (required)")
	path, err := parseFileArg(fs, args)
	if err != nil {
		return err
	}
	if *bucket == "" {
		return fs.fail(errors.New("missing --bucket"))
	}
	db, err := store.Open(path, &store.Options{Logger: fs.logger(s.err)})
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(s.in)
	sc.Buffer(make([]byte, 64<<10), maxLoadLine)
	line := 0
	n, err := db.Load([]byte(*bucket), func() ([]byte, []byte, error) {
		if !sc.Scan() {
			return nil, nil, sc.Err()
		}
		line++
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("line %d: want 3 tab-separated quoted fields, got %d", line, len(f))
		}
		var q [3]string
		for i, field := range f {
			u, err := strconv.Unquote(field)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: field %d: %w", line, i+1, err)
			}
			q[i] = u
		}
		if q[0] != *bucket {
			return nil, nil, fmt.Errorf("line %d: bucket %q, loading %q", line, q[0], *bucket)
		}
		return []byte(q[1]), []byte(q[2]), nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "loaded %d keys into %q\n", n, *bucket)
	return nil
}

// parseFileArg parses a db subcommand's flags, which may come before or after its one
// FILE argument, and returns FILE.
func parseFileArg(fs *flagSet, args []string) (string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", err
	}
	switch {
	case len(pos) == 0:
		return "", fs.fail(errors.New("missing database FILE"))
	case len(pos) > 1:
		return "", fs.fail(fmt.Errorf("unexpected argument %q", pos[1]))
	}
	return pos[0], nil
}
