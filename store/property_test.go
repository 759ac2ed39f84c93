package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"gantry/store/vfs"
)

// model is what the database should hold: bucket -> key -> value.
type model map[string]map[string]string

func (m model) clone() model {
	c := model{}
	for b, kv := range m {
		c[b] = maps.Clone(kv)
	}
	return c
}

// randomTx makes a transaction of random operations and applies it to the model copy.
func randomTx(rng *rand.Rand, m model) (func(*Tx) error, model) {
	next := m.clone()
	type op struct {
		kind    int
		bucket  string
		key     string
		val     string
		present bool
	}
	var ops []op
	for range 1 + rng.IntN(20) {
		b := "b" + strconv.Itoa(rng.IntN(3))
		k := fmt.Sprintf("k%04d", rng.IntN(400))
		switch r := rng.IntN(100); {
		case r < 60:
			n := rng.IntN(60)
			if rng.IntN(30) == 0 {
				n = 2000 + rng.IntN(9000) // an overflow value
			}
			v := string(bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, n))
			ops = append(ops, op{kind: 0, bucket: b, key: k, val: v})
			if next[b] == nil {
				next[b] = map[string]string{}
			}
			next[b][k] = v
		case r < 95:
			ops = append(ops, op{kind: 1, bucket: b, key: k})
			if next[b] != nil {
				delete(next[b], k)
			}
		default:
			ops = append(ops, op{kind: 2, bucket: b, present: next[b] != nil})
			delete(next, b)
		}
	}
	fn := func(tx *Tx) error {
		for _, o := range ops {
			switch o.kind {
			case 0:
				b, err := tx.CreateBucketIfNotExists([]byte(o.bucket))
				if err != nil {
					return err
				}
				if err := b.Put([]byte(o.key), []byte(o.val)); err != nil {
					return err
				}
			case 1:
				b, err := tx.Bucket([]byte(o.bucket))
				if errors.Is(err, ErrBucketMissing) {
					continue
				}
				if err != nil {
					return err
				}
				if err := b.Delete([]byte(o.key)); err != nil {
					return err
				}
			case 2:
				if err := tx.DeleteBucket([]byte(o.bucket)); err != nil && !errors.Is(err, ErrBucketMissing) {
					return err
				}
			}
		}
		return nil
	}
	return fn, next
}

// contents reads the whole database, checking cursors both ways against Get.
func contents(t *testing.T, db *DB) model {
	t.Helper()
	var got model
	err := db.View(func(tx *Tx) error {
		var err error
		got, err = contentsTx(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// contentsTx reads the whole database as tx sees it, checking cursors both ways.
func contentsTx(tx *Tx) (model, error) {
	got := model{}
	err := func() error {
		names, err := tx.Buckets()
		if err != nil {
			return err
		}
		for _, name := range names {
			b, err := tx.Bucket([]byte(name))
			if err != nil {
				return err
			}
			got[name] = map[string]string{}
			c := b.Cursor()
			var keys []string
			for k, v := c.First(); k != nil; k, v = c.Next() {
				got[name][string(k)] = string(v)
				keys = append(keys, string(k))
			}
			var back []string
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				back = append(back, string(k))
			}
			slices.Reverse(back)
			if !slices.Equal(keys, back) || !slices.IsSorted(keys) {
				return fmt.Errorf("bucket %s: forward %d keys, backward %d, or out of order", name, len(keys), len(back))
			}
			if err := c.Err(); err != nil {
				return err
			}
		}
		return nil
	}()
	return got, err
}

func equalModels(a, b model) bool {
	if len(a) != len(b) {
		return false
	}
	for k, kv := range a {
		if !maps.Equal(kv, b[k]) {
			return false
		}
	}
	return true
}

// openHolding opens the database name and checks that it holds m, exactly, in a tree
// Check accepts.
func openHolding(t *testing.T, cycle int, name string, opts *Options, m model) *DB {
	t.Helper()
	db, err := Open(name, opts)
	if err != nil {
		t.Fatalf("cycle %d: open: %v", cycle, err)
	}
	if got := contents(t, db); !equalModels(got, m) {
		t.Fatalf("cycle %d: recovered database differs from the acknowledged state", cycle)
	}
	if rep, err := db.Check(); err != nil {
		t.Fatalf("cycle %d: %v %v", cycle, err, rep.Problems)
	}
	return db
}

// commitUntilFault commits random transactions on db, starting from the model m, until
// one fails with the injected fault (or the read-only state a fault leaves behind). It
// returns the model of what committed and the model the failed transaction would have
// made: its commit was in flight, so either may be what a reopen finds.
func commitUntilFault(t *testing.T, cycle int, db *DB, rng *rand.Rand, m model) (committed, inFlight model) {
	t.Helper()
	for {
		fn, next := randomTx(rng, m)
		err := db.Update(fn)
		if err == nil {
			m = next
			continue
		}
		if !errors.Is(err, ErrReadOnly) && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("cycle %d: commit failed with %v", cycle, err)
		}
		return m, next
	}
}

// crashAndReopen crashes mem (keeping a random part of what was not synced), reopens the
// database with the faults off and returns what it holds: the model before the
// transaction in flight (m) or after it (next), nothing else, and a tree Check accepts.
func crashAndReopen(t *testing.T, cycle int, mem *vfs.MemFS, ffs *vfs.FaultFS, rng *rand.Rand, name string, opts *Options, m, next model) model {
	t.Helper()
	mem.Crash(rng)
	ffs.SetFault(nil)
	db, err := Open(name, opts)
	if err != nil {
		t.Fatalf("cycle %d: open after crash: %v", cycle, err)
	}
	defer db.Close()
	switch got := contents(t, db); {
	case equalModels(got, m):
	case equalModels(got, next):
		m = next
	default:
		t.Fatalf("cycle %d: after a crash the database is neither before nor after the transaction in flight", cycle)
	}
	if rep, err := db.Check(); err != nil {
		t.Fatalf("cycle %d: %v %v", cycle, err, rep.Problems)
	}
	return m
}

func iterations(short, long int) int {
	if n, err := strconv.Atoi(os.Getenv("STORE_PROPERTY_ITERS")); err == nil {
		return n
	}
	if testing.Short() {
		return short
	}
	return long
}

// TestPropertyMatchesMap runs random transactions, reopenings and power cuts and compares
// the database with a map after each: the contents must be equal and Check clean.
func TestPropertyMatchesMap(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mem := vfs.NewMemFS()
	opts := &Options{FS: mem, PageSize: 1024, CacheBytes: 32 << 10, CheckpointBytes: 64 << 10}
	db, err := Open("p.db", opts)
	if err != nil {
		t.Fatal(err)
	}
	m := model{}
	for i := range iterations(300, 1500) {
		fn, next := randomTx(rng, m)
		if err := db.Update(fn); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		m = next
		switch rng.IntN(20) {
		case 0:
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open("p.db", opts); err != nil {
				t.Fatalf("reopen: %v", err)
			}
		case 1:
			mem.Crash(rng) // acknowledged commits were synced: nothing may be lost
			if db, err = Open("p.db", opts); err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
		}
		if i%10 == 0 {
			if got := contents(t, db); !equalModels(got, m) {
				t.Fatalf("iteration %d: database differs from the model", i)
			}
			if rep, err := db.Check(); err != nil {
				t.Fatalf("iteration %d: %v %v", i, err, rep.Problems)
			}
		}
	}
	db.Close()
}

// TestCrashAtEveryWrite kills the file layer at a random write or sync during a commit
// (every later operation fails, as if the process died), cuts the power, and reopens: the
// acknowledged transactions must all be there and the one in flight all or nothing.
func TestCrashAtEveryWrite(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	opts := &Options{FS: ffs, PageSize: 1024, CacheBytes: 32 << 10, CheckpointBytes: 32 << 10}
	m := model{}
	for cycle := range iterations(40, 300) {
		db := openHolding(t, cycle, "c.db", opts, m)
		ops := 0
		dieAt := 1 + rng.IntN(60)
		ffs.SetFault(func(vfs.Op, string, int64, []byte) (int, error) {
			if ops++; ops >= dieAt {
				return rng.IntN(2048), vfs.ErrInjected
			}
			return 0, nil
		})
		// In flight: either outcome is allowed. Find out which after the crash.
		committed, inFlight := commitUntilFault(t, cycle, db, rng, m)
		m = crashAndReopen(t, cycle, mem, ffs, rng, "c.db", opts, committed, inFlight)
	}
}
