package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func benchDB(b *testing.B, keys int) *DB {
	scatterHeap(b)
	return benchDBWith(b, keys, &Options{NoSync: true, CacheBytes: 1 << 30}) // as bench/store: every page cached
}

// scatterHeap, with STORE_BENCH_SCATTER=N, first writes N random keys in transactions of
// 1000 to a database of their own and closes it, as bench/store's insert-rand-1000 row does
// before the read rows' database is loaded: the read database's pages then come from a heap
// that a long random load has fragmented, not from fresh memory in load order, and the
// read benchmarks measure the cache misses of that layout.
func scatterHeap(b *testing.B) {
	s := os.Getenv("STORE_BENCH_SCATTER")
	if s == "" {
		return
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		b.Fatalf("STORE_BENCH_SCATTER=%q: want a number of keys, at least 1000", s)
	}
	db, err := Open(filepath.Join(b.TempDir(), "scatter.db"), &Options{NoSync: true, CacheBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			for j := i; j < min(i+1000, n); j++ {
				if err := bk.Put(benchKey(int(uint64(j)*0x9E3779B97F4A7C15>>1)), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchDBWith(b *testing.B, keys int, opts *Options) *DB {
	db := openTest(b, opts)
	for i := 0; i < keys; i += 1000 {
		err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			for j := i; j < min(i+1000, keys); j++ {
				if err := bk.Put(benchKey(j), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// benchKeys is the number of keys the read benchmarks load: 100k by default (the tree fits
// in the CPU's last-level cache), STORE_BENCH_KEYS=1000000 for bench/store's size, where
// every leaf a random read touches is a cache miss, as in the get and scan-100 rows.
func benchKeys(b *testing.B) int {
	if s := os.Getenv("STORE_BENCH_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("STORE_BENCH_KEYS=%q: want a number of keys, at least 1000", s)
		}
		return n
	}
	return 100_000
}

// cpuMeter reports the process's CPU time (user and system, GC included) per operation
// as cpu-ns/op beside the wall time: on a machine shared with other work, wall time per
// operation moves with the load, CPU time much less.
type cpuMeter time.Duration

func startCPU(b *testing.B) cpuMeter {
	runtime.GC() // the load's garbage is not the reads' cost
	b.ResetTimer()
	return cpuMeter(cpuTime())
}

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-time.Duration(m))/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchKey(i int) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k[8:], uint64(i))
	return k
}

func BenchmarkGet(b *testing.B) {
	keys := benchKeys(b)
	db := benchDB(b, keys)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		err := db.View(func(tx *Tx) error {
			bk, err := tx.Bucket([]byte("kv"))
			if err != nil {
				return err
			}
			v, err := bk.Get(benchKey((i * 7919) % keys))
			if err == nil && len(v) != 100 {
				err = fmt.Errorf("got %d bytes", len(v))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// scan100 reads the i-th benchmark scan: 100 keys from a point spread over the keys.
func scan100(db *DB, keys, i int) error {
	return db.View(func(tx *Tx) error {
		bk, err := tx.Bucket([]byte("kv"))
		if err != nil {
			return err
		}
		c := bk.Cursor()
		n := 0
		for k, _ := c.Seek(benchKey((i * 7919) % (keys - 100))); k != nil && n < 100; k, _ = c.Next() {
			n++
		}
		if n != 100 {
			return fmt.Errorf("scanned %d", n)
		}
		return c.Err()
	})
}

func BenchmarkScan100(b *testing.B) {
	keys := benchKeys(b)
	db := benchDB(b, keys)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		if err := scan100(db, keys, i); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkScanWhileWriting: 100-key scans on this goroutine while another commits one-put
// NoSync transactions without pause, with a 256 KiB checkpoint threshold, so that
// checkpoints run all the time under the scans' snapshots (and save versions aside for
// them). Reported beside the scans: the writer's commits and the checkpoints per scan.
func BenchmarkScanWhileWriting(b *testing.B) {
	const keys = 100_000
	db := benchDBWith(b, keys, &Options{NoSync: true, CacheBytes: 1 << 30, CheckpointBytes: 256 << 10})
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := db.Update(func(tx *Tx) error {
				bk, _ := tx.Bucket([]byte("kv"))
				return bk.Put(benchKey((i*7919)%keys), make([]byte, 100))
			})
			if err != nil {
				done <- err
				return
			}
		}
	}()
	before := db.Stats()
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		if err := scan100(db, keys, i); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	close(stop)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	st := db.Stats()
	b.ReportMetric(float64(st.Commits-before.Commits)/float64(b.N), "commits/op")
	b.ReportMetric(float64(st.Checkpoints-before.Checkpoints)/float64(b.N), "ckpts/op")
}

func BenchmarkCommitRandom1000(b *testing.B) {
	db := benchDB(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := db.Update(func(tx *Tx) error {
			bk, _ := tx.Bucket([]byte("kv"))
			for j := range 1000 {
				if err := bk.Put(benchKey(((i*1000+j)*7919)%100_000), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// The same reads through bbolt, on a file of the same keys, so that one run compares them
// (`go test -run xxx -bench 'Get|Scan100' ./store`).

func benchBolt(b *testing.B, keys int) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for i := 0; i < keys; i += 1000 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			for j := i; j < min(i+1000, keys); j++ {
				if err := bk.Put(benchKey(j), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func BenchmarkBoltGet(b *testing.B) {
	keys := benchKeys(b)
	db := benchBolt(b, keys)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		err := db.View(func(tx *bolt.Tx) error {
			v := tx.Bucket([]byte("kv")).Get(benchKey((i * 7919) % keys))
			if len(v) != 100 {
				return fmt.Errorf("got %d bytes", len(v))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func BenchmarkBoltScan100(b *testing.B) {
	keys := benchKeys(b)
	db := benchBolt(b, keys)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; b.Loop(); i++ {
		err := db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte("kv")).Cursor()
			n := 0
			for k, _ := c.Seek(benchKey((i * 7919) % (keys - 100))); k != nil && n < 100; k, _ = c.Next() {
				n++
			}
			if n != 100 {
				return fmt.Errorf("scanned %d", n)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}
