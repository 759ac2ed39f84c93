//go:build linux

// Command store-bench runs the storage workloads of bench/store/workload through gantry's
// store, bbolt and SQLite (WAL mode, synchronous=FULL), each with fsync per commit, in one
// run, and prints ops/s per engine and the lines `ratio ROW vs ANCHOR = X.XX` (X > 1: gantry
// is faster). It first measures the disk's fsync latency, the floor under every durable
// commit. The timed workloads on the loaded databases run in rounds (-rounds), the engines
// taking turns, so that a shared machine's changing load weighs on all of them alike.
// Usage: go run ./bench/store [-keys N] [-duration D] [-rounds R] [-dir DIR] [-engines gantry,bbolt,sqlite] [-writes-only] [-cpuprofile FILE].
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
	bolt "go.etcd.io/bbolt"

	"gantry/bench/store/workload"
	"gantry/store"
)

func main() {
	keys := flag.Int("keys", 1_000_000, "keys in the bulk loads")
	dur := flag.Duration("duration", 3*time.Second, "length of each timed workload")
	writers := flag.Int("writers", 8, "concurrent committers")
	dir := flag.String("dir", "", "directory for the databases (default: a temporary one, removed)")
	loadLimit := flag.Duration("load-limit", 60*time.Second, "longest a bulk load may run (a cut-short load reports the keys it wrote)")
	cache := flag.Int("store-cache", 1<<30, "gantry's buffer pool in bytes (bbolt and SQLite read through the OS page cache, unbounded)")
	engines := flag.String("engines", "gantry,bbolt,sqlite", "engines to run")
	rounds := flag.Int("rounds", 3, "the timed workloads on the loaded databases run in this many rounds, the engines taking turns")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	writesOnly := flag.Bool("writes-only", false, "run only the write workloads (insert-*, load-sorted), each on a fresh database")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "store-bench")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	p50, p99, err := fsyncLatency(*dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("disk: 4 KiB write + fdatasync p50 %v, p99 %v (%.0f syncs/s at p50)\n", p50, p99, float64(time.Second)/float64(p50))
	cfg := workload.Config{Keys: *keys, Duration: *dur, Writers: *writers, LoadLimit: *loadLimit, WritesOnly: *writesOnly}
	fmt.Printf("workloads: %d keys of 16 bytes, 100-byte values, %v per timed workload, %d concurrent committers\n\n", cfg.Keys, cfg.Duration, cfg.Writers)
	opens := map[string]func(string) (workload.Engine, error){
		"gantry": func(name string) (workload.Engine, error) {
			return workload.OpenStore(filepath.Join(*dir, "gantry-"+name+".db"), &store.Options{CacheBytes: *cache})
		},
		"bbolt": func(name string) (workload.Engine, error) { return openBolt(filepath.Join(*dir, "bolt-"+name+".db")) },
		"sqlite": func(name string) (workload.Engine, error) {
			return openSQLite(filepath.Join(*dir, "sqlite-"+name+".db"), *writers)
		},
	}
	var chosen []func(string) (workload.Engine, error)
	for _, name := range []string{"gantry", "bbolt", "sqlite"} {
		if slices.Contains(splitComma(*engines), name) {
			chosen = append(chosen, opens[name])
		}
	}
	results, err := workload.Compare(cfg, chosen, *rounds, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println()
	for _, anchor := range []string{"bbolt", "sqlite"} {
		ratios := workload.Ratios(results, "gantry", anchor)
		for _, w := range workload.SortedNames(ratios) {
			fmt.Printf("ratio %s vs %s = %.2f\n", w, anchor, ratios[w])
		}
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// fsyncLatency times 500 rounds of a 4 KiB write and fdatasync.
func fsyncLatency(dir string) (p50, p99 time.Duration, err error) {
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	for i := range 500 {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			return 0, 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

type boltEngine struct{ db *bolt.DB }

func openBolt(path string) (*boltEngine, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("kv"))
		return err
	})
	return &boltEngine{db}, err
}

func (b *boltEngine) Name() string { return "bbolt" }

func (b *boltEngine) Update(kvs []workload.KV) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("kv"))
		for _, kv := range kvs {
			if err := bk.Put(kv.K, kv.V); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltEngine) Get(key []byte) ([]byte, error) {
	var v []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		v = tx.Bucket([]byte("kv")).Get(key)
		return nil
	})
	return v, err
}

func (b *boltEngine) Scan(start []byte, n int) (int, error) {
	got := 0
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("kv")).Cursor()
		for k, _ := c.Seek(start); k != nil && got < n; k, _ = c.Next() {
			got++
		}
		return nil
	})
	return got, err
}

// Load is bbolt's fastest way in for sorted input: one transaction, pages filled full.
func (b *boltEngine) Load(n int, kv func(i int) workload.KV) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("sorted"))
		if err != nil {
			return err
		}
		bk.FillPercent = 1.0
		for i := range n {
			e := kv(i)
			if err := bk.Put(e.K, e.V); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltEngine) Close() error { return b.db.Close() }

type sqliteEngine struct {
	db                *sql.DB
	get, scan, upsert *sql.Stmt
}

func openSQLite(path string, conns int) (*sqliteEngine, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"); err != nil {
		return nil, err
	}
	e := &sqliteEngine{db: db}
	for _, s := range []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&e.get, "SELECT v FROM kv WHERE k = ?"},
		{&e.scan, "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?"},
		{&e.upsert, "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"},
	} {
		if *s.stmt, err = db.Prepare(s.q); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (s *sqliteEngine) Name() string { return "sqlite" }

func (s *sqliteEngine) Update(kvs []workload.KV) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(s.upsert)
	for _, kv := range kvs {
		if _, err := st.Exec(kv.K, kv.V); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteEngine) Get(key []byte) ([]byte, error) {
	var v []byte
	err := s.get.QueryRow(key).Scan(&v)
	return v, err
}

func (s *sqliteEngine) Scan(start []byte, n int) (int, error) {
	rows, err := s.scan.Query(start, n)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	got := 0
	var k, v []byte
	for rows.Next() {
		if err := rows.Scan(&k, &v); err != nil {
			return got, err
		}
		got++
	}
	return got, rows.Err()
}

// Load is SQLite's fastest way in for sorted input: one transaction of inserts in key
// order into the table (appends to its B-tree's right edge).
func (s *sqliteEngine) Load(n int, kv func(i int) workload.KV) error {
	if _, err := s.db.Exec("CREATE TABLE IF NOT EXISTS sorted (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"); err != nil {
		return err
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	st, err := tx.Prepare("INSERT INTO sorted (k, v) VALUES (?, ?)")
	if err != nil {
		tx.Rollback()
		return err
	}
	for i := range n {
		e := kv(i)
		if _, err := st.Exec(e.K, e.V); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteEngine) Close() error { return s.db.Close() }
