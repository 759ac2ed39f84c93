package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gantry/store/page"
	"gantry/store/vfs"
	"gantry/store/wal"
)

func TestFailedSyncOrFullDiskTurnsReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault vfs.Fault
		want  error
	}{
		{"fsync error", func(op vfs.Op, _ string, _ int64, _ []byte) (int, error) {
			if op == vfs.OpSync {
				return 0, vfs.ErrInjected
			}
			return 0, nil
		}, vfs.ErrInjected},
		{"ENOSPC", func(op vfs.Op, name string, _ int64, p []byte) (int, error) {
			if op == vfs.OpWrite && strings.HasSuffix(name, "-wal") {
				return len(p) / 3, vfs.ENOSPC
			}
			return 0, nil
		}, vfs.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMemFS()
			ffs := &vfs.FaultFS{FS: mem}
			db, err := Open("f.db", &Options{FS: ffs})
			if err != nil {
				t.Fatal(err)
			}
			put(t, db, "b", "k", "before")
			ffs.SetFault(tc.fault)
			err = db.Update(func(tx *Tx) error {
				b, _ := tx.Bucket([]byte("b"))
				return b.Put([]byte("k"), []byte("after"))
			})
			if !errors.Is(err, ErrReadOnly) || !errors.Is(err, tc.want) {
				t.Fatalf("commit: %v, want ErrReadOnly wrapping %v", err, tc.want)
			}
			ffs.SetFault(nil)
			if err := db.Update(func(tx *Tx) error { return nil }); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("next transaction: %v, want ErrReadOnly", err)
			}
			if got := get(t, db, "b", "k"); got != "before" {
				t.Fatalf("readers see the failed commit: %q", got)
			}
			db.Close()
			db, err = Open("f.db", &Options{FS: ffs})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := get(t, db, "b", "k"); got != "before" && got != "after" {
				t.Fatalf("after reopen k = %q", got)
			}
			if _, err := db.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChecksumFailureNamesThePage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		put(t, db, "b", fmt.Sprintf("key%03d", i), "some value")
	}
	if err := db.Close(); err != nil { // checkpoints everything into the data file
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const victim = 2
	f.WriteAt([]byte{0xff, 0xfe}, victim*4096+2000)
	f.Close()
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Check()
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), fmt.Sprintf("page %d", victim)) {
		t.Fatalf("check: %v, want a report naming page %d", err, victim)
	}
	var firstErr error
	for i := range 200 {
		err := db.View(func(tx *Tx) error {
			b, err := tx.Bucket([]byte("b"))
			if err != nil {
				return err
			}
			v, err := b.Get(fmt.Appendf(nil, "key%03d", i))
			if err == nil && string(v) != "some value" {
				t.Fatalf("damaged database returned %q", v)
			}
			return err
		})
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	var ce *page.CorruptError
	if !errors.As(firstErr, &ce) || ce.Pgno != victim {
		t.Fatalf("reads of the damaged page: %v", firstErr)
	}
}

func TestVersionAndPageSizeChecks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	db, err := Open(path, &Options{PageSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, "b", "k", "v")
	db.Close()
	db, err = Open(path, nil) // the file's page size wins over the option
	if err != nil {
		t.Fatal(err)
	}
	if db.PageSize() != 8192 || get(t, db, "b", "k") != "v" {
		t.Fatalf("page size %d", db.PageSize())
	}
	db.Close()
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{9}, page.HeaderSize+8)
	f.Close()
	if _, err := Open(path, nil); !errors.Is(err, ErrVersion) {
		t.Fatalf("other version: %v", err)
	}
	if _, err := Open(path, &Options{PageSize: 1000}); err == nil {
		t.Fatal("page size 1000 accepted")
	}
	if _, err := Open(path, &Options{CacheBytes: -1}); err == nil {
		t.Fatal("negative cache size accepted")
	}
}

// TestCheckpointKeepsOldSnapshotsAndResetsTheLog: with a checkpoint after every commit, the
// log restarts every time even under an open snapshot, which reads its version from the
// side store; once it ends, the next checkpoint gives the side store back.
func TestCheckpointKeepsOldSnapshotsAndResetsTheLog(t *testing.T) {
	db := openTest(t, &Options{CheckpointBytes: 1, NoSync: true})
	put(t, db, "b", "k", "v0")
	old, _ := db.Begin(false)
	for i := 1; i <= 20; i++ {
		put(t, db, "b", "k", fmt.Sprintf("v%d", i))
		if st := db.Stats(); st.WALFrames != 0 || st.SideVersions == 0 {
			t.Fatalf("after commit %d under an open snapshot: %d frames in the log, %d versions saved aside", i, st.WALFrames, st.SideVersions)
		}
	}
	b, _ := old.Bucket([]byte("b"))
	if v, _ := b.Get([]byte("k")); string(v) != "v0" {
		t.Fatalf("old snapshot reads %q", v)
	}
	old.Rollback()
	put(t, db, "b", "k", "last")
	if st := db.Stats(); st.WALFrames != 0 || st.Checkpoints == 0 || st.SideVersions != 0 || st.SideBytes != 0 {
		t.Fatalf("log not reset or side store kept after the snapshot ended: %+v", st)
	}
	if got := get(t, db, "b", "k"); got != "last" {
		t.Fatalf("k = %q", got)
	}
}

func TestLogOfAnotherDatabaseIsRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	opts := &Options{CheckpointBytes: 1 << 30, WALSegmentBytes: 64 << 10}
	var walA []byte
	for _, p := range []string{a, b} {
		db, err := Open(p, opts)
		if err != nil {
			t.Fatal(err)
		}
		put(t, db, "x", "k", p)
		if p == a {
			walA, _ = os.ReadFile(wal.SegmentName(a, 1)) // a's log while it still has frames
		}
		db.Close()
	}
	if len(walA) == 0 {
		t.Fatal("a has no first log segment")
	}
	os.WriteFile(wal.SegmentName(b, 1), walA, 0o644)
	if _, err := Open(b, opts); err == nil || !strings.Contains(err.Error(), "belongs to database") {
		t.Fatalf("b opened with a's log: %v", err)
	}
}
