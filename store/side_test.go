package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gantry/store/page"
	"gantry/store/vfs"
)

// TestReadersAcrossCheckpointsSeeTheirSnapshots: readers begun at different moments stay
// open across many checkpoints (a 16 KiB threshold) while random transactions write,
// overwrite and delete keys, overflow values and buckets; a 16-page pool makes them read
// the versions saved aside back from the side file. Each reader sees exactly the state it
// began on, every time it looks; when they have all ended, the side store is given back.
func TestReadersAcrossCheckpointsSeeTheirSnapshots(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	db := openTest(t, &Options{NoSync: true, PageSize: 1024, CacheBytes: 16 << 10, CheckpointBytes: 16 << 10})
	type reader struct {
		tx    *Tx
		want  model
		ckpts uint64 // checkpoints when it began
	}
	var readers []reader
	defer func() {
		for _, r := range readers {
			r.tx.Rollback()
		}
	}()
	m := model{}
	most, across := 0, uint64(0)
	for step := range iterations(150, 300) {
		fn, next := randomTx(rng, m)
		if err := db.Update(fn); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		m = next
		if step%15 == 0 {
			if len(readers) == 4 {
				i := rng.IntN(len(readers))
				readers[i].tx.Rollback()
				readers = append(readers[:i], readers[i+1:]...)
			}
			tx, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			readers = append(readers, reader{tx, m, db.Stats().Checkpoints})
		}
		if step%10 != 9 {
			continue
		}
		for i, r := range readers {
			got, err := contentsTx(r.tx)
			if err != nil {
				t.Fatalf("step %d, reader %d: %v", step, i, err)
			}
			if !equalModels(got, r.want) {
				t.Fatalf("step %d: reader %d, begun %d checkpoints ago, does not see its snapshot", step, i, db.Stats().Checkpoints-r.ckpts)
			}
			across = max(across, db.Stats().Checkpoints-r.ckpts)
		}
		most = max(most, db.Stats().SideVersions)
	}
	st := db.Stats()
	t.Logf("%d checkpoints, a reader checked across up to %d of them; up to %d versions saved aside; %d pages read, %d cache hits", st.Checkpoints, across, most, st.PagesRead, st.CacheHits)
	if across < 3 || most == 0 {
		t.Fatalf("the test did not exercise the side store: readers across at most %d checkpoints, %d versions saved", across, most)
	}
	for _, r := range readers {
		r.tx.Rollback()
	}
	readers = nil
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.SideVersions != 0 || st.SideBytes != 0 {
		t.Fatalf("readers ended, yet the side store holds %d versions in %d bytes", st.SideVersions, st.SideBytes)
	}
	if got := contents(t, db); !equalModels(got, m) {
		t.Fatal("the latest state differs from the model")
	}
}

// TestLongReaderKeepsTheLogBounded: one read transaction stays open while writers commit
// many megabytes of log frames. Checkpoints still restart the log, so it stays near its
// threshold; the side store holds at most one version of each page for the one snapshot;
// the reader sees its snapshot at the end. (Before the side store, the log grew without
// bound here: 8.2 MB for 1,000 small commits at a 64 KiB threshold.)
func TestLongReaderKeepsTheLogBounded(t *testing.T) {
	const limit = 64 << 10
	db := openTest(t, &Options{NoSync: true, CheckpointBytes: limit})
	val := strings.Repeat("v", 100)
	err := db.Update(func(tx *Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "k%05d", i), []byte(val)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	want, err := contentsTx(old)
	if err != nil {
		t.Fatal(err)
	}
	before := db.Stats()
	var mostLog, mostSide int64
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 250 {
		err := db.Update(func(tx *Tx) error {
			b, err := tx.Bucket([]byte("b"))
			if err != nil {
				return err
			}
			for range 8 {
				if err := b.Put(fmt.Appendf(nil, "k%05d", rng.IntN(2000)), fmt.Appendf(nil, "%d-%s", i, val)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		st := db.Stats()
		mostLog, mostSide = max(mostLog, st.WALBytes), max(mostSide, st.SideBytes)
	}
	st := db.Stats()
	written := int64(st.PagesWritten-before.PagesWritten) * int64(db.PageSize())
	rep, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f MB written through the log in %d checkpoints; log at most %d bytes, side file at most %d bytes (%d pages in the file)",
		float64(written)/1e6, st.Checkpoints-before.Checkpoints, mostLog, mostSide, rep.Pages)
	if written < 8<<20 {
		t.Fatalf("only %d bytes written: the test should write many megabytes", written)
	}
	// A commit of 8 puts writes at most a dozen pages: the log never passes the threshold by
	// more than one commit.
	if mostLog > limit+32*int64(db.PageSize()+64) {
		t.Fatalf("the log reached %d bytes with a %d-byte threshold under one open reader", mostLog, limit)
	}
	if slot := int64(db.PageSize() + sideHeader); mostSide > int64(rep.Pages+1)*slot {
		t.Fatalf("the side file reached %d bytes: more than one version per page (%d pages) for one snapshot", mostSide, rep.Pages)
	}
	got, err := contentsTx(old)
	if err != nil {
		t.Fatal(err)
	}
	if !equalModels(got, want) {
		t.Fatal("the open reader does not see its snapshot")
	}
}

// TestFullDiskUnderTheSideStore: when the side file cannot be written (ENOSPC on its first
// or a later write), the checkpoint saves nothing, copies only what no open snapshot needs
// and keeps the log, with no error: nothing is lost and the database stays writable. Once
// the disk has room, the next checkpoint restarts the log.
func TestFullDiskUnderTheSideStore(t *testing.T) {
	for _, failAt := range []int{1, 3} {
		t.Run(fmt.Sprintf("write_%d", failAt), func(t *testing.T) {
			ffs := &vfs.FaultFS{FS: vfs.NewMemFS()}
			db, err := Open("s.db", &Options{FS: ffs, PageSize: 1024, CheckpointBytes: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := range 200 {
				put(t, db, "b", fmt.Sprintf("k%03d", i), "old")
			}
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			old, err := db.Begin(false)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Rollback()
			want, err := contentsTx(old)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				put(t, db, "b", fmt.Sprintf("k%03d", i), "new")
			}
			writes := 0
			ffs.SetFault(func(op vfs.Op, name string, _ int64, _ []byte) (int, error) {
				if op == vfs.OpWrite && strings.HasSuffix(name, "-side") {
					if writes++; writes >= failAt {
						return 0, vfs.ENOSPC
					}
				}
				return 0, nil
			})
			if err := db.Checkpoint(); err != nil {
				t.Fatalf("checkpoint with a full disk under the side file: %v", err)
			}
			if st := db.Stats(); st.WALFrames == 0 || st.SideVersions != 0 {
				t.Fatalf("after the failed save: %d frames in the log (want some), %d versions saved (want none)", st.WALFrames, st.SideVersions)
			}
			put(t, db, "b", "after", "full disk") // still writable
			if got, err := contentsTx(old); err != nil || !equalModels(got, want) {
				t.Fatalf("the open reader after the failed save: %v", err)
			}
			ffs.SetFault(nil)
			if err := db.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if st := db.Stats(); st.WALFrames != 0 || st.SideVersions == 0 {
				t.Fatalf("with room again: %d frames in the log (want 0), %d versions saved", st.WALFrames, st.SideVersions)
			}
			if got, err := contentsTx(old); err != nil || !equalModels(got, want) {
				t.Fatalf("the open reader after the checkpoint: %v", err)
			}
			if got := get(t, db, "b", "k007"); got != "new" {
				t.Fatalf("k007 = %q", got)
			}
			if _, err := db.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCrashInACheckpointUnderReaders: readers stay open while the file layer dies at a
// random write or sync of a checkpoint (saving versions aside, writing or syncing the data
// file, rewriting the log's header to restart it); every later operation fails, as if the
// process died. The readers still see their snapshots; then the power is cut, and the
// reopened database holds every acknowledged transaction and all or nothing of the one in
// flight, Check clean.
func TestCrashInACheckpointUnderReaders(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	mem := vfs.NewMemFS()
	ffs := &vfs.FaultFS{FS: mem}
	opts := &Options{FS: ffs, PageSize: 1024, CacheBytes: 32 << 10, CheckpointBytes: 8 << 10}
	m := model{}
	for cycle := range iterations(30, 60) {
		db := openHolding(t, cycle, "c.db", opts, m)
		type reader struct {
			tx   *Tx
			want model
		}
		var readers []reader
		ops, dieAt := 0, 1+rng.IntN(40)
		ffs.SetFault(func(op vfs.Op, name string, off int64, _ []byte) (int, error) {
			// Faults land where a checkpoint writes: the data file, the side file, and
			// the log segments' headers (which a segment's roll writes too).
			if name == "c.db" || strings.HasSuffix(name, "-side") || (strings.HasSuffix(name, "-wal") && off == 0) {
				if ops++; ops >= dieAt {
					return rng.IntN(1024), vfs.ErrInjected
				}
			} else if ops >= dieAt {
				return 0, vfs.ErrInjected
			}
			return 0, nil
		})
		for i := 0; ; i++ {
			if i%3 == 0 && len(readers) < 3 {
				tx, err := db.Begin(false)
				if err != nil {
					t.Fatal(err)
				}
				readers = append(readers, reader{tx, m})
			}
			fn, next := randomTx(rng, m)
			err := db.Update(fn)
			if err == nil {
				m = next
				continue
			}
			if !errors.Is(err, ErrReadOnly) && !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("cycle %d: commit failed with %v", cycle, err)
			}
			for j, r := range readers {
				if got, err := contentsTx(r.tx); err != nil || !equalModels(got, r.want) {
					t.Fatalf("cycle %d: reader %d after the failed checkpoint: %v", cycle, j, err)
				}
				r.tx.Rollback()
			}
			db.Close()
			m = crashAndReopen(t, cycle, mem, ffs, rng, "c.db", opts, m, next)
			break
		}
	}
}

// TestDamagedSideSlotIsAnError: a saved version whose slot reads back damaged is an error
// naming the page for the reader that needs it, never another version's bytes.
func TestDamagedSideSlotIsAnError(t *testing.T) {
	db := openTest(t, &Options{NoSync: true, CheckpointBytes: 1 << 30})
	put(t, db, "b", "k", "v0")
	old, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	put(t, db, "b", "k", "v1")
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.SideVersions == 0 {
		t.Fatal("nothing saved aside for the open reader")
	}
	f, err := os.OpenFile(db.Path()+"-side", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, sideHeader+100)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, sideHeader+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bk, err := old.Bucket([]byte("b"))
	if err == nil {
		_, err = bk.Get([]byte("k"))
	}
	if !errors.Is(err, page.ErrCorrupt) || !strings.Contains(err.Error(), "side file") {
		t.Fatalf("reading a damaged saved version: %v, want a page.ErrCorrupt naming the side file", err)
	}
	if got := get(t, db, "b", "k"); got != "v1" {
		t.Fatalf("a new reader reads %q", got)
	}
}
