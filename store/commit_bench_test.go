package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Durable commits, the cost the log's layout decides: one fdatasync per commit (shared by
// concurrent committers), on the real file system, with the default checkpoint distance
// so that the log rolls into new and recycled segments as it grows.
//
//	go test -run '^$' -bench 'CommitDurable' -count 8 ./store

// BenchmarkCommitDurable: one goroutine commits one-put transactions, each synced.
func BenchmarkCommitDurable(b *testing.B) { commitDurable(b, &Options{}) }

// BenchmarkCommitDurableCheckpointing: the same with a 4 MiB checkpoint distance, so that
// a checkpoint comes every few hundred commits and the log's old segments are recycled
// (one file restarted, before segments) all the time.
func BenchmarkCommitDurableCheckpointing(b *testing.B) {
	commitDurable(b, &Options{CheckpointBytes: 4 << 20})
}

func commitDurable(b *testing.B, opts *Options) {
	db, err := Open(filepath.Join(b.TempDir(), "c.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			return bk.Put(fmt.Appendf(nil, "key-%012d", (i*7919)%100_000), make([]byte, 100))
		}); err != nil {
			b.Fatal(err)
		}
	}
	st := db.Stats()
	b.ReportMetric(float64(st.Syncs)/float64(b.N), "syncs/op")
	b.ReportMetric(float64(st.Checkpoints)/float64(b.N), "ckpts/op")
}

// BenchmarkCommitDurable1000: one goroutine commits 1000 sequential puts per durable
// transaction into a new database (bench/store's insert-seq-1000): no checkpoint has
// left spare segments yet, so every segment the log needs is a new file filled with
// zeros (in the commit, or ahead of it by the log's background). An op is one commit.
func BenchmarkCommitDurable1000(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "c.db"), &Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	val := make([]byte, 100)
	for i := 0; b.Loop(); i++ {
		if err := db.Update(func(tx *Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("kv"))
			if err != nil {
				return err
			}
			for j := range 1000 {
				if err := bk.Put(fmt.Appendf(nil, "key-%012d", i*1000+j), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	st := db.Stats()
	b.ReportMetric(float64(st.Syncs)/float64(b.N), "syncs/op")
	b.ReportMetric(float64(st.Checkpoints)/float64(b.N), "ckpts/op")
}

// BenchmarkCommitDurable8: eight goroutines commit one-put transactions on different keys;
// group commit lets them share fdatasyncs. An op is one commit.
func BenchmarkCommitDurable8(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "c.db"), &Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *Tx) error { _, err := tx.CreateBucket([]byte("kv")); return err }); err != nil {
		b.Fatal(err)
	}
	const writers = 8
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < b.N; i += writers {
				err := db.Update(func(tx *Tx) error {
					bk, err := tx.Bucket([]byte("kv"))
					if err != nil {
						return err
					}
					return bk.Put(fmt.Appendf(nil, "key-%012d", (i*7919)%100_000), make([]byte, 100))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(db.Stats().Syncs)/float64(b.N), "syncs/op")
}
