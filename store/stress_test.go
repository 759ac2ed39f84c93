package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSnapshotsStayConsistentUnderLoad runs writers, readers and constant checkpoints (a
// tiny CheckpointBytes, a tiny buffer pool) together. Each writer keeps, in one
// transaction, its set of keys and a count of them; every reader checks in its snapshot
// that each writer's count equals the keys it sees. A snapshot that mixed two commits, or
// a checkpoint that overwrote a page a reader still needed, shows up as a mismatch.
func TestSnapshotsStayConsistentUnderLoad(t *testing.T) {
	db := openTest(t, &Options{PageSize: 1024, CacheBytes: 48 << 10, CheckpointBytes: 32 << 10, NoSync: true})
	const writers = 3
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("s"))
		if err != nil {
			return err
		}
		for w := range writers {
			if err := b.Put(fmt.Appendf(nil, "count/%d", w), make([]byte, 8)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var reads, commits atomic.Int64
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			have := map[int]bool{}
			for time.Now().Before(deadline) {
				err := db.Update(func(tx *Tx) error {
					b, err := tx.Bucket([]byte("s"))
					if err != nil {
						return err
					}
					for range 1 + rng.IntN(8) {
						k := rng.IntN(300)
						key := fmt.Appendf(nil, "w/%d/%03d", w, k)
						if have[k] && rng.IntN(2) == 0 {
							delete(have, k)
							if err := b.Delete(key); err != nil {
								return err
							}
						} else {
							have[k] = true
							if err := b.Put(key, bytes.Repeat([]byte{byte(k)}, rng.IntN(200))); err != nil {
								return err
							}
						}
					}
					return b.Put(fmt.Appendf(nil, "count/%d", w), binary.BigEndian.AppendUint64(nil, uint64(len(have))))
				})
				if err != nil {
					t.Error(err)
					return
				}
				commits.Add(1)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				err := db.View(func(tx *Tx) error {
					b, err := tx.Bucket([]byte("s"))
					if err != nil {
						return err
					}
					for w := range writers {
						v, err := b.Get(fmt.Appendf(nil, "count/%d", w))
						if err != nil {
							return err
						}
						want := int(binary.BigEndian.Uint64(v))
						prefix := fmt.Appendf(nil, "w/%d/", w)
						n := 0
						c := b.Cursor()
						for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
							n++
						}
						if err := c.Err(); err != nil {
							return err
						}
						if n != want {
							return fmt.Errorf("writer %d: snapshot shows %d keys, its count says %d", w, n, want)
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	st := db.Stats()
	t.Logf("%d commits, %d consistent reads, %d checkpoints", commits.Load(), reads.Load(), st.Checkpoints)
	if st.Checkpoints == 0 || reads.Load() == 0 {
		t.Fatalf("no checkpoints (%d) or no reads (%d) during the run", st.Checkpoints, reads.Load())
	}
}
