package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gantry/store/vfs"
)

// openTest opens a database in a temporary directory and checks it when the test ends.
func openTest(t testing.TB, opts *Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "test.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("check at cleanup: %v", err)
		}
		db.Close()
	})
	return db
}

func put(t testing.TB, db *DB, bucket, k, v string) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(k), []byte(v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, db *DB, bucket, k string) string {
	t.Helper()
	var out string
	err := db.View(func(tx *Tx) error {
		b, err := tx.Bucket([]byte(bucket))
		if err != nil {
			return err
		}
		v, err := b.Get([]byte(k))
		out = string(v)
		if v == nil {
			out = "<nil>"
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutGetReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "b", "k1", "v1")
	put(t, db, "b", "k2", "v2")
	if got := get(t, db, "b", "k1"); got != "v1" {
		t.Fatalf("k1 = %q", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := get(t, db, "b", "k2"); got != "v2" {
		t.Fatalf("after reopen k2 = %q", got)
	}
	if got := get(t, db, "b", "nope"); got != "<nil>" {
		t.Fatalf("missing key = %q", got)
	}
}

func TestManyKeysSplitAndMerge(t *testing.T) {
	db := openTest(t, &Options{NoSync: true, PageSize: 1024, CacheBytes: 64 << 10})
	const n = 5000
	for batch := 0; batch < n; batch += 500 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i := batch; i < batch+500; i++ {
				if err := b.Put(fmt.Appendf(nil, "key%06d", (i*7919)%n), fmt.Appendf(nil, "value-%d", i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := db.Check()
	if err != nil {
		t.Fatalf("%v\n%v", err, rep.Problems)
	}
	if rep.Buckets["b"] != n || rep.Height < 3 {
		t.Fatalf("report %+v", rep)
	}
	// Cursor order, both ways.
	db.View(func(tx *Tx) error {
		b, _ := tx.Bucket([]byte("b"))
		c := b.Cursor()
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if want := fmt.Sprintf("key%06d", i); string(k) != want {
				t.Fatalf("cursor at %d: %q, want %q", i, k, want)
			}
			i++
		}
		if i != n {
			t.Fatalf("cursor saw %d keys", i)
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			i--
			if want := fmt.Sprintf("key%06d", i); string(k) != want {
				t.Fatalf("reverse cursor at %d: %q, want %q", i, k, want)
			}
		}
		return c.Err()
	})
	// Delete most keys: merges, a shrinking tree, pages back on the free list.
	err = db.Update(func(tx *Tx) error {
		b, _ := tx.Bucket([]byte("b"))
		for i := 0; i < n; i++ {
			if i%10 != 0 {
				b.Delete(fmt.Appendf(nil, "key%06d", i))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := db.Check()
	if err != nil {
		t.Fatalf("%v\n%v", err, rep2.Problems)
	}
	if rep2.Buckets["b"] != n/10 || rep2.FreePages == 0 || rep2.LeafPages >= rep.LeafPages {
		t.Fatalf("after deletes: %+v (before %+v)", rep2, rep)
	}
}

func TestLargeValuesUseOverflowPages(t *testing.T) {
	db := openTest(t, nil)
	big := bytes.Repeat([]byte("0123456789"), 5000)
	put(t, db, "b", "big", string(big))
	if got := get(t, db, "b", "big"); got != string(big) {
		t.Fatalf("big value: %d bytes back", len(got))
	}
	rep, err := db.Check()
	if err != nil || rep.OverflowPages < 12 {
		t.Fatalf("check: %v, %d overflow pages", err, rep.OverflowPages)
	}
	put(t, db, "b", "big", "small")
	rep, err = db.Check()
	if err != nil || rep.OverflowPages != 0 || rep.FreePages < 12 {
		t.Fatalf("after overwrite: %v, %+v", err, rep)
	}
}

func TestForeignAndLockedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	fs := vfs.NewMemFS()
	f, _ := fs.OpenFile(path, true)
	f.WriteAt(bytes.Repeat([]byte("SQLite format 3\x00"), 300), 0)
	f.Close()
	if _, err := Open(path, &Options{FS: fs}); !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("foreign file: %v", err)
	}
	db := openTest(t, nil)
	if _, err := Open(db.Path(), nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestSequentialLoadFillsLeaves(t *testing.T) {
	db := openTest(t, &Options{NoSync: true})
	for i := 0; i < 20000; i += 1000 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("seq"))
			if err != nil {
				return err
			}
			for j := i; j < i+1000; j++ {
				if err := b.Put(fmt.Appendf(nil, "%016d", j), bytes.Repeat([]byte("v"), 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	if rep.LeafFill < 0.7 {
		t.Fatalf("sequential load left leaves %.0f%% full", 100*rep.LeafFill)
	}
	t.Logf("leaf fill %.0f%%, %d leaves, height %d", 100*rep.LeafFill, rep.LeafPages, rep.Height)
}

func TestLimits(t *testing.T) {
	db := openTest(t, &Options{MaxTxBytes: 10000})
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put(nil, []byte("v")); !errors.Is(err, ErrKeyEmpty) {
			t.Errorf("empty key: %v", err)
		}
		if err := b.Put(bytes.Repeat([]byte("k"), 600), []byte("v")); !errors.Is(err, ErrKeyTooLarge) {
			t.Errorf("600-byte key: %v", err)
		}
		if err := b.Put([]byte("k"), make([]byte, MaxValueSize+1)); !errors.Is(err, ErrValueTooLarge) {
			t.Errorf("huge value: %v", err)
		}
		if err := b.Put([]byte("k"), make([]byte, 9000)); err != nil {
			return err
		}
		if err := b.Put([]byte("k2"), make([]byte, 2000)); !errors.Is(err, ErrTxTooLarge) {
			t.Errorf("past MaxTxBytes: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin(false)
	b, _ := tx.Bucket([]byte("b"))
	if err := b.Put([]byte("x"), nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("put in a read-only transaction: %v", err)
	}
	tx.Rollback()
	if _, err := tx.Bucket([]byte("b")); !errors.Is(err, ErrTxDone) {
		t.Errorf("use after rollback: %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrTxDone) {
		t.Errorf("commit after rollback: %v", err)
	}
}

func TestUpdateRollsBackOnErrorAndPanic(t *testing.T) {
	db := openTest(t, nil)
	put(t, db, "b", "k", "v")
	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		b, _ := tx.Bucket([]byte("b"))
		b.Put([]byte("k"), []byte("changed"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v", err)
	}
	func() {
		defer func() { recover() }()
		db.Update(func(tx *Tx) error {
			b, _ := tx.Bucket([]byte("b"))
			b.Put([]byte("k"), []byte("changed"))
			panic("boom")
		})
	}()
	if got := get(t, db, "b", "k"); got != "v" {
		t.Fatalf("k = %q after rolled-back updates", got)
	}
}

func TestStaleLogBesideNewFileIsIgnored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.db")
	db, err := Open(path, &Options{CheckpointBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "b", "k", "old database")
	// Leave the log unflushed: copy its segments aside, close, and put them beside a
	// fresh file.
	segments, _ := filepath.Glob(path + ".*-wal")
	if len(segments) == 0 {
		t.Fatal("no log segment beside the database")
	}
	saved := map[string][]byte{}
	for _, name := range segments {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		saved[name] = b
	}
	db.Close()
	os.Remove(path)
	for name, b := range saved {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *Tx) error {
		_, err := tx.Bucket([]byte("b"))
		return err
	}); !errors.Is(err, ErrBucketMissing) {
		t.Fatalf("a fresh database shows the old log's bucket: %v", err)
	}
}
