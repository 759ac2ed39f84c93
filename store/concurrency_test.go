package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReadersSeeTheirSnapshot(t *testing.T) {
	db := openTest(t, &Options{CheckpointBytes: 1}) // checkpoint after every commit
	put(t, db, "b", "k", "old")
	rtx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	// Writers commit while the reader is open: they must not wait for it.
	done := make(chan error, 1)
	go func() {
		for i := range 50 {
			if err := db.Update(func(tx *Tx) error {
				b, _ := tx.Bucket([]byte("b"))
				return b.Put([]byte("k"), fmt.Appendf(nil, "new%d", i))
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("writers blocked behind a reader")
	}
	b, _ := rtx.Bucket([]byte("b"))
	v, err := b.Get([]byte("k"))
	if err != nil || string(v) != "old" {
		t.Fatalf("reader's snapshot moved: %q, %v", v, err)
	}
	if got := get(t, db, "b", "k"); got != "new49" {
		t.Fatalf("new reader sees %q", got)
	}
}

func TestConcurrentWritersCommitTogether(t *testing.T) {
	db := openTest(t, nil)
	put(t, db, "b", "seed", "x")
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := db.Update(func(tx *Tx) error {
					b, err := tx.Bucket([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put(fmt.Appendf(nil, "w%d-%d", w, i), []byte("v"))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := db.Stats()
	if st.Conflicts != 0 {
		t.Fatalf("%d conflicts between writers of different keys", st.Conflicts)
	}
	rep, err := db.Check()
	if err != nil || rep.Buckets["b"] != writers*each+1 {
		t.Fatalf("check %v, %d keys", err, rep.Buckets["b"])
	}
	t.Logf("%d commits, %d fsyncs", st.Commits, st.Syncs)
	if st.Syncs >= st.Commits {
		t.Errorf("%d fsyncs for %d commits: group commit shared none", st.Syncs, st.Commits)
	}
}

func TestWriteConflict(t *testing.T) {
	db := openTest(t, nil)
	put(t, db, "b", "k", "0")
	t1, _ := db.Begin(true)
	t2, _ := db.Begin(true)
	b1, _ := t1.Bucket([]byte("b"))
	b2, _ := t2.Bucket([]byte("b"))
	b1.Put([]byte("k"), []byte("1"))
	b2.Put([]byte("k"), []byte("2"))
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer of k: %v, want ErrConflict", err)
	}
	if got := get(t, db, "b", "k"); got != "1" {
		t.Fatalf("k = %q", got)
	}
}

// increment adds one to a counter under each style of concurrency control.
func increment(db *DB, pessimistic bool) error {
	return db.Update(func(tx *Tx) error {
		b, err := tx.Bucket([]byte("b"))
		if err != nil {
			return err
		}
		var v []byte
		if pessimistic {
			v, err = b.Lock([]byte("n"))
		} else {
			v, err = b.Get([]byte("n"))
		}
		if err != nil {
			return err
		}
		n := binary.BigEndian.Uint64(v) + 1
		return b.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n))
	})
}

func TestNoLostUpdates(t *testing.T) {
	for _, pessimistic := range []bool{false, true} {
		t.Run(fmt.Sprintf("pessimistic=%v", pessimistic), func(t *testing.T) {
			db := openTest(t, &Options{Retries: 1000, NoSync: true})
			put(t, db, "b", "n", string(make([]byte, 8)))
			const workers, each = 6, 30
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						// Update retries ErrConflict and, under wait-die, ErrDeadlock.
						if err := increment(db, pessimistic); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			v := get(t, db, "b", "n")
			if n := binary.BigEndian.Uint64([]byte(v)); n != workers*each {
				t.Fatalf("counter = %d, want %d", n, workers*each)
			}
			t.Logf("conflicts: %d", db.Stats().Conflicts)
			if pessimistic && db.Stats().Conflicts != 0 {
				t.Fatalf("%d conflicts with every writer locking", db.Stats().Conflicts)
			}
		})
	}
}

func TestLockTimeoutAndDeadlock(t *testing.T) {
	db := openTest(t, &Options{LockTimeout: 50 * time.Millisecond})
	put(t, db, "b", "k", "v")
	older, _ := db.Begin(true)
	younger, _ := db.Begin(true)
	defer older.Rollback()
	defer younger.Rollback()
	bo, _ := older.Bucket([]byte("b"))
	by, _ := younger.Bucket([]byte("b"))
	if _, err := by.Lock([]byte("k")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := bo.Lock([]byte("k")); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("older waiting on younger: %v, want ErrLockTimeout", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("lock wait returned before its timeout")
	}
	if _, err := bo.Lock([]byte("j")); err != nil {
		t.Fatal(err)
	}
	if _, err := by.Lock([]byte("j")); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("younger asking for older's key: %v, want ErrDeadlock", err)
	}
	younger.Rollback()
	if _, err := bo.Lock([]byte("k")); err != nil {
		t.Fatalf("lock after the holder rolled back: %v", err)
	}
}

// Write skew: two doctors on call, each checks the other is on call and goes off.
func TestWriteSkewUnderEachIsolation(t *testing.T) {
	for _, tc := range []struct {
		iso  Isolation
		skew bool
	}{{Snapshot, true}, {Serializable, false}} {
		t.Run(tc.iso.String(), func(t *testing.T) {
			db := openTest(t, nil)
			put(t, db, "oncall", "alice", "1")
			put(t, db, "oncall", "bob", "1")
			t1, _ := db.BeginTx(&TxOptions{Writable: true, Isolation: tc.iso})
			t2, _ := db.BeginTx(&TxOptions{Writable: true, Isolation: tc.iso})
			for _, p := range []struct {
				tx        *Tx
				me, other string
			}{{t1, "alice", "bob"}, {t2, "bob", "alice"}} {
				b, _ := p.tx.Bucket([]byte("oncall"))
				v, _ := b.Get([]byte(p.other))
				if string(v) == "1" {
					b.Put([]byte(p.me), []byte("0"))
				}
			}
			err1, err2 := t1.Commit(), t2.Commit()
			if err1 != nil {
				t.Fatal(err1)
			}
			if tc.skew && err2 != nil {
				t.Fatalf("snapshot isolation refused write skew: %v", err2)
			}
			if !tc.skew && !errors.Is(err2, ErrConflict) {
				t.Fatalf("serializable allowed write skew: %v", err2)
			}
		})
	}
}

func TestReadCommittedSeesNewCommits(t *testing.T) {
	db := openTest(t, nil)
	put(t, db, "b", "k", "1")
	tx, _ := db.BeginTx(&TxOptions{Isolation: ReadCommitted})
	defer tx.Rollback()
	b, _ := tx.Bucket([]byte("b"))
	v1, _ := b.Get([]byte("k"))
	put(t, db, "b", "k", "2")
	v2, _ := b.Get([]byte("k"))
	if string(v1) != "1" || string(v2) != "2" {
		t.Fatalf("read committed read %q then %q", v1, v2)
	}
}

func TestCursorSeesOwnWrites(t *testing.T) {
	db := openTest(t, nil)
	for _, k := range []string{"a", "c", "e"} {
		put(t, db, "b", k, "old")
	}
	err := db.Update(func(tx *Tx) error {
		b, _ := tx.Bucket([]byte("b"))
		b.Put([]byte("b"), []byte("new"))
		b.Delete([]byte("c"))
		b.Put([]byte("e"), []byte("new"))
		b.Put([]byte("f"), []byte("new"))
		var got []string
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			got = append(got, string(k)+"="+string(v))
		}
		want := "[a=old b=new e=new f=new]"
		if fmt.Sprint(got) != want {
			t.Fatalf("forward %v, want %s", got, want)
		}
		got = nil
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			got = append(got, string(k)+"="+string(v))
		}
		if fmt.Sprint(got) != "[f=new e=new b=new a=old]" {
			t.Fatalf("backward %v", got)
		}
		if k, _ := c.Seek([]byte("c")); string(k) != "e" {
			t.Fatalf("Seek(c) = %q", k)
		}
		return c.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNoSyncTransactionSkipsTheFsync(t *testing.T) {
	db := openTest(t, nil)
	put(t, db, "b", "k", "v")
	before := db.Stats().Syncs
	for range 5 {
		tx, _ := db.BeginTx(&TxOptions{Writable: true, NoSync: true})
		b, _ := tx.Bucket([]byte("b"))
		b.Put([]byte("k"), []byte("fast"))
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if st := db.Stats(); st.Syncs != before || st.Commits < 6 {
		t.Fatalf("NoSync commits did %d fsyncs", st.Syncs-before)
	}
	put(t, db, "b", "k2", "durable") // syncs everything before it too
	if st := db.Stats(); st.Syncs != before+1 {
		t.Fatalf("durable commit: %d fsyncs", st.Syncs-before)
	}
}

// TestShortReadersLetTheLogRestart: readers that scan all the time, each for a moment,
// always leave some snapshot older than the last commit open. The checkpoint saves aside
// the few versions they read, so the log still restarts and stays near CheckpointBytes.
func TestShortReadersLetTheLogRestart(t *testing.T) {
	const limit = 64 << 10
	db := openTest(t, &Options{CheckpointBytes: limit, NoSync: true})
	for i := range 100 {
		put(t, db, "b", fmt.Sprintf("k%03d", i), "v")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := db.View(func(tx *Tx) error {
					b, err := tx.Bucket([]byte("b"))
					if err != nil {
						return err
					}
					c := b.Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
					}
					return c.Err()
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var most int64
	for i := range 400 {
		put(t, db, "b", fmt.Sprintf("k%03d", i%100), fmt.Sprint(i))
		most = max(most, db.Stats().WALBytes)
	}
	close(stop)
	wg.Wait()
	t.Logf("log at most %d bytes (checkpoint at %d); %d checkpoints", most, limit, db.Stats().Checkpoints)
	if most > 4*limit {
		t.Fatalf("the log grew to %d bytes with a %d-byte checkpoint threshold: readers kept it from restarting", most, limit)
	}
}

// Readers one and two commits behind the newest commit read their own versions of the pages
// the commits rewrote (the root and the leaf, here): one behind through the page table's
// previous-version pointer, two behind through the slow path, and never a newer version.
func TestReadersBehindReadTheirVersions(t *testing.T) {
	db := openTest(t, &Options{NoSync: true})
	put(t, db, "b", "k", "v0")
	var readers []*Tx
	for i := 1; i <= 4; i++ {
		rtx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer rtx.Rollback()
		readers = append(readers, rtx) // readers[j] sees v<j>
		put(t, db, "b", "k", fmt.Sprintf("v%d", i))
		for j, r := range readers {
			b, err := r.Bucket([]byte("b"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := b.Get([]byte("k"))
			if want := fmt.Sprintf("v%d", j); err != nil || string(v) != want {
				t.Fatalf("after commit %d, reader %d read %q, %v; want %q", i, j, v, err, want)
			}
		}
		// The newest reader is one commit behind: its version of the root (a leaf here) is
		// the page table's previous version, the newest being the last commit's.
		r := readers[len(readers)-1]
		e := db.table.entry(r.snap.meta.Root)
		top, prev := e.top.Load(), e.prev.Load()
		if top == nil || prev == nil || top.key.lsn <= r.snap.lsn || prev.key.lsn > r.snap.lsn {
			t.Fatalf("after commit %d: page table top %v, prev %v for a reader at %d", i, top, prev, r.snap.lsn)
		}
	}
}
