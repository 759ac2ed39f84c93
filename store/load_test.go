package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"gantry/store/vfs"
)

// loadInput returns n sorted entries; every 97th value overflows a page.
func loadInput(n, valueSize int) (keys, vals [][]byte) {
	for i := range n {
		keys = append(keys, fmt.Appendf(nil, "key%08d", i))
		v := bytes.Repeat([]byte{byte(i)}, valueSize)
		if i%97 == 0 {
			v = bytes.Repeat([]byte{byte(i)}, 3000)
		}
		vals = append(vals, v)
	}
	return keys, vals
}

func source(keys, vals [][]byte) func() ([]byte, []byte, error) {
	i := 0
	return func() ([]byte, []byte, error) {
		if i == len(keys) {
			return nil, nil, nil
		}
		i++
		return keys[i-1], vals[i-1], nil
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		pages int
	}{
		{"empty", 0, 4096},
		{"one", 1, 4096},
		{"fits-one-leaf", 10, 4096},
		{"thousands", 5000, 4096},
		{"small-pages", 20000, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, &Options{PageSize: tc.pages, NoSync: true})
			put(t, db, "before", "a", "1") // a bucket with keys ahead of the loaded one
			keys, vals := loadInput(tc.n, 40)
			// A reader that began before the load must not see it.
			old, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Rollback()
			n, err := db.Load([]byte("loaded"), source(keys, vals))
			if err != nil || n != tc.n {
				t.Fatalf("Load = %d, %v; want %d", n, err, tc.n)
			}
			if _, err := old.Bucket([]byte("loaded")); !errors.Is(err, ErrBucketMissing) {
				t.Fatalf("old snapshot sees the loaded bucket: %v", err)
			}
			check := func(db *DB) {
				got := contents(t, db)
				if len(got["loaded"]) != tc.n || got["before"]["a"] != "1" {
					t.Fatalf("%d keys loaded, want %d; other bucket %v", len(got["loaded"]), tc.n, got["before"])
				}
				for i, k := range keys {
					if got["loaded"][string(k)] != string(vals[i]) {
						t.Fatalf("key %s: wrong value", k)
					}
				}
				rep, err := db.Check()
				if err != nil {
					t.Fatalf("check: %v %v", err, rep.Problems)
				}
				if tc.n >= 5000 && rep.LeafFill < 0.9 {
					t.Fatalf("leaf fill %.2f after a bulk load, want >= 0.9", rep.LeafFill)
				}
			}
			check(db)
			// The tree takes ordinary writes afterwards, in the loaded range and after it.
			put(t, db, "loaded", "key00000003x", "between")
			put(t, db, "loaded", "zzz", "after")
			put(t, db, "after", "b", "2")
			del(t, db, "loaded", "key00000000")
			keys, vals = keys[min(1, len(keys)):], vals[min(1, len(vals)):]
			keys = append(keys, []byte("key00000003x"), []byte("zzz"))
			vals = append(vals, []byte("between"), []byte("after"))
			path := db.Path()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db2, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			tc.n = len(keys)
			check(db2)
		})
	}
}

func del(t *testing.T, db *DB, bucket, k string) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		b, err := tx.Bucket([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Delete([]byte(k))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefuses(t *testing.T) {
	db := openTest(t, &Options{NoSync: true})
	keys, vals := loadInput(3000, 40)
	// Unsorted input: an error, and nothing of it committed.
	bad := append(append([][]byte{}, keys...), []byte("key00000005"))
	badVals := append(append([][]byte{}, vals...), []byte("v"))
	if _, err := db.Load([]byte("b"), source(bad, badVals)); !errors.Is(err, ErrUnsorted) {
		t.Fatalf("unsorted input: %v, want ErrUnsorted", err)
	}
	if got := contents(t, db); len(got["b"]) != 0 {
		t.Fatalf("a failed load left %d keys", len(got["b"]))
	}
	for _, k := range [][]byte{{}, bytes.Repeat([]byte("k"), 1000)} {
		if _, err := db.Load([]byte("b"), source([][]byte{k}, [][]byte{nil})); !errors.Is(err, ErrKeyEmpty) && !errors.Is(err, ErrKeyTooLarge) {
			t.Fatalf("key of %d bytes: %v", len(k), err)
		}
	}
	// A bucket with keys, or one before a bucket with keys, cannot be bulk loaded.
	put(t, db, "b", "x", "1")
	if _, err := db.Load([]byte("b"), source(keys, vals)); !errors.Is(err, ErrNotAppendable) {
		t.Fatalf("load into a bucket with keys: %v", err)
	}
	err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("c")); return err })
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "d", "y", "1")
	if _, err := db.Load([]byte("c"), source(keys, vals)); !errors.Is(err, ErrNotAppendable) {
		t.Fatalf("load into a bucket before one with keys: %v", err)
	}
	if rep, err := db.Check(); err != nil {
		t.Fatal(err, rep.Problems)
	}
}

// TestLoadConflicts: a transaction that began before a load and writes or reads the loaded
// bucket fails to commit.
func TestLoadConflicts(t *testing.T) {
	db := openTest(t, &Options{NoSync: true})
	err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tx.Bucket([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("key00000001"), []byte("mine")); err != nil {
		t.Fatal(err)
	}
	keys, vals := loadInput(100, 10)
	if _, err := db.Load([]byte("b"), source(keys, vals)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit over a concurrent load: %v, want ErrConflict", err)
	}
}

// TestLoadCrash kills the file layer at a random write or sync inside a load, cuts the
// power, and reopens: the loaded bucket is all there or not at all, and Check is clean.
func TestLoadCrash(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	keys, vals := loadInput(2500, 60)
	outcomes := map[bool]int{} // loaded whole -> cycles
	total := 0
	for cycle := range iterations(6, 20) {
		mem := vfs.NewMemFS()
		ffs := &vfs.FaultFS{FS: mem}
		opts := &Options{FS: ffs, PageSize: 1024, CacheBytes: 64 << 10}
		db, err := Open("l.db", opts)
		if err != nil {
			t.Fatal(err)
		}
		put(t, db, "a", "k", "v")
		if total == 0 { // count the writes and syncs of a whole load once, on a scratch database
			total = loadOps(t, keys, vals)
		}
		ops, dieAt := 0, 1+rng.IntN(total+total/4) // a fifth of the kills after the load ends
		ffs.SetFault(func(vfs.Op, string, int64, []byte) (int, error) {
			if ops++; ops >= dieAt {
				return rng.IntN(2048), vfs.ErrInjected
			}
			return 0, nil
		})
		_, loadErr := db.Load([]byte("b"), source(keys, vals))
		mem.Crash(rng)
		ffs.SetFault(nil)
		db2, err := Open("l.db", opts)
		if err != nil {
			t.Fatalf("cycle %d: open after crash: %v", cycle, err)
		}
		got := contents(t, db2)
		if n := len(got["b"]); (n != 0 && n != len(keys)) || (loadErr == nil && n == 0) || got["a"]["k"] != "v" {
			t.Fatalf("cycle %d (die at op %d, load: %v): %d of %d keys after the crash", cycle, dieAt, loadErr, n, len(keys))
		}
		if rep, err := db2.Check(); err != nil {
			t.Fatalf("cycle %d: %v %v", cycle, err, rep.Problems)
		}
		outcomes[len(got["b"]) > 0]++
		// The space of an unfinished load is reused: load again, over it.
		if len(got["b"]) == 0 {
			if n, err := db2.Load([]byte("b"), source(keys, vals)); err != nil || n != len(keys) {
				t.Fatalf("cycle %d: load after the crash: %d, %v", cycle, n, err)
			}
			if rep, err := db2.Check(); err != nil {
				t.Fatalf("cycle %d: %v %v", cycle, err, rep.Problems)
			}
		}
		db2.Close()
	}
	t.Logf("crashes that kept the load: %d, that lost it: %d", outcomes[true], outcomes[false])
}

// loadOps counts the file operations of loading keys into a new database.
func loadOps(t *testing.T, keys, vals [][]byte) int {
	ffs := &vfs.FaultFS{FS: vfs.NewMemFS()}
	db, err := Open("count.db", &Options{FS: ffs, PageSize: 1024, CacheBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put(t, db, "a", "k", "v")
	ops := 0
	ffs.SetFault(func(vfs.Op, string, int64, []byte) (int, error) { ops++; return 0, nil })
	if _, err := db.Load([]byte("b"), source(keys, vals)); err != nil {
		t.Fatal(err)
	}
	ffs.SetFault(nil)
	return ops
}
